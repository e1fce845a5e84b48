"""README's set-up commands are the ones CI runs, so they stay true."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_setup_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Set up\s+```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2, "README must give exactly two set-up commands: install, then test"
    ci = (ROOT / ".ci" / "run").read_text()
    for command in block:
        assert command in ci.splitlines(), f"CI does not run README's command {command!r}"


def test_readme_main_job_command_names_a_real_command():
    from click.testing import CliRunner

    from geoxai.cli import main

    readme = (ROOT / "README.md").read_text()
    job = re.search(r"## Main job.*?```bash\n(.*?)```", readme, re.S).group(1).strip()
    sub = job.split()[1]
    result = CliRunner().invoke(main, [sub, "--help"])
    assert result.exit_code == 0, f"README's main job uses 'geoxai {sub}', which does not exist"


def test_readme_try_it_command_makes_a_figure_offline(tmp_path):
    """README's try-it command, exactly as written, in an empty folder whose ``.venv/bin/geoxai``
    is this interpreter's geoxai: it writes the figure, and says the tiny segmenter is random."""
    import os
    import stat
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    command = re.search(r"## Try it offline.*?```bash\n(.*?)```", readme, re.S).group(1).strip()
    assert len(command.splitlines()) == 1 and "--out try/" in command
    launcher = tmp_path / ".venv" / "bin" / "geoxai"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m geoxai "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stem = re.search(r"samples (\w+)", command).group(1)
    figure = tmp_path / "try" / f"{stem}_figure.png"
    assert figure.stat().st_size > 10_000
    assert "random" in done.stderr  # the tiny segmenter's notice
