"""The embedded lab: scenarios served by :class:`LabDnsServer`, the MTAs of :mod:`.mta`, the ident
responders of :mod:`.ident` and the MTA-STS policy hosts of :mod:`.https`, in a background thread.

The servers run in one event loop on a daemon thread, so a lab works beside any other loop
(pytest-asyncio's, the survey's) and from plain synchronous code::

    with Lab.from_names(["good"]) as lab:
        dns.query.udp(query, "127.0.0.153", port=lab.dns_port)
        smtplib.SMTP("127.0.2.10", lab.smtp_port)           # mx1.good.test
        ssl.create_default_context(cafile=lab.ca_path)      # trusts its STARTTLS certificates
        https://mta-sts.good.test:<lab.https_port>/.well-known/mta-sts.txt   # on 127.0.2.12
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from .binding import enough_descriptors
from .dns_server import LabDnsServer
from .https import BodyMode, CertificateKind, HttpsSite, LabHttps, SilenceMode
from .ident import LabIdent
from .mta import LabMtas
from .pki import LabCA
from .scenario import HttpsSpec, MtaSpec, Scenario, check_together, load_scenario, load_scenarios
from .zones import LabPlan, build_lab

__all__ = ["CONTROL_IP", "START_TIMEOUT", "Lab", "LabError", "choose_scenarios", "select_scenarios"]

#: The control MTA's address (``Lab(control=True)``): outside every scenario's range (127.0.2.0 to
#: 127.0.15.255), beside the registry (127.0.1.1); a plain MTA that takes every connection, for
#: --mail-smtp-control (it tells a scenario's dead server from a port blocked on the probe's side)
CONTROL_IP = "127.0.1.25"
CONTROL_NAME = "control.lab.test"

#: Seconds a lab may take to bind its sockets before start() gives up.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


class LabError(RuntimeError):
    """The lab could not be set up or started."""


class LabView:
    """What a lab tells its users of itself, whether it serves from a thread (:class:`Lab`) or from a
    process of its own (:class:`~mailspec.testing.process.LabProcess`)."""

    _scenarios: list[Scenario]

    @property
    def resolver_ip(self) -> str:
        raise NotImplementedError

    @property
    def dns_port(self) -> int:
        raise NotImplementedError

    @property
    def smtp_port(self) -> int:
        """The TCP port every MTA address listens on (0 while stopped, or without MTAs)."""
        raise NotImplementedError

    @property
    def ident_port(self) -> int:
        """The TCP port the ident responders listen on, the lab's port 113 (0 when there are none)."""
        raise NotImplementedError

    @property
    def ca_path(self) -> str:
        """The lab CA's certificate (PEM), as ``--mail-ca`` takes it ("" while stopped)."""
        raise NotImplementedError

    @property
    def https_port(self) -> int:
        """The TCP port every MTA-STS policy host listens on, the lab's port 443 (0 while stopped, or
        when no scenario has an ``[[https]]`` site)."""
        raise NotImplementedError

    @property
    def smtp_control(self) -> str:
        """``IP:PORT`` of the control MTA, as ``--mail-smtp-control`` takes it ("" without one)."""
        raise NotImplementedError

    def smtp_stats(self) -> dict[str, dict[str, Any]]:
        """MTA address -> what it saw: connections, max_open, open, peers, data_commands, verbs."""
        raise NotImplementedError

    def https_stats(self) -> dict[str, dict[str, Any]]:
        """HTTPS address -> what it saw (:meth:`~mailspec.testing.https.HttpsStats.snapshot`)."""
        raise NotImplementedError

    @property
    def resolver(self) -> str:
        """``IP:PORT`` of the lab's recursive resolver, as ``--mail-resolver`` takes it."""
        return f"{self.resolver_ip}:{self.dns_port}"

    @property
    def scenarios(self) -> list[Scenario]:
        return list(self._scenarios)

    @property
    def dkim_selectors(self) -> list[str]:
        """``SELECTOR@DOMAIN`` for each scenario's ``dkim_selectors``, as ``--mail-dkim-selector`` takes
        them."""
        return [subject for sc in self._scenarios for subject in sc.dkim_subjects]

    @property
    def waivers(self) -> list[str]:
        """``ID@domain=REASON`` for each scenario's ``waive`` entries, as ``--mail-waive`` takes them."""
        return [waiver for sc in self._scenarios for waiver in sc.waivers]

    def scenario(self, name: str) -> Scenario:
        """One of the lab's scenarios, by file stem or domain."""
        for sc in self._scenarios:
            if name in (sc.name, sc.domain):
                return sc
        raise LabError(
            f"no scenario {name!r} in this lab; it has {', '.join(sc.name for sc in self._scenarios)}"
        )


