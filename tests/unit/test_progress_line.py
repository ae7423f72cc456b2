"""The survey's progress line: live on a terminal, every few seconds in a CI log, nothing under -q or for
a quick survey. Driven by constructed Progress values (no clock: each carries its own elapsed time)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mailspec.report.progress import ProgressLine, done_text, progress_text
from mailspec.survey.progress import Progress


@dataclass
class FakeTerminal:
    """What ProgressLine uses of pytest's TerminalReporter, recording what it would show."""

    isatty: bool = False
    fullwidth: int = 200
    out: list[tuple[str, str]] = field(default_factory=list)  #: (how, text)
    flushed: int = 0
    _width_of_current_line: int = 0

    @property
    def _tw(self) -> FakeTerminal:
        return self

    def write_line(self, line: str) -> None:
        self.out.append(("line", line))
        self._width_of_current_line = 0

    def rewrite(self, line: str, erase: bool = False) -> None:
        assert erase
        self.out.append(("rewrite", line))
        self._width_of_current_line = len(line)

    def write(self, text: str) -> None:
        self.out.append(("write", text))
        self._width_of_current_line = 0 if text.endswith("\n") else self._width_of_current_line + len(text)

    def flush(self) -> None:
        self.flushed += 1


def at(elapsed: float, done: int = 1, *, finished: bool = False, total: int = 4) -> Progress:
    return Progress(
        elapsed=elapsed,
        facts_done=done * 2,
        facts_total=total * 2,
        domains_done=done,
        domains_total=total,
        servers=12,
        questions_in_flight=3,
        connections_in_flight=0,
        done=finished,
    )


def test_the_texts_say_domains_servers_and_what_is_in_flight() -> None:
    assert progress_text(at(2.44, 1)) == (
        "mailspec: surveying 1/4 domains, 12 servers, 3 questions in flight, 0 connections (2.4 s)"
    )
    assert done_text(at(3.06, 4, finished=True)) == "mailspec: surveyed 4 domains (12 servers) in 3.1 s"
    one = Progress(1.5, 0, 1, 0, 1, 1, 1, 1)
    assert progress_text(one) == (
        "mailspec: surveying 0/1 domain, 1 server, 1 question in flight, 1 connection (1.5 s)"
    )
    # a prefetch whose bound ran out says how far it got
    assert done_text(at(9.0, 3, finished=True)).startswith("mailspec: surveyed 3/4 domains")


@pytest.mark.parametrize("tty", [True, False])
def test_a_survey_done_within_a_second_shows_nothing(tty: bool) -> None:
    term = FakeTerminal(isatty=tty)
    line = ProgressLine(term, 0)
    for t in (0.25, 0.5, 0.75):
        line(at(t))
    line(at(0.8, 4, finished=True))
    assert term.out == []


@pytest.mark.parametrize("tty", [True, False])
def test_nothing_at_all_under_quiet(tty: bool) -> None:
    term = FakeTerminal(isatty=tty)
    line = ProgressLine(term, -1)
    for t in (0.5, 1.0, 5.0, 12.0):
        line(at(t))
    line(at(13.0, 4, finished=True))
    assert term.out == []


def test_a_terminal_gets_one_live_line_rewritten_in_place_then_ended() -> None:
    term = FakeTerminal(isatty=True)
    line = ProgressLine(term, 0)
    line(at(0.75))
    line(at(1.0, 1))
    line(at(1.25, 2))
    line(at(1.5, 3))
    line(at(1.6, 4, finished=True))
    assert [how for how, _ in term.out] == ["rewrite", "rewrite", "rewrite", "rewrite", "write"]
    assert [text for how, text in term.out if how == "rewrite"] == [
        progress_text(at(1.0, 1)),
        progress_text(at(1.25, 2)),
        progress_text(at(1.5, 3)),
        done_text(at(1.6, 4, finished=True)),
    ]
    assert term.out[-1] == ("write", "\n")  # the live line is finished: what pytest writes next is below
    assert term.flushed >= 4  # a line without a newline shows only when flushed


def test_pytest_9_callable_isatty_is_understood() -> None:
    class CallableTrue:
        def __call__(self) -> bool:
            return True

        def __bool__(self) -> bool:
            return True

    term = FakeTerminal()
    term.isatty = CallableTrue()  # type: ignore[assignment]
    assert ProgressLine(term, 0).tty
    assert not ProgressLine(FakeTerminal(isatty=False), 0).tty


def test_a_live_line_never_overwrites_a_half_written_line_of_pytest() -> None:
    term = FakeTerminal(isatty=True)
    term.write("collecting ... ")
    line = ProgressLine(term, 0)
    line(at(1.2))
    assert term.out[1] == ("write", "\n")
    assert term.out[2][0] == "rewrite"


def test_a_live_line_is_cut_to_the_terminal_width() -> None:
    term = FakeTerminal(isatty=True, fullwidth=40)
    ProgressLine(term, 0)(at(2.0))
    (how, text), *_ = term.out
    assert how == "rewrite" and len(text) < 40 and text.endswith("...")


def test_a_ci_log_gets_a_line_at_most_every_five_seconds_and_a_final_one() -> None:
    term = FakeTerminal(isatty=False)
    line = ProgressLine(term, 0)
    ticks = [0.25 * i for i in range(1, 53)]  # 0.25 .. 13.0 s
    for t in ticks:
        line(at(t))
    line(at(13.1, 4, finished=True))
    assert all(how == "line" for how, _ in term.out)
    assert [text for _, text in term.out] == [
        progress_text(at(1.0)),
        progress_text(at(6.0)),
        progress_text(at(11.0)),
        done_text(at(13.1, 4, finished=True)),
    ]


def test_each_prefetch_starts_its_progress_afresh() -> None:
    term = FakeTerminal(isatty=False)
    line = ProgressLine(term, 0)
    line(at(1.5))
    line(at(2.0, 4, finished=True))
    line(at(0.5))  # the next prefetch: quick, so nothing shows
    line(at(0.6, 4, finished=True))
    line(at(1.25))  # another, slow: shows at once, not 5 s after the last prefetch's line
    assert [text for _, text in term.out] == [
        progress_text(at(1.5)),
        done_text(at(2.0, 4, finished=True)),
        progress_text(at(1.25)),
    ]
