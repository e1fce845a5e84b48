"""Moved: engines serve every job kind now (``geoxai.jobs.engines``, ``JobEngine``).

This module stays, without hooks, because an editable install made before the move still names
it as geoxai's ``engines`` entry point; the built-in engines then register from
``geoxai.jobs.engines`` (``geoxai.plugins.BUILTIN_PLUGINS``) until geoxai is reinstalled.
"""
from ..jobs.engines import JobEngine as ReportEngine

__all__ = ["ReportEngine"]