class Lab(LabView):
    """Scenarios on loopback: a resolver at 127.0.0.153, a registry and each scenario's name servers,
    all on one UDP/TCP port (:attr:`dns_port`): *port*, or (0, the default) a free one; the
    scenarios' MTAs on another port (:attr:`smtp_port`), their ident responders on a third
    (:attr:`ident_port`) and their MTA-STS policy hosts on a fourth (:attr:`https_port`), all free
    ones, unless *smtp_port*, *ident_port* or *https_port* fix them (25, 113 and 443 in the lab's
    container). With ``mtas=False`` no MTA or ident responder is started (a tier that runs real Postfix
    there instead), but the lab CA is still made (:attr:`ca`), and the policy hosts still serve.
    Each address of *dns_listen* (this host's own, none of the lab's) answers as the resolver does, on
    the DNS port (:attr:`dns_listen`): the lab's container on its compose network."""

    def __init__(
        self,
        scenarios: Sequence[Scenario] | None = None,
        *,
        latency: float = 0.0,
        port: int = 0,
        mtas: bool = True,
        control: bool = False,
        smtp_port: int = 0,
        ident_port: int = 0,
        https_port: int = 0,
        dns_listen: Sequence[str] = (),
    ) -> None:
        self._scenarios = list(scenarios) if scenarios is not None else load_scenarios()
        if latency < 0:
            raise LabError(f"latency must not be negative, got {latency}")
        ports = {"port": port, "smtp_port": smtp_port, "ident_port": ident_port, "https_port": https_port}
        for name, value in ports.items():
            if not 0 <= value <= 65535:
                raise LabError(f"{name} must be 0 (a free one) to 65535, got {value}")
        self._port = port
        self._fixed = {"smtp": smtp_port, "ident": ident_port, "https": https_port}
        self._with_mtas = mtas
        self._control = control and mtas
        self.plan: LabPlan = build_lab(self._scenarios)
        self._dns_listen = list(dict.fromkeys(dns_listen))
        try:
            self._server = LabDnsServer(self.plan, latency=latency, resolver_also=self._dns_listen)
        except ValueError as exc:  # an address of dns_listen the plan has already
            raise LabError(f"dns_listen: {exc}") from exc
        self._mtas: LabMtas | None = None
        self._ident: LabIdent | None = None
        self._https: LabHttps | None = None
        self._ca: LabCA | None = None
        self._workdir: str | None = None
        self._stats: dict[str, dict[str, Any]] = {}
        self._errors: list[str] = []
        self._https_stats: dict[str, dict[str, Any]] = {}
        self._https_errors: list[str] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_names(
        cls, names: Iterable[str] | str, *, latency: float = 0.0, mtas: bool = True, control: bool = False
    ) -> Lab:
        """A lab of the packaged scenarios named by file stem or domain; ``all`` means every one."""
        return cls(select_scenarios(names), latency=latency, mtas=mtas, control=control)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = START_TIMEOUT) -> Lab:
        """Bind every address and serve; raises :class:`LabError` with the reason on failure.

        *timeout* bounds the binding; the CA and the certificates are made before it starts.
        """
        with self._lock:
            if self._thread is not None:
                raise LabError("the lab is already running")
            enough_descriptors()
            self._prepare()
            try:
                self._start(timeout)
            except BaseException:
                self._discard()
                raise
        return self

    def _prepare(self) -> None:
        """The CA in a folder of its own, and the MTAs' and policy hosts' certificates and TLS contexts."""
        self._workdir = tempfile.mkdtemp(prefix="mailspec-lab-")
        self._ca = LabCA(Path(self._workdir))
        sites = [_site(spec) for sc in self._scenarios for spec in sc.https]
        if sites:
            try:
                self._https = LabHttps(sites, self._ca)
            except (ValueError, OSError) as exc:
                raise LabError(f"the lab's HTTPS server could not be set up: {exc}") from exc
        if not self._with_mtas:
            return
        pairs = [(spec, sc.served_domains) for sc in self._scenarios for spec in sc.mtas]
        try:
            self._ident = LabIdent([(spec.ip, spec.ident) for spec, _ in pairs])
            if self._control:
                pairs.append((MtaSpec(ip=CONTROL_IP, hostname=CONTROL_NAME, tls=("none",)), ()))
            self._mtas = LabMtas(pairs, self._ca)
        except (ValueError, OSError) as exc:
            raise LabError(f"the lab's MTAs could not be set up: {exc}") from exc

    def _discard(self) -> None:
        self._mtas = self._ident = self._ca = None
        self._https = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def _serve_all(self) -> None:
        await self._server.start(self._port)
        if self._mtas is not None:
            await self._mtas.start(self._fixed["smtp"])
        if self._ident is not None:
            await self._ident.start(self._fixed["ident"])
        if self._https is not None:
            await self._https.start(self._fixed["https"])

    async def _stop_all(self) -> None:
        for stop in (
            self._https.stop if self._https is not None else None,
            self._ident.stop if self._ident is not None else None,
            self._mtas.stop if self._mtas is not None else None,
            self._server.stop,
        ):
            if stop is not None:
                with contextlib.suppress(Exception):  # each one's sockets are closed all the same
                    await stop()

    def _start(self, timeout: float) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        loops: list[asyncio.AbstractEventLoop] = []

        def run() -> None:
            # asyncio.Runner: on close it cancels whatever is left (a connection accepted while
            # stopping, say) and closes the loop, like asyncio.run().
            with asyncio.Runner() as runner:
                loops.append(runner.get_loop())
                try:
                    runner.run(self._serve_all())
                except BaseException as exc:  # reported to start()'s caller, not lost in the thread
                    failure.append(exc)
                    with contextlib.suppress(BaseException):
                        runner.run(self._stop_all())  # sockets bound so far
                    return
                finally:
                    ready.set()
                runner.get_loop().run_forever()
                runner.run(self._stop_all())

        thread = threading.Thread(target=run, name="mailspec-lab-dns", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            if loops:
                loops[0].call_soon_threadsafe(loops[0].stop)
            thread.join(STOP_TIMEOUT)
            raise LabError(f"the lab's servers did not start within {timeout:g} s")
        if failure:
            thread.join(STOP_TIMEOUT)
            raise LabError(f"the lab's servers could not start: {failure[0]}") from failure[0]
        self._thread, self._loop = thread, loops[0]

    def stop(self) -> None:
        """Close every socket and end the thread; a stopped lab can be started again."""
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            self._thread = self._loop = None
            if not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT)
            alive = thread.is_alive()
            self._stats = self._mtas.stats() if self._mtas is not None else {}
            self._errors = self.mta_errors
            self._https_stats = self._https.stats() if self._https is not None else {}
            self._https_errors = self.https_errors
            self._discard()
            if alive:
                raise LabError(f"the lab's servers did not stop within {STOP_TIMEOUT:g} s")

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ what users need

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def dns_port(self) -> int:
        """The UDP and TCP port every lab address listens on (0 while stopped)."""
        return self._server.port

    @property
    def dns_listen(self) -> list[str]:
        """``IP:PORT`` (``[IPv6]:PORT``) of each *dns_listen* address, which answers as the resolver."""
        return [f"[{a}]:{self.dns_port}" if ":" in a else f"{a}:{self.dns_port}" for a in self._dns_listen]

    @property
    def smtp_port(self) -> int:
        return self._mtas.port if self._mtas is not None else 0

    @property
    def ident_port(self) -> int:
        return self._ident.port if self._ident is not None else 0

    @property
    def https_port(self) -> int:
        return self._https.port if self._https is not None else 0

    @property
    def smtp_control(self) -> str:
        return f"{CONTROL_IP}:{self.smtp_port}" if self._control and self.smtp_port else ""

    @property
    def ca_path(self) -> str:
        return str(self._ca.ca_path) if self._ca is not None else ""

    @property
    def ca(self) -> LabCA | None:
        """The lab's CA while it runs (also with ``mtas=False``: a Postfix tier issues from it)."""
        return self._ca

    def smtp_stats(self) -> dict[str, dict[str, Any]]:
        """MTA address -> what it saw (JSON-ready); after stop(), what it had seen by then."""
        return self._mtas.stats() if self._mtas is not None else dict(self._stats)

    @property
    def mta_errors(self) -> list[str]:
        """Unexpected exceptions in MTA sessions (each cost its session); tests assert there are none."""
        return self._mtas.internal_errors if self._mtas is not None else list(self._errors)

    def https_stats(self) -> dict[str, dict[str, Any]]:
        """HTTPS address -> what it saw (JSON-ready); after stop(), what it had seen by then."""
        return self._https.stats() if self._https is not None else dict(self._https_stats)

    @property
    def https_errors(self) -> list[str]:
        """Unexpected exceptions in HTTPS sessions; tests assert there are none."""
        return self._https.internal_errors if self._https is not None else list(self._https_errors)

    @property
    def https(self) -> LabHttps | None:
        """The MTA-STS policy hosts while the lab runs (None when no scenario has one)."""
        return self._https

    @property
    def mtas(self) -> LabMtas | None:
        """The MTAs while the lab runs (None with ``mtas=False``)."""
        return self._mtas

    @property
    def resolver_ip(self) -> str:
        return self.plan.resolver_ip

    @property
    def domains(self) -> list[str]:
        return list(self.plan.domains)

    @property
    def server(self) -> LabDnsServer:
        """The DNS server, for its counters (``queries_answered``)."""
        return self._server

    @property
    def latency(self) -> float:
        return self._server.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise LabError(f"latency must not be negative, got {seconds}")
        self._server.latency = seconds  # a float store: safe to change while the loop runs

    def __repr__(self) -> str:
        state = f"resolver {self.resolver}" if self.running else "stopped"
        shown = ", ".join(self.domains[:3]) + (", ..." if len(self.domains) > 3 else "")
        return f"<Lab {len(self._scenarios)} scenarios ({shown}), {state}>"


