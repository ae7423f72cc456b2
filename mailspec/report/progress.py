"""The survey's progress on the terminal: a live line on a terminal, a line every few seconds in a CI log,
nothing under ``-q``, and nothing at all for a survey done within about a second.

:class:`ProgressLine` is the survey's progress hook (:attr:`mailspec.survey.Survey.progress`), called
from the thread that waits for the survey (pytest's); it writes through pytest's terminal reporter.
"""

from __future__ import annotations

from typing import Any

from mailspec.survey.progress import Progress

__all__ = ["ProgressLine", "done_text", "progress_text"]

#: seconds a survey runs before its progress shows
AFTER = 1.0
#: seconds between two lines in a CI log (not a terminal)
EVERY = 5.0


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def progress_text(p: Progress) -> str:
    """``mailspec: surveying 37/200 domains, 412 servers, 18 questions in flight, 0 connections (2.4 s)``"""
    domains = f"{p.domains_done}/{p.domains_total} domain" + ("" if p.domains_total == 1 else "s")
    return (
        f"mailspec: surveying {domains}, {_n(p.servers, 'server')}, "
        f"{_n(p.questions_in_flight, 'question')} in flight, {_n(p.connections_in_flight, 'connection')} "
        f"({p.elapsed:.1f} s)"
    )


def done_text(p: Progress) -> str:
    """``mailspec: surveyed 200 domains (412 servers) in 3.1 s``"""
    domains = (
        _n(p.domains_total, "domain")
        if p.domains_done == p.domains_total
        else f"{p.domains_done}/{p.domains_total} domain" + ("" if p.domains_total == 1 else "s")
    )
    return f"mailspec: surveyed {domains} ({_n(p.servers, 'server')}) in {p.elapsed:.1f} s"


def _isatty(tr: Any) -> bool:
    """Whether the reporter writes to a terminal (``isatty`` is a bool attribute in pytest 8, a
    callable bool in pytest 9)."""
    isatty = getattr(tr, "isatty", False)
    return bool(isatty() if callable(isatty) else isatty)


class ProgressLine:
    """The progress hook: ``ProgressLine(terminalreporter, config.get_verbosity())``.

    ``tr`` is pytest's TerminalReporter (or anything with ``write_line``, ``rewrite`` and ``write``);
    ``tty`` overrides what ``tr.isatty`` says. Progress restarts with each prefetch (its ``elapsed``
    starts again at 0 after a ``done``).
    """

    def __init__(
        self,
        tr: Any,
        verbosity: int = 0,
        *,
        tty: bool | None = None,
        after: float = AFTER,
        every: float = EVERY,
    ) -> None:
        self.tr = tr
        self.verbosity = verbosity
        self.tty = _isatty(tr) if tty is None else tty
        self.after = after
        self.every = every
        self._last: float | None = None  #: elapsed when the last line of this prefetch was written

    def __call__(self, p: Progress) -> None:
        if self.verbosity < 0:
            return
        if p.done:
            if self._last is not None:  # (a survey that showed nothing ends silently too)
                self._end(done_text(p))
            self._last = None
            return
        if p.elapsed < self.after:
            return
        if self.tty:
            self._live(progress_text(p))
        elif self._last is None or p.elapsed - self._last >= self.every:
            self._line(progress_text(p))
        else:
            return
        self._last = p.elapsed

    # -- writing ----------------------------------------------------------------------------------
    def _fit(self, text: str) -> str:
        """The text cut to the terminal's width, so that rewriting it in place never wraps."""
        width = getattr(getattr(self.tr, "_tw", None), "fullwidth", None)
        if isinstance(width, int) and 10 < width <= len(text):
            return text[: width - 4] + "..."
        return text

    def _live(self, text: str) -> None:
        if self._last is None:
            self._newline_unless_at_start()
        self.tr.rewrite(self._fit(text), erase=True)
        self._flush()

    def _line(self, text: str) -> None:
        if self._last is None:
            self._newline_unless_at_start()
        self.tr.write_line(text)
        self._flush()

    def _end(self, text: str) -> None:
        if self.tty:
            self.tr.rewrite(self._fit(text), erase=True)
            self.tr.write("\n")
            self._flush()
        else:
            self._line(text)

    def _newline_unless_at_start(self) -> None:
        """A line of pytest's own may be half written ("collecting ... "): ours start on a line of
        their own (pytest tells the width of the current line only privately: when it does not, none)."""
        width = getattr(self.tr, "_width_of_current_line", 0)
        if isinstance(width, int) and width > 0:
            self.tr.write("\n")

    def _flush(self) -> None:
        flush = getattr(self.tr, "flush", None)
        if callable(flush):
            flush()
