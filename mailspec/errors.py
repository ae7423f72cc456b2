"""The exceptions mailspec raises: one base, each docstring its default message."""

from __future__ import annotations

__all__ = ["Indeterminate", "MailspecError", "SettingError"]


class MailspecError(Exception):
    """mailspec could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class SettingError(MailspecError, ValueError):
    """A mailspec setting has a value that mailspec cannot use."""


class Indeterminate(MailspecError):
    """The fact could not be determined (a timeout, SERVFAIL or refused connection): could not test."""
