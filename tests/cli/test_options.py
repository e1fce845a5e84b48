"""The shared options: every number has its range in click and in --help, -o / -O / --workers
mean one thing each in every command, and out-of-range values are refused before any work."""
import click
import pytest
from click.testing import CliRunner

from geoxai.cli import main


def _commands(group=main, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


COMMANDS = list(_commands())


def _options(command):
    return [p for p in command.params if isinstance(p, click.Option)]


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_numeric_option_has_a_range_shown_in_help(path, command):
    number_types = (click.types.IntParamType, click.types.FloatParamType)
    numeric = [p for p in _options(command) if isinstance(p.type, number_types)]
    unranged = [p.opts[0] for p in numeric if not isinstance(p.type, (click.IntRange, click.FloatRange))]
    assert not unranged, f"{' '.join(path)}: {unranged} have no range"
    help_text = " ".join(CliRunner().invoke(main, [*path, "--help"]).output.split())
    for p in numeric:
        assert "x>" in help_text or "<=x" in help_text, p.opts


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_short_names_and_workers_mean_one_thing(path, command):
    for p in _options(command):
        if "-o" in p.opts:
            assert p.multiple and p.metavar == "KEY=VALUE", f"{' '.join(path)}: -o is {p.opts}"
        if "-O" in p.opts or "--out" in p.opts:
            assert set(p.opts) == {"-O", "--out"}, f"{' '.join(path)}: {p.opts}"
        if "--workers" in p.opts:
            assert isinstance(p.type, click.IntRange) and p.type.min == 0 and "decoding workers" in p.help
        if "-m" in p.opts:
            assert p.opts == ["--model", "-m"]
        if "-e" in p.opts:
            assert p.opts == ["--explainer", "-e"]
        if "-s" in p.opts:
            assert p.opts == ["--segmenter", "-s"]


@pytest.mark.parametrize("args, option", [
    (["evaluate", "-m", "tiny", "--data", ".", "--batch-size", "-1"], "--batch-size"),
    (["evaluate", "-m", "tiny", "--data", ".", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "-m", "tiny", "--data", ".", "--workers", "-1"], "--workers"),
    (["report", "--radius", "-1"], "--radius"),
    (["report", "--dilation", "-1"], "--dilation"),
    (["report", "--k", "0"], "--k"),
    (["report", "--min-size", "1.5"], "--min-size"),
    (["report", "--min-images", "0"], "--min-images"),
    (["report", "--part-size", "0"], "--part-size"),
    (["report", "--examples", "-1"], "--examples"),
    (["report", "--workers", "-2"], "--workers"),
    (["report", "merge", ".", "-O", "x", "--radius", "0"], "--radius"),
    (["predict", "x.jpg", "-m", "tiny", "--top-k", "0"], "--top-k"),
    (["explain", "x.jpg", "-m", "tiny", "-O", "o", "--dilation", "-1"], "--dilation"),
    (["partition", "build", "--kind", "semp", "--coords", "c.csv", "-O", "o", "--tau-d", "0"], "--tau-d"),
])
def test_out_of_range_values_are_refused_naming_the_option(args, option, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert option in result.output and "range" in result.output
    assert not (tmp_path / "o").exists()


def test_old_spellings_still_work(photo_files, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "--model", "tiny", "--explainer", "gradcam",
                                       "--option", "layer=stage2", "-o", "normalize=true", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["explain", str(photo_files[0]), "-m", "tiny", "-e", "gradcam",
                                       "--explainer-option", "layer=stage2", "-O", str(out)])
    assert result.exit_code == 0, result.output
