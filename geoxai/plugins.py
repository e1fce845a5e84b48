"""The plugin manager: finds models, explainers, segmenters, geocoders, job engines and weight
files through entry points.

Every entry point in group ``geoxai`` is loaded, geoxai's own built-ins included. A plugin that
fails to import or to register is reported with a warning and skipped; the rest keep working.
"""
from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .cache import WeightsUnavailableError, weights_fix
from .messages import typed_line
from .options import OptionSpec, check_options, option_specs, parse_options

KINDS = ("model", "explainer", "segmenter", "geocoder", "engine")
_HOOKS = {"model": "register_models", "explainer": "register_explainers", "segmenter": "register_segmenters",
          "geocoder": "register_geocoders", "engine": "register_engines"}


class PluginWarning(UserWarning):
    """A plugin could not be loaded or registered; geoxai carries on without it."""


class UnknownPluginError(KeyError, ValueError):
    """No plugin of that kind has that name (a KeyError, and a ValueError like a bad option)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class PluginConflictError(RuntimeError):
    pass


class PluginBuildError(RuntimeError):
    """A plugin's factory failed in a way geoxai does not know (a network error, a library's own
    error): one line naming the plugin and the cause; the original exception is chained."""


class NoViewConfigError(ValueError):
    """A model's factory declares no ``view_config_for`` (it is not a GeoModel class)."""


#: errors a factory raises that already say what is wrong in one line (bad option or file, missing
#: weights): passed on as they are; anything else becomes a PluginBuildError
_EXPECTED_BUILD_ERRORS = (ValueError, LookupError, FileNotFoundError, PluginConflictError)


@dataclass
class Registration:
    kind: str
    name: str
    factory: Callable[..., Any] | str
    distribution: str
    description: str = ""

    def resolve_factory(self) -> Callable[..., Any]:
        """The factory itself (a lazy ``"module:attr"`` is imported now)."""
        factory = self.factory
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory

    def options(self) -> dict[str, OptionSpec] | None:
        """The options the factory accepts (its ``Options`` dataclass, else its keyword
        parameters); None when it takes any keyword (``**kwargs``)."""
        return option_specs(self.resolve_factory())

    def parse_options(self, raw: Any) -> dict[str, Any]:
        """What a user typed (``KEY=VALUE`` pairs, a ``"k=v, k=v"`` text or a dict of strings) -> values
        of the declared types, names and ranges checked (``geoxai.options.parse_options``)."""
        return parse_options(self.label, self.options(), raw)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"

    def build(self, **options: Any) -> Any:
        """Build the object; an unknown option name or a value out of its declared range is a one-line
        error listing the accepted ones; a model whose built view is not its declared one too.
        An object with random weights is announced to the listener the CLI installs
        (``announce_random_weights``)."""
        try:
            factory = self.resolve_factory()
        except _EXPECTED_BUILD_ERRORS:
            raise
        except Exception as exc:  # e.g. the plugin's module needs a library that is not installed
            raise PluginBuildError(f"{self.label} could not be loaded: {typed_line(exc)}") from exc
        check_options(self.label, option_specs(factory), options, check_types=False)
        try:
            built = factory(**options)
        except WeightsUnavailableError as exc:
            raise _for_plugin(exc, self.kind, self.name, getattr(factory, "weights_folder", None)) from None
        except _EXPECTED_BUILD_ERRORS:
            raise
        except Exception as exc:
            raise PluginBuildError(f"{self.label} could not be built: {typed_line(exc)}") from exc
        if self.kind == "model":
            check_declared_view(self.label, factory, built, options)
        if _random_weights_listener is not None and has_random_weights(built):
            _random_weights_listener(random_weights_notice(self.label))
        return built


