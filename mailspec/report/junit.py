"""The one place that works around what pytest offers no public API for.

* JUnit: pytest writes captured output (mailspec's evidence) to a case's ``<system-out>`` only when
  ``junit_logging`` asks for it, and a plugin cannot change an ini value; its JUnit writer (made by
  pytest's own ``pytest_configure``, which runs before mailspec's) is told directly, unless the user
  chose a value other than the default. The suite properties go to the same writer, so that they are
  there under xdist too (where tests run in workers that write no JUnit).
* An error found in the call phase: a check that could not test is an *error*, never a failure, and
  pytest reports errors only for setup and teardown; the report is moved to the setup phase.

Both are exercised by the plugin tests on the lowest and the highest pytest that pyproject.toml allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mailspec.settings import Settings

__all__ = ["as_error", "configure_junit"]


def configure_junit(config: pytest.Config, settings: Settings) -> None:
    """Evidence in every case's ``<system-out>``; mailspec's suite properties."""
    from mailspec import __version__

    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ != "LogXML":
            continue
        if config.getini("junit_logging") == "no" and getattr(plugin, "logging", None) == "no":
            plugin.logging = "system-out"
        for name, value in (
            ("mailspec_version", __version__),
            ("mailspec_domains", " ".join(settings.domains)),
            ("mailspec_probe", str(settings.probe)),
            ("mailspec_profile", settings.profile),
            ("mailspec_fail_on", str(settings.fail_on)),
        ):
            plugin.add_global_property(name, value)


def as_error(report: pytest.TestReport, message: str) -> None:
    """Make ``report`` an error ("could not test") with ``message``, whatever phase it came from."""
    report.outcome = "failed"
    report.longrepr = message
    if report.when == "call":  # (pytest reports a failed setup or teardown as an error already)
        report.when = "setup"
