"""Helpers shared by the CLI commands: one-line errors, option parsing."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..messages import escaped

if TYPE_CHECKING:
    from ..progress import Progress


def friendly_errors(func):
    """Turn expected failures (bad input, unknown plugin, missing weights) into one-line errors."""
    from ..blackbox import GeolocatorError
    from ..io.images import ImageError
    from ..plugins import PluginBuildError, PluginConflictError, UnknownPluginError
    from ..weights import ChecksumError, WeightsUnavailableError

    expected = (ImageError, UnknownPluginError, PluginConflictError, PluginBuildError, WeightsUnavailableError,
                ChecksumError, FileNotFoundError, ValueError, KeyError, GeolocatorError)  # OptionError is a ValueError

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except expected as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            if isinstance(exc, WeightsUnavailableError):
                from ..weights import weights_message

                message = weights_message(exc, "cli")
            raise click.ClickException(escaped(str(message))) from None
        except OSError as exc:
            # an unwritable (read-only, full, forbidden) output folder or an unreadable input:
            # the file and the reason, not a traceback
            raise click.ClickException(escaped(os_error_message(exc))) from None

    return wrapper


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` for an OSError that names its file (``[Errno 30] ...`` becomes the
    reason alone); the error's own text otherwise."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else f"{exc.filename}"
    return f"{target}: {exc.strerror}"


def collect_images(inputs: Sequence) -> list[Path]:
    """The image files named by ``inputs`` (files and folders); a one-line error, exit status
    1, when there are none (an empty folder, or only unsupported types such as HEIC or SVG)."""
    from ..io.images import list_images

    listing = list_images(inputs)
    if not listing:
        raise click.ClickException(listing.no_images_message(inputs))
    return list(listing)


def plugin_options(kind: str, name: str, pairs: tuple[str, ...], param_hint: str = "--option") -> dict:
    """``key=value`` pairs for plugin ``name`` of ``kind`` -> its options, each converted to the
    type the plugin declares and range-checked (``geoxai.options.parse_options``); an unknown key or
    a bad value is a one-line error."""
    if not pairs:
        return {}
    from ..plugins import parse_plugin_options

    return parse_plugin_options(kind, name, pairs)


def build_model(model_name: str, weights: str | None, model_opts: tuple[str, ...], quiet: bool = True):
    """The model with its options (checked first: a bad one is one line); unless ``quiet``, says
    on stderr that it is loading (weights can take a while)."""
    from ..plugins import load_model

    options = plugin_options("model", model_name, model_opts)
    if weights is not None:
        options["weights"] = weights
    announce("model", model_name, quiet)
    return load_model(model_name, **options)


def announce(kind: str, name: str, quiet: bool) -> None:
    """'loading model NAME ...' on stderr (unless ``quiet``), once the name is known to exist (an
    unknown one stays a one-line error)."""
    from ..plugins import registry
    from ..progress import status

    registry().get(kind, name)
    status(f"loading {kind} {name} ...", enabled=not quiet)


def readable_images(paths, failed: list, progress: Progress | None = None):
    """Yield (index, path, RGB array) for each readable image; report each unreadable one on one line
    and append it to ``failed`` so the command can exit non-zero after finishing the rest.

    With ``progress``: one count per path once the command is done with it (an unreadable one
    included), and the progress closed at the end."""
    from ..io.images import ImageError, load_image

    try:
        for index, path in enumerate(paths):
            try:
                image = load_image(path)
            except ImageError as exc:
                (progress.error if progress is not None else functools.partial(click.echo, err=True))(f"error: {exc}")
                failed.append(path)
            else:
                yield index, path, image
            if progress is not None:
                progress.advance()
    finally:
        if progress is not None:
            progress.close()