def check_declared_view(label: str, factory: Any, model: Any, options: dict[str, Any]) -> None:
    """One truth for the view: the view a model class declares for ``options`` (``view_config_for``,
    what drivers decode with without building the model) must be the view the built model uses.
    A class that sets its view in ``__init__`` but not in ``view_config_for`` fails here, on one line."""
    read = getattr(factory, "view_config_for", None)
    used = getattr(model, "view_config", None)
    if read is None or used is None:  # a factory function, or not a GeoModel: nothing is declared
        return
    from .views import view_differences

    declared = read(**options)
    if declared != used:
        raise ValueError(
            f"{label}: the built model's view differs from the view its class declares for these options "
            f"({view_differences(used, declared)}); declare the view as data: view_config, or "
            "view_config_for(**options) when it depends on the options, must return what the model uses")


def _for_plugin(exc: WeightsUnavailableError, kind: str, name: str, folder_files) -> WeightsUnavailableError:
    """``exc`` with the Python fix for plugin ``name`` of ``kind``; the CLI and the app re-word the
    fix for their own surface (``geoxai.weights.weights_message``)."""
    if exc.missing is None:
        return exc
    files = None
    if folder_files:  # file name -> registered weight file -> its URL
        known = registry().weights
        files = {filename: getattr(known.get(weight), "url", "see the plugin's documentation")
                 for filename, weight in folder_files.items()}
    plugin = (kind, name, files)
    return WeightsUnavailableError(f"{exc.missing}, {weights_fix(kind, 'python', files)}.", missing=exc.missing,
                                   plugin=plugin)


#: what figures, report.html and quality.html print beside the output of a random-weight plugin
RANDOM_WEIGHTS_MARK = "random weights: labels mean nothing"

_random_weights_listener: Callable[[str], None] | None = None


def has_random_weights(obj: Any) -> bool:
    """Whether a built model or segmenter declares random weights: its ``random_weights``
    attribute (True on the ``tiny`` test plugins, and on s2/semp/smp built without weights).
    A plugin author sets ``random_weights = True`` on an object whose weights are not trained."""
    return bool(getattr(obj, "random_weights", False))


def declares_random_weights(kind: str, name: str, options: dict[str, Any] | None = None) -> bool:
    """Whether plugin ``name`` of ``kind`` built with ``options`` would have random weights, read
    from its factory without building it: a ``random_weights_for(**options)`` classmethod, else a
    ``random_weights`` class attribute. False for an unknown name (nothing to say about it)."""
    try:
        factory = registry().get(kind, name).resolve_factory()
    except (KeyError, ValueError, PluginConflictError, ImportError, AttributeError):
        return False
    check = getattr(factory, "random_weights_for", None)
    if check is not None:
        return bool(check(**(options or {})))
    return isinstance(factory, type) and bool(getattr(factory, "random_weights", False))


def random_parts(model: str | None = None, model_options: dict[str, Any] | None = None,
                 segmenter: str | None = None, segmenter_options: dict[str, Any] | None = None) -> list[str]:
    """The labels ("model 'tiny'", ...) of the named plugins that would have random weights: what a
    report or quality page marks without building anything."""
    parts = [("model", model, model_options), ("segmenter", segmenter, segmenter_options)]
    return [f"{kind} {name!r}" for kind, name, options in parts
            if name and declares_random_weights(kind, name, options)]


def random_weights_notice(label: str) -> str:
    """The one line the CLI prints on stderr when it builds ``label`` (e.g. "segmenter 'tiny'")."""
    return (f"note: {label} has random weights, not trained ones: what it outputs means nothing "
            "(fine for trying geoxai out)")


def announce_random_weights(listener: Callable[[str], None] | None) -> None:
    """Call ``listener(line)`` whenever a plugin with random weights is built (the CLI prints the
    line on stderr); None stops it."""
    global _random_weights_listener
    _random_weights_listener = listener


