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
    job = re.search(r"## Main job\s+```bash\n(.*?)```", readme, re.S).group(1).strip()
    sub = job.split()[1]
    result = CliRunner().invoke(main, [sub, "--help"])
    assert result.exit_code == 0, f"README's main job uses 'geoxai {sub}', which does not exist"