def _site(spec: HttpsSpec) -> HttpsSite:
    """The HTTPS server's site for a scenario's ``[[https]]`` table (the loader checked the values)."""
    return HttpsSite(
        host=spec.host,
        ip=spec.ip,
        policy=spec.policy,
        certificate=cast("CertificateKind", spec.certificate),
        cert_names=spec.cert_names,
        status=spec.status,
        redirect=spec.redirect,
        content_type=spec.content_type,
        body=cast("BodyMode", spec.body),
        silence=cast("SilenceMode", spec.silence),
    )


def select_scenarios(names: Iterable[str] | str) -> list[Scenario]:
    """Packaged scenarios by file stem or domain, in the packaged order; ``all`` selects every one."""
    packaged = load_scenarios()
    wanted = [names.strip()] if isinstance(names, str) else [n.strip() for n in names]
    if not wanted:
        raise LabError("name at least one lab scenario (or 'all')")
    if "all" in wanted:
        return packaged
    unknown = [n for n in wanted if not any(n in (sc.name, sc.domain) for sc in packaged)]
    if unknown:
        known = ", ".join(sc.name for sc in packaged)
        raise LabError(f"unknown lab scenario(s) {', '.join(map(repr, unknown))}; known: all, {known}")
    return [sc for sc in packaged if sc.name in wanted or sc.domain in wanted]


def choose_scenarios(names: Sequence[str], files: Sequence[str | os.PathLike[str]]) -> list[Scenario]:
    """The scenarios a lab of *names* (packaged, comma-separated allowed) and *files* serves.

    No name and no file means every packaged scenario; files alone mean only the files. The choice of
    ``python -m mailspec.testing.serve`` and of :class:`~mailspec.testing.process.LabProcess`.
    """
    wanted = [n.strip() for entry in names for n in entry.split(",") if n.strip()]
    chosen = [] if files and not wanted else select_scenarios(wanted or ["all"])
    for path in files:
        chosen += load_scenarios([path]) if Path(path).is_dir() else [load_scenario(path)]
    check_together(chosen)
    return chosen
