"""Helpers shared by the CLI commands: one-line errors, option parsing."""
from __future__ import annotations

import functools
import json

import click


def friendly_errors(func):
    """Turn expected failures (bad input, unknown plugin, missing weights) into one-line errors."""
    from ..io.images import ImageError
    from ..plugins import PluginConflictError, UnknownPluginError
    from ..weights import ChecksumError, WeightsUnavailableError

    expected = (ImageError, UnknownPluginError, PluginConflictError, WeightsUnavailableError, ChecksumError,
                FileNotFoundError, ValueError, KeyError)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except expected as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise click.ClickException(str(message)) from None

    return wrapper


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