@dataclass
class Registry:
    entries: dict[str, dict[str, Registration]] = field(default_factory=lambda: {k: {} for k in KINDS})
    conflicts: dict[tuple[str, str], list[Registration]] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)  # plugin name -> distribution

    def copy(self) -> Registry:
        return Registry(entries={k: dict(v) for k, v in self.entries.items()},
                        conflicts={k: list(v) for k, v in self.conflicts.items()},
                        weights=dict(self.weights), plugins=dict(self.plugins))

    def add(self, reg: Registration) -> None:
        existing = self.entries[reg.kind].get(reg.name)
        if existing is not None and existing.distribution != reg.distribution:
            clash = self.conflicts.setdefault((reg.kind, reg.name), [existing])
            clash.append(reg)
            warnings.warn(
                f"{reg.kind} {reg.name!r} is registered by both {existing.distribution!r} and "
                f"{reg.distribution!r}; loading it will fail until one is uninstalled",
                PluginWarning, stacklevel=2,
            )
            return
        self.entries[reg.kind][reg.name] = reg

    def get(self, kind: str, name: str) -> Registration:
        clash = self.conflicts.get((kind, name))
        if clash:
            dists = " and ".join(repr(r.distribution) for r in clash)
            raise PluginConflictError(f"{kind} {name!r} is provided by {dists}; uninstall one of them")
        try:
            return self.entries[kind][name]
        except KeyError:
            if kind == "segmenter" and "+" in name:  # "ade20k-hrnet+text": a combination of registered parts
                return self._combination(name)
            known = ", ".join(sorted(self.entries[kind])) or "none"
            raise UnknownPluginError(f"unknown {kind} {name!r}; known {kind}s: {known}") from None

    def _combination(self, name: str) -> Registration:
        """The registration of a combined segmenter ``a+b`` (unknown parts fail here)."""
        from .combined import segmenter_names

        parts = [self.get("segmenter", n) for n in segmenter_names(name)]
        return CombinedRegistration("segmenter", name, "geoxai.combined:CombinedSegmenter", "geoxai",
                                    "combined: " + ", ".join(p.name for p in parts), parts=parts)


