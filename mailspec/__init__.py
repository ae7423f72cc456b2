"""mailspec: a pytest plugin that checks a live mail deployment against the best practices of the field."""

from __future__ import annotations

from mailspec.catalog import CATALOG, CheckInfo, Severity, check
from mailspec.errors import Indeterminate, MailspecError, SettingError
from mailspec.outcome import evidence, note, warn
from mailspec.settings import Settings
from mailspec.survey import Survey

__version__ = "0.1.0"

__all__ = [
    "CATALOG",
    "CheckInfo",
    "Indeterminate",
    "MailspecError",
    "SettingError",
    "Settings",
    "Severity",
    "Survey",
    "__version__",
    "check",
    "evidence",
    "note",
    "warn",
]
