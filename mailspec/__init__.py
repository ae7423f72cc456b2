"""mailspec: a pytest plugin that checks a live mail deployment against the best practices of the field.

The public names below are imported on first use (PEP 562), so that importing a part of mailspec (the
lab, ``mailspec.testing``, which must share no code with the survey it tests) loads only that part.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mailspec.catalog import CATALOG, CheckInfo, Severity, check
    from mailspec.errors import Indeterminate, MailspecError, SettingError
    from mailspec.outcome import evidence, note, warn
    from mailspec.settings import Settings
    from mailspec.survey import Survey

_WHERE = {
    "CATALOG": "mailspec.catalog",
    "CheckInfo": "mailspec.catalog",
    "Severity": "mailspec.catalog",
    "check": "mailspec.catalog",
    "Indeterminate": "mailspec.errors",
    "MailspecError": "mailspec.errors",
    "SettingError": "mailspec.errors",
    "evidence": "mailspec.outcome",
    "note": "mailspec.outcome",
    "warn": "mailspec.outcome",
    "Settings": "mailspec.settings",
    "Survey": "mailspec.survey",
}

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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'mailspec' has no attribute {name!r}")
