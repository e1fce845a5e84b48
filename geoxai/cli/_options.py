"""The options the commands share, declared once: one spelling, one meaning and one range each.

Short names mean the same in every command that has them:

* ``-m`` model, ``-e`` explainer, ``-s`` segmenter (names, see ``geoxai plugins``);
* ``-o KEY=VALUE`` an option of the method the command is named after (the explainer in
  ``explain``, the segmenter in ``segment``), never an output path; every plugin option also has
  its long form ``--model-option``, ``--explainer-option``, ``--segmenter-option``;
* ``-O`` / ``--out`` the output folder; ``-b`` / ``--batch-size`` images per batch;
* ``--workers N`` image-decoding workers running ahead of the model (0: decode in the main
  process), default ``min(4, cores - 1)``.

Every numeric option carries its range (click shows it in ``--help`` and refuses values outside).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

KEY_VALUE = "KEY=VALUE"


def default_workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))


def _stack(*decorators: Callable) -> Callable:
    """Apply ``decorators`` so that they appear in ``--help`` in the order given."""

    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def user_code(kind: str) -> Callable:
    """A click callback: a ``package.module:Class`` value names the user's own class, imported
    (from the current folder or the installed packages) and registered under that name. Only the
    command line does this: the app and files never name code to import."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value and ":" in value:
            from ..plugins import register_import

            try:
                register_import(kind, value)
            except ValueError as exc:
                raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
        return value

    return callback


def _combined_names(register: Callable, combine: bool) -> Callable:
    """With ``combine``: repeated ``-s`` names joined by ``+`` (None when none is given); each name (or
    ``+`` part) that is a ``package.module:Class`` is imported and registered first."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        names = list(value) if combine else [value]
        for name in names:
            for part in (name or "").split("+"):
                register(ctx, param, part or None)
        return "+".join(n for n in names if n) or None if combine else value

    return callback


def model_options(required: bool = True) -> Callable:
    """``--model/-m``, ``--weights``, ``--model-option`` -> ``model_name``, ``weights``, ``model_opts``."""
    return _stack(
        click.option("--model", "-m", "model_name", required=required, callback=user_code("model"),
                     help="Model name (see `geoxai plugins`), or your own class as package.module:Class."),
        click.option("--weights", type=click.Path(), default=None,
                     help="Local weights file (or release archive/folder) instead of the registered ones, "
                          "or hf://ORG/REPO[@REVISION][/FILE] from the Hugging Face Hub."),
        click.option("--model-option", "model_opts", multiple=True, metavar=KEY_VALUE,
                     help="Model option, repeatable (e.g. --model-option hierarchical=false)."),
    )


def explainer_options(default: str | None = None, primary: bool = False) -> Callable:
    """``--explainer/-e`` and ``--explainer-option`` (also ``-o/--option`` where the explainer is
    the command's method) -> ``explainer_name``, ``explainer_opts``."""
    names = ["--explainer-option", *(("--option", "-o") if primary else ()), "explainer_opts"]
    return _stack(
        click.option("--explainer", "-e", "explainer_name", default=default, show_default=default is not None,
                     callback=user_code("explainer"),
                     help="Explainer name, e.g. ig-smoothgrad, gradcam, combicam, lrp (or package.module:Class)."),
        click.option(*names, multiple=True, metavar=KEY_VALUE,
                     help="Explainer option, repeatable (e.g. -o n_steps=20 -o layer=stage2)."
                     if primary else "Explainer option, repeatable."),
    )


def segmenter_options(default: str | None = None, primary: bool = False, help: str = "Segmenter name.",
                      combine: bool = False) -> Callable:
    """``--segmenter/-s`` and ``--segmenter-option`` (also ``-o/--option`` where the segmenter
    is the command's method) -> ``segmenter_name``, ``segmenter_opts``. ``combine``: ``-s`` may be
    repeated (``-s ade20k-hrnet -s text``), and ``segmenter_name`` is the names joined by ``+``
    (None when none is given), which ``load_segmenter`` builds as one combined segmenter."""
    names = ["--segmenter-option", *(("--option", "-o") if primary else ()), "segmenter_opts"]
    if combine:
        help += " Repeat it (or join names with +) to combine segmenters: -s ade20k-hrnet -s text."
    return _stack(
        click.option("--segmenter", "-s", "segmenter_name", default=(default,) if combine and default else default,
                     show_default=default is not None, help=help, multiple=combine,
                     callback=_combined_names(user_code("segmenter"), combine)),
        click.option(*names, multiple=True, metavar=KEY_VALUE,
                     help="Segmenter option, repeatable (e.g. -o scales=[300,450])."
                     if primary else "Segmenter option, repeatable."),
    )


def ci_options(func: Callable) -> Callable:
    """Concept influence: ``--k``, ``--min-size``, ``--dilation``."""
    return _stack(
        click.option("--k", "k", default=1000, show_default=True, type=click.IntRange(min=1),
                     help="Top-k pixels of the map used for concept influence (eq. 1)."),
        click.option("--min-size", default=0.1, show_default=True, type=click.FloatRange(0.0, 1.0),
                     help="Smallest scored concept, as a fraction of the image."),
        click.option("--dilation", default=0, show_default=True, type=click.IntRange(min=0),
                     help="Grow each concept mask by this many pixels (beta) before scoring."),
    )(func)


def out_option(required: bool = True, help: str = "Output folder (created if missing).", name: str = "out_dir"):
    return click.option("--out", "-O", name, required=required, default=None, help=help,
                        type=click.Path(file_okay=False, path_type=Path))


def batch_size_option(default: int, help: str = "Images per model batch."):
    return click.option("--batch-size", "-b", default=default, show_default=True, type=click.IntRange(min=1),
                        help=help)


def workers_option(func: Callable) -> Callable:
    return click.option("--workers", default=None, type=click.IntRange(min=0),
                        help="Image-decoding workers running ahead of the model (0: decode in the main "
                             "process) [default: min(4, cores-1)].")(func)


def radius_option(func: Callable) -> Callable:
    return click.option("--radius", default=750.0, show_default=True, type=click.FloatRange(min=0.0, min_open=True),
                        help="GCD (km) up to which a prediction is correct.")(func)


def min_images_option(func: Callable) -> Callable:
    return click.option("--min-images", default=100, show_default=True, type=click.IntRange(min=1),
                        help="Report a split of a concept only with at least this many images.")(func)


def quiet_option(help: str = "No progress bar.") -> Callable:
    return click.option("--quiet", "-q", is_flag=True, help=help)
