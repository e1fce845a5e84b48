"""The ``geoxai`` command line. Each module in this package contributes one command (``command``)."""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings

import click

from ..messages import squeezed


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the CLI prints it: ``warning: <message>`` on one line, without the source file
    and code line Python's default format adds (which mean nothing to a command-line user)."""
    return f"warning: {squeezed(str(message))}\n"


def announce_on_stderr(line: str) -> None:
    click.echo(line, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geoxai")
def main() -> None:
    """Explain why a photo-geolocation model put a photo where it did."""
    from ..plugins import announce_random_weights

    # Hugging Face's retry chatter ("Retrying in 2s [Retry 2/5]") is not this command's output: the
    # failure itself reaches the user as one line (PluginBuildError); HF_HUB_VERBOSITY=info brings it back
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    saved = warnings.formatwarning
    warnings.formatwarning = one_line_warning  # the CLI owns this process's stderr
    announce_random_weights(announce_on_stderr)

    def restore() -> None:  # when the command ends (matters where main runs in-process, as in tests)
        warnings.formatwarning = saved
        announce_random_weights(None)

    click.get_current_context().call_on_close(restore)


def _add_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if command is not None:
            main.add_command(command)


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
