"""How far a survey has got: what :attr:`Survey.progress <mailspec.survey.Survey.progress>` is told
while :meth:`Survey.prefetch <mailspec.survey.Survey.prefetch>` runs (a snapshot; the report layer
decides whether and how to show it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Progress"]


@dataclass(frozen=True)
class Progress:
    """One snapshot of a prefetch in flight (or, with ``done``, of one that ended)."""

    elapsed: float  #: seconds since this prefetch began
    facts_done: int  #: facts of this prefetch fetched (or given up on) so far
    facts_total: int  #: facts this prefetch fetches
    domains_done: int  #: keys (domains) whose every fact of this prefetch is done
    domains_total: int  #: distinct keys (domains) of this prefetch
    servers: int  #: distinct hosts asked something so far in the run (resolvers, name servers)
    questions_in_flight: int  #: DNS questions sent and not answered (nor given up on) yet
    connections_in_flight: int = 0  #: SMTP connections open (none yet: SMTP probes come later)
    done: bool = False  #: the prefetch ended (every fact fetched, or its bound ran out)
