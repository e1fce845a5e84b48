"""Helpers shared by the CLI commands: one-line errors, option parsing."""
from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click


def friendly_errors(func):
    """Turn expected failures (bad input, unknown plugin, missing weights) into one-line errors."""
    from ..io.images import ImageError
    from ..plugins import PluginConflictError, UnknownPluginError
    from ..weights import ChecksumError, WeightsUnavailableError

    expected = (ImageError, UnknownPluginError, PluginConflictError, WeightsUnavailableError, ChecksumError,
                FileNotFoundError, ValueError, KeyError)  # OptionError is a ValueError

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except expected as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise click.ClickException(one_line(str(message))) from None
        except OSError as exc:
            # an unwritable (read-only, full, forbidden) output folder or an unreadable input:
            # the file and the reason, not a traceback
            raise click.ClickException(one_line(os_error_message(exc))) from None

    return wrapper


def one_line(text: str) -> str:
    """``text`` on one line, whatever a file name in it holds."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def os_error_message(exc: OSError) -> str:
    """``PATH: reason`` for an OSError that names its file (``[Errno 30] ...`` becomes the
    reason alone); the error's own text otherwise."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else f"{exc.filename}"
    return f"{target}: {exc.strerror}"


def unique_stems(paths: Sequence[Path], separator: str = "_") -> list[str]:
    """Output stems for ``paths``, unique and stable: a file's own stem (``photo``) when no other
    file shares it; on a clash its name with the extension (``photo.png``), and where even that
    repeats (same-named files in different folders) ``<name><separator>2``, ``...3`` in path
    order, skipping any stem another file already has. The same inputs always give the same
    stems, and no output overwrites another's."""
    counts = Counter(p.stem for p in paths)
    wanted = [p.stem if counts[p.stem] == 1 else p.name for p in paths]
    taken = set(wanted)
    seen: set[str] = set()
    stems = []
    for stem in wanted:
        if stem in seen:
            n = 2
            while f"{stem}{separator}{n}" in taken:
                n += 1
            stem = f"{stem}{separator}{n}"
            taken.add(stem)
        seen.add(stem)
        stems.append(stem)
    return stems


def collect_images(inputs: Sequence) -> list[Path]:
    """The image files named by ``inputs`` (files and folders); a one-line error, exit status
    1, when there are none (an empty folder, or only unsupported types such as HEIC or SVG)."""
    from ..io.images import list_images

    listing = list_images(inputs)
    if not listing:
        raise click.ClickException(listing.no_images_message(inputs))
    return list(listing)


def parse_options(pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs -> dict; values are read as JSON where they parse (numbers, lists, true)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--option")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


def option_strings(pairs: tuple[str, ...], param_hint: str = "--option") -> dict[str, str]:
    """``key=value`` pairs -> {key: value} with the values left as text (dashes in keys -> _)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint=param_hint)
        out[key.replace("-", "_")] = value
    return out


def plugin_options(kind: str, name: str, pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs for plugin ``name`` of ``kind`` -> its options, each converted to the
    type the plugin declares; an unknown key or a bad value is a one-line error listing the
    accepted options."""
    if not pairs:
        return {}
    from ..plugins import parse_plugin_options

    return parse_plugin_options(kind, name, option_strings(pairs))


def build_model(model_name: str, weights: str | None, model_opts: tuple[str, ...]):
    from ..plugins import load_model

    options = plugin_options("model", model_name, model_opts)
    if weights is not None:
        options["weights"] = weights
    return load_model(model_name, **options)


def readable_images(paths, failed: list):
    """Yield (index, path, RGB array) for each readable image; report each unreadable one on one line
    and append it to ``failed`` so the command can exit non-zero after finishing the rest."""
    from ..io.images import ImageError, load_image

    for index, path in enumerate(paths):
        try:
            image = load_image(path)
        except ImageError as exc:
            click.echo(f"error: {exc}", err=True)
            failed.append(path)
            continue
        yield index, path, image
