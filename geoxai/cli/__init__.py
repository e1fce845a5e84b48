"""The ``geoxai`` command line. Each module in this package contributes one command (``command``)."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="geoxai")
def main() -> None:
    """Explain why a photo-geolocation model put a photo where it did."""


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