@dataclass
class CombinedRegistration(Registration):
    """Segmenters ``a+b`` built as one ``geoxai.combined.CombinedSegmenter``: each option goes to
    the parts it names (``text.scripts``) or that declare it, and is typed and checked by them."""

    parts: list[Registration] = field(default_factory=list)

    def _route(self, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
        from .combined import route_options

        named = {p.name: p for p in self.parts}
        return route_options(list(named), lambda n: named[n].options(), options)

    def options(self) -> dict[str, OptionSpec] | None:
        return None  # any keyword here; the parts check their own

    def parse_options(self, raw: Any) -> dict[str, Any]:
        from .options import split_pairs

        if not raw:
            return {}
        raw = dict(raw) if isinstance(raw, Mapping) else split_pairs(raw)
        typed = {p.name: p.parse_options(opts) for p, opts in zip(self.parts, self._route(raw).values())}
        return {key: typed[key.partition(".")[0]][key.partition(".")[2]] if "." in key
                else next(t[key] for t in typed.values() if key in t) for key in raw}

    def build(self, **options: Any) -> Any:
        from .combined import CombinedSegmenter

        routed = self._route(options)
        return CombinedSegmenter([p.build(**routed[p.name]) for p in self.parts])


class _PluginManager(pluggy.PluginManager):
    def __init__(self) -> None:
        super().__init__("geoxai")
        self.add_hookspecs(hookspecs)


_registry: Registry | None = None


def registry() -> Registry:
    """The registry, built on first use from the installed entry points."""
    global _registry
    if _registry is None:
        _registry = _build_registry()
    return _registry


def reload() -> Registry:
    """Forget what was loaded and read the entry points again (after a pip install, in tests)."""
    global _registry
    importlib.invalidate_caches()
    _registry = None
    return registry()


@contextlib.contextmanager
def isolated() -> Iterator[Registry]:
    """Within the block, registrations (``register_plugin``, ``reload``) go to a copy of the
    registry; on exit the registry is as it was. For tests and notebooks."""
    global _registry
    saved = _registry
    _registry = registry().copy()
    try:
        yield _registry
    finally:
        _registry = saved


#: geoxai's own plugin modules, as named by its entry points (pyproject.toml, group "geoxai")
BUILTIN_PLUGINS = {"models": "geoxai.models", "explainers": "geoxai.explainers", "segmenters": "geoxai.segmenters",
                   "geocoders": "geoxai.geocoders", "engines": "geoxai.jobs.engines"}


def _builtin_module(ep: Any) -> str | None:
    """The module geoxai declares now for its own entry point ``ep`` (one naming a module of the
    ``geoxai`` package), else None: metadata of an install made before a built-in module moved
    (``engines`` once named ``geoxai.report.engines``) still registers the built-ins, warning-free."""
    module = ep.value.partition(":")[0].strip()
    own = module == "geoxai" or module.startswith("geoxai.")
    return BUILTIN_PLUGINS.get(ep.name) if own else None


def _build_registry() -> Registry:
    reg = Registry()
    pm = _PluginManager()
    loaded = set()
    for ep in sorted(entry_points(group="geoxai"), key=lambda e: (e.dist.name if e.dist else "", e.name)):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            plugin = importlib.import_module(own) if (own := _builtin_module(ep)) else ep.load()
        except Exception as exc:  # a broken third-party plugin must not take geoxai down
            warnings.warn(f"geoxai plugin {ep.name!r} from {dist!r} failed to load: {exc!r}", PluginWarning,
                          stacklevel=2)
            continue
        loaded.add(getattr(plugin, "__name__", None))
        register_plugin(plugin, dist, name=f"{dist}:{ep.name}", registry=reg, manager=pm)
    # An editable install made before an entry point was added has stale metadata; the built-ins
    # still register (through the same hooks) so that geoxai works until it is reinstalled.
    for module in BUILTIN_PLUGINS.values():
        if module not in loaded:
            # named by module: a stale entry point of the same name may be registered already
            register_plugin(importlib.import_module(module), "geoxai", name=f"geoxai:{module}", registry=reg,
                            manager=pm)
    return reg


def register_plugin(plugin: Any, distribution: str, name: str | None = None,
                    registry: Registry | None = None, manager: pluggy.PluginManager | None = None) -> None:
    """Register a plugin object (a module or instance with ``@hookimpl`` functions) at run time.

    Used by geoxai itself for every entry point, and by tests or notebooks to add a plugin
    without installing a distribution.
    """
    reg = registry if registry is not None else globals()["registry"]()
    pm = manager or _PluginManager()
    name = name or f"{distribution}:{getattr(plugin, '__name__', type(plugin).__name__)}"
    try:
        pm.register(plugin, name=name)
    except Exception as exc:
        warnings.warn(f"geoxai plugin {name!r} could not be registered: {exc!r}", PluginWarning, stacklevel=2)
        return
    reg.plugins[name] = distribution
    for kind, hook_name in _HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue

            def register(obj_name: str, factory, description: str = "", _kind=kind) -> None:
                reg.add(Registration(_kind, obj_name, factory, distribution, description))

            _call_hook(impl, register, name)
    for impl in pm.hook.register_weights.get_hookimpls():
        if impl.plugin is plugin:
            def register_weight(wf) -> None:
                reg.weights[wf.name] = wf
            _call_hook(impl, register_weight, name)


def _call_hook(impl, register, plugin_name: str) -> None:
    try:
        impl.function(register=register)
    except Exception as exc:
        warnings.warn(f"geoxai plugin {plugin_name!r} failed in {impl.function.__name__}: {exc!r}", PluginWarning,
                      stacklevel=2)


#: the distribution recorded for objects registered from the user's own code
USER_CODE = "user code"


def register(kind: str, name: str, factory: Callable[..., Any] | str, description: str = "") -> None:
    """Make ``factory`` (a class or function building the object, or a lazy ``"module:attr"``)
    loadable by ``name`` in this process: ``geoxai.register("model", "citynet", CityNet)`` then
    ``geoxai.load_model("citynet")``, a report or the app. Registering a name again replaces it."""
    if kind not in KINDS:
        raise ValueError(f"cannot register a {kind!r}: the kinds are {', '.join(KINDS)}")
    if not name or not isinstance(name, str):
        raise ValueError(f"a {kind} needs a non-empty name, got {name!r}")
    registry().add(Registration(kind, name, factory, USER_CODE, description))


def register_import(kind: str, spec: str) -> Registration:
    """Register ``package.module:Class`` (the user's own code, named on the command line) as the
    ``kind`` called ``spec``; the current folder is searched first, as ``python -m`` does.

    This imports and so RUNS that module: only for names the user typed; never call it with a
    name from a web request or a file."""
    import os
    import sys

    module, sep, attr = spec.partition(":")
    if not sep or not all(part.isidentifier() for part in [*module.split("."), *attr.split(".")]):
        raise ValueError(f"{kind} {spec!r}: a name with ':' must be package.module:Class")
    existing = registry().entries[kind].get(spec)
    if existing is not None:
        return existing
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{kind} {spec!r}: cannot import it ({typed_line(exc)})") from None
    finally:
        if added:
            sys.path.remove(cwd)
    if not callable(target):
        raise ValueError(f"{kind} {spec!r} is not a class or function")
    registry().add(Registration(kind, spec, target, USER_CODE, f"{attr} from {module}"))
    return registry().entries[kind][spec]


def available() -> dict[str, list[dict[str, str]]]:
    """Names by kind, with the distribution each comes from and a description."""
    reg = registry()
    out: dict[str, list[dict[str, str]]] = {}
    for kind in KINDS:
        rows = [
            {"name": r.name, "distribution": r.distribution, "description": r.description}
            for r in sorted(reg.entries[kind].values(), key=lambda r: r.name)
        ]
        for (k, n), clash in reg.conflicts.items():
            if k == kind:
                for row in rows:
                    if row["name"] == n:
                        row["distribution"] = " / ".join(r.distribution for r in clash)
                        row["description"] = "CONFLICT: " + row["description"]
        out[kind + "s"] = rows
    return out


def load_model(name: str, **options: Any):
    """Build a registered GeoModel by name, in eval mode. ``weights="hf://ORG/REPO[@REV][/FILE]"``
    is fetched into geoxai's cache first; the model records where it came from in
    ``weights_provenance`` (repo, file, commit)."""
    from . import hub

    spec = options.get("weights")
    if hub.is_hub(spec):
        options["weights"] = str(hub.download(str(spec)).path)
    model = registry().get("model", name).build(**options)
    if hub.is_hub(spec):
        model.weights_provenance = hub.provenance(spec)
    return model.eval()


def model_view_config(name: str, **options: Any):
    """The ``ViewConfig`` of the model ``load_model(name, **options)`` would build, read from the
    model class (``view_config_for``) without building it or loading weights."""
    factory = registry().get("model", name).resolve_factory()
    read = getattr(factory, "view_config_for", None)
    if read is None:
        raise NoViewConfigError(f"model {name!r} declares no view config (its factory {factory!r} is not a GeoModel "
                         f"class; give it a view_config_for(**options) classmethod)")
    return read(**options)


def load_explainer(name: str, **options: Any):
    return registry().get("explainer", name).build(**options)


def load_segmenter(name: str, **options: Any):
    """Build a registered segmenter by name; ``"a+b"`` builds each part and combines them
    (``geoxai.combined``: options ``part.key=...`` go to one part, plain keys to every part declaring them)."""
    return registry().get("segmenter", name).build(**options)


def load_geocoder(name: str, **options: Any):
    """Build a registered reverse geocoder (``geoxai.geocoders.ReverseGeocoder``) by name."""
    return registry().get("geocoder", name).build(**options)


def load_engine(name: str, **options: Any):
    """Build a registered job engine (``geoxai.jobs.engines.JobEngine``) by name."""
    return registry().get("engine", name).build(**options)


def parse_plugin_options(kind: str, name: str, raw: Any) -> dict[str, Any]:
    """What a user typed (``KEY=VALUE`` pairs, a ``"k=v, k=v"`` text or a dict of strings) -> typed,
    range-checked options for plugin ``name`` of ``kind`` (for a combined segmenter ``a+b``: each
    part's options typed by that part, keys kept as given)."""
    return registry().get(kind, name).parse_options(raw)
