"""Declared options: the one place that parses and checks option names, types and ranges for every
plugin kind.

A factory declares its options either as an options dataclass (``Options`` attribute, what
explainers do) or as the keyword parameters of its signature (models, segmenters, geocoders,
engines). :func:`option_specs` reads either; :func:`check_options` refuses unknown names, wrong
types and values out of range with a one-line error that lists the accepted options;
:func:`parse_options` is the one parser of what users type (the CLI's repeated ``-o KEY=VALUE``,
the app's ``"k=v, k=v"`` text, or a dict of strings) into values of the declared types.

Supported annotations: ``bool``, ``int``, ``float``, ``str``, ``pathlib.Path``, ``tuple[X, ...]``,
``Literal[...]``, unions (``X | None``) and ``Any``. Anything else (or no annotation) is accepted
as given; from a string it is read as JSON where it parses (numbers, lists, ``true``), else kept.
A number's allowed range is declared in its annotation, ``Annotated[int, Range(min=1)]`` (or the
aliases :data:`PositiveInt`, :data:`NonNegativeFloat`, :data:`PositiveFloat`): ``stride=0`` is
then ``option stride must be >= 1, got 0``, whoever passes it.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, cast

_MISSING = object()


class OptionError(ValueError):
    """An unknown option name, a value of the wrong type or out of range (a one-line message)."""


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric option, declared in its annotation:
    ``Annotated[int, Range(min=1)]``, ``Annotated[float, Range(min=0, max=1, min_open=True)]``."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False  # True: min itself is not allowed
    max_open: bool = False

    def __contains__(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            return False
        return self.max is None or not (value > self.max or (self.max_open and value == self.max))

    def __str__(self) -> str:
        low = None if self.min is None else f"{'>' if self.min_open else '>='} {self.min:g}"
        high = None if self.max is None else f"{'<' if self.max_open else '<='} {self.max:g}"
        return " and ".join(part for part in (low, high) if part) or "any number"


#: the common ranges, as annotations
PositiveInt = Annotated[int, Range(min=1)]
NonNegativeInt = Annotated[int, Range(min=0)]
NonNegativeFloat = Annotated[float, Range(min=0)]
PositiveFloat = Annotated[float, Range(min=0, min_open=True)]


@dataclass(frozen=True)
class OptionSpec:
    name: str
    annotation: Any = Any
    default: Any = _MISSING

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        text = f"{self.name}: {type_name(self.annotation)}"
        return text if self.required else f"{text} = {self.default!r}"


def type_name(annotation: Any) -> str:
    if annotation is Any or annotation is inspect.Parameter.empty:
        return "any"
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        ranges = [str(m) for m in annotation.__metadata__ if isinstance(m, Range)]
        return " ".join([type_name(args[0]), *ranges])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"tuple[{type_name(args[0])}, ...]" if args else "tuple"
    return getattr(annotation, "__name__", str(annotation))


def _expected(annotation: Any) -> str:
    return "true or false" if annotation is bool else type_name(annotation)


# ---- reading declarations ----------------------------------------------------------------
def options_from_dataclass(options_cls: type) -> dict[str, OptionSpec]:
    hints = _hints(options_cls)
    specs = {}
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        specs[f.name] = OptionSpec(f.name, hints.get(f.name, Any), default)
    return specs


def options_from_signature(factory: Callable[..., Any]) -> dict[str, OptionSpec] | None:
    """Keyword parameters of a factory (a class: its ``__init__``); None when it takes ``**kwargs``
    (anything goes) or has no readable signature."""
    try:
        signature = inspect.signature(factory)  # a class: its __init__ without self
    except (TypeError, ValueError):
        return None
    hints = _hints(cast(Any, factory).__init__ if isinstance(factory, type) else factory)  # a class: its own __init__
    specs = {}
    for name, p in signature.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        default = _MISSING if p.default is p.empty else p.default
        specs[name] = OptionSpec(name, hints.get(name, Any), default)
    return specs


def option_specs(factory: Any) -> dict[str, OptionSpec] | None:
    """The options a factory declares: its ``Options`` dataclass, else its signature."""
    declared = getattr(factory, "Options", None)
    if isinstance(declared, type) and dataclasses.is_dataclass(declared):
        return options_from_dataclass(declared)
    return options_from_signature(factory)


def options_dataclass(name: str, defaults: Mapping[str, Any]) -> type:
    """An options dataclass from a ``{name: default}`` dict: each type read from its default
    (``None`` and other values: any type). Keeps ``defaults = {...}`` declarations working."""
    fields = []
    for key, value in defaults.items():
        if isinstance(value, bool):
            annotation: Any = bool
        elif isinstance(value, int):
            annotation = int
        elif isinstance(value, float):
            annotation = float
        elif isinstance(value, str):
            annotation = str
        else:
            annotation = Any
        if isinstance(value, (list, dict, set)):
            fields.append((key, annotation, dataclasses.field(default_factory=functools.partial(type(value), value))))
        else:
            fields.append((key, annotation, dataclasses.field(default=value)))
    return dataclasses.make_dataclass(name, fields, frozen=True)


def _hints(obj: Any) -> dict[str, Any]:
    try:
        module = sys.modules.get(getattr(obj, "__module__", ""), None)
        return typing.get_type_hints(obj, globalns=vars(module) if module else None, include_extras=True)
    except Exception:  # noqa: BLE001 - an unresolvable annotation only means "any type"
        return {}


# ---- checking and coercing ---------------------------------------------------------------
def check_options(owner: str, specs: Mapping[str, OptionSpec] | None, values: Mapping[str, Any],
                  check_types: bool = True) -> dict[str, Any]:
    """``values`` checked against ``specs`` (None: anything is accepted); returns the values with
    lists turned into the declared tuples. ``owner`` names the plugin in errors (``explainer 'lrp'``).
    Declared ranges are checked even with ``check_types=False`` (a value of another type is then
    passed on as it is)."""
    if specs is None:
        return dict(values)
    _check_names(owner, specs, values)
    out = {}
    for key, value in values.items():
        annotation = specs[key].annotation
        try:
            coerced = _coerce(value, annotation, from_string=False)
        except _OutOfRange as exc:
            raise OptionError(f"{owner}: option {key} must be {exc.args[0]}, got {exc.args[1]!r}") from None
        except _Mismatch:
            if check_types:
                raise OptionError(f"{owner}: option {key} must be {_expected(annotation)}, got {value!r}; "
                                  f"{accepted(specs)}") from None
        except Exception:  # noqa: BLE001 - a value the annotation cannot even compare (a tensor): the factory's
            if check_types:
                raise
        out[key] = coerced if check_types else value
    return out


def _check_names(owner: str, specs: Mapping[str, OptionSpec], names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise OptionError(f"{owner} has no option {', '.join(map(repr, unknown))}; {accepted(specs)}")


def split_pairs(given: str | Iterable[str], what: str = "--option") -> dict[str, str]:
    """What a user typed -> ``{key: text}``: ``KEY=VALUE`` pairs (the CLI's repeated ``-o``) or one
    text of them separated by commas or new lines (``"n_samples=2, layers=a,b"``: a comma starts a
    new pair only where ``key=`` follows). Dashes in keys become underscores."""
    if isinstance(given, str):
        pairs = [p for p in re.split(r"[,\n]\s*(?=[A-Za-z_][\w-]*\s*=)", given) if p.strip()]
    else:
        pairs = list(given)
    out = {}
    for pair in pairs:
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise OptionError(f"{what}: {str(pair).strip()!r} is not key=value")
        out[key.replace("-", "_")] = value.strip() if isinstance(given, str) else value
    return out


def parse_options(owner: str, specs: Mapping[str, OptionSpec] | None,
                  given: Mapping[str, Any] | Iterable[str] | str | None, what: str = "--option") -> dict[str, Any]:
    """The one parser of user-typed options: ``given`` as ``KEY=VALUE`` pairs, one ``"k=v, k=v"``
    text (:func:`split_pairs`) or a dict -> values of the declared types (``"8"`` -> 8,
    ``"false"`` -> False, ``"1,2"`` -> (1, 2)), names, types and ranges checked, each problem a
    one-line :class:`OptionError`. Strings of undeclared types are read as JSON where they parse;
    values that are not strings (a JSON request's numbers) are checked as they are."""
    if not given:
        return {}
    raw = dict(given) if isinstance(given, Mapping) else split_pairs(given, what)
    specs_known = specs or {}
    if specs is not None:
        _check_names(owner, specs, raw)
    out = {}
    for key, value in raw.items():
        annotation = specs_known[key].annotation if key in specs_known else Any
        try:
            out[key] = _coerce(value, annotation, from_string=isinstance(value, str))
        except _Mismatch:
            raise OptionError(f"{owner}: option {key} must be {_expected(annotation)}, got {value!r}"
                              + (f"; {accepted(specs)}" if specs is not None else "")) from None
        except _OutOfRange as exc:
            raise OptionError(f"{owner}: option {key} must be {exc.args[0]}, got {exc.args[1]!r}") from None
    return out


def parse_option_strings(owner: str, specs: Mapping[str, OptionSpec] | None,
                         raw: Mapping[str, str]) -> dict[str, Any]:
    """:func:`parse_options` of ``{key: text}`` (kept for callers of the older name)."""
    return parse_options(owner, specs, raw)


def accepted(specs: Mapping[str, OptionSpec]) -> str:
    if not specs:
        return "it accepts no options"
    return "accepted: " + ", ".join(spec.describe() for spec in specs.values())


class _Mismatch(Exception):
    pass


class _OutOfRange(Exception):
    """A value of the right type outside its declared range (args: the range as text, the value)."""


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(value: Any, annotation: Any, from_string: bool) -> Any:  # noqa: C901 - one case per type
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return _json_or_text(value) if from_string else value
    if annotation is None or annotation is type(None):
        if value is None or (from_string and str(value).strip().lower() in ("none", "null")):
            return None
        raise _Mismatch
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        value = _coerce(value, args[0], from_string)
        for allowed in annotation.__metadata__:
            if isinstance(allowed, Range) and isinstance(value, (int, float)) and value not in allowed:
                raise _OutOfRange(str(allowed), value)
        return value
    if origin in (Union, types.UnionType):
        # a string that names a value of a non-string member wins (so "none" is None, "3" is 3
        # for int | str); a plain str member keeps any other text as it is
        ordered = sorted(args, key=lambda a: a is str)
        for member in ordered:
            try:
                return _coerce(value, member, from_string)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
            if from_string and str(value) == str(choice):
                return choice
        raise _Mismatch
    if origin is tuple or annotation is tuple:
        item_type = args[0] if args else Any
        if from_string and isinstance(value, str):
            text = value.strip()
            parsed = _json_or_text(text)
            items = parsed if isinstance(parsed, list) else [p.strip() for p in text.split(",") if p.strip()]
            return tuple(_coerce(v if not isinstance(v, str) else v, item_type, from_string=isinstance(v, str))
                         for v in items)
        if isinstance(value, (list, tuple, range)):
            return tuple(_coerce(v, item_type, from_string=False) for v in value)
        raise _Mismatch
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if type(value).__name__ == "bool_":  # numpy bool
            return bool(value)
        if from_string and isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        raise _Mismatch
    if annotation is int or annotation is float:
        if isinstance(value, bool):
            raise _Mismatch
        if annotation is int and isinstance(value, int):
            return value
        if annotation is int and hasattr(value, "__index__") and not isinstance(value, float):
            return int(value)
        if annotation is float and isinstance(value, (int, float)):
            return float(value)
        if from_string and isinstance(value, str):
            try:
                return annotation(value.strip())
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        if isinstance(value, (str, Path)):
            return Path(value) if from_string else value
        raise _Mismatch
    if annotation is os.PathLike:
        if isinstance(value, (str, os.PathLike)):
            return value  # a file name stays text, whatever it looks like
        raise _Mismatch
    if isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        if from_string:
            return _json_or_text(value)
        raise _Mismatch
    return _json_or_text(value) if from_string else value  # an annotation we cannot check


def _json_or_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
