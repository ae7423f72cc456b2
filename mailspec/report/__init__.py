"""Reports built from pytest's own test reports: the JSON report and the terminal summary."""

from __future__ import annotations

from mailspec.report.collector import ReportCollector

__all__ = ["ReportCollector"]
