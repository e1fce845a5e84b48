"""The model a job runs: a registered name, its options and weights (``ModelSpec``), built the
same way by every job kind and engine, or read without building it (the Ray driver's view)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None

    def build_options(self) -> dict[str, Any]:
        """The plugin's options, with the weights."""
        options = dict(self.options)
        if self.weights:
            options["weights"] = self.weights
        return options

    def build(self):
        """The model, as its plugin builds it (in eval mode)."""
        from ..plugins import load_model

        return self._call(load_model)

    def view_config(self):
        """The model's ``ViewConfig``, read from its class: no model is built, no weights read."""
        from ..plugins import model_view_config

        return self._call(model_view_config)

    def check(self) -> None:
        """Refuse an unknown model or an option its plugin does not declare, building nothing."""
        from ..options import check_options
        from ..plugins import registry

        entry = registry().get("model", self.name)
        check_options(entry.label, entry.options(), self.build_options())

    def has_custom_view(self) -> bool:
        """Whether the model's class replaces ``view``/``test_time_views`` with code (not data)."""
        from ..interfaces import GeoModel
        from ..plugins import registry

        factory = registry().get("model", self.name).resolve_factory()
        return isinstance(factory, type) and issubclass(factory, GeoModel) and (
            factory.view is not GeoModel.view or factory.test_time_views is not GeoModel.test_time_views)

    def driver_view(self):
        """The view a process without the model can decode with; None for a model whose view is
        code or whose factory is a function (then the model's own process decodes)."""
        from ..plugins import NoViewConfigError

        if self.has_custom_view():
            return None
        try:
            return self.view_config()
        except NoViewConfigError:
            return None

    def _call(self, build):
        """``build(name, **options)``; a factory's TypeError becomes one line naming the options."""
        options = self.build_options()
        try:
            return build(self.name, **options)
        except TypeError as exc:
            raise ValueError(f"model {self.name!r} rejected its options {sorted(options)}: {exc}") from None
