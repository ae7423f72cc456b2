"""Real Postfix instances that play the lab's MTAs on loopback: the SMTP half of the real-server tier.

The embedded lab answers SMTP with a fake MTA; this tier plays the same scenarios' ``kind = "postfix"``
MTAs with the MTA administrators run, so that mailspec's SMTP verdicts are proven against the real
thing. It follows the acceptance lab's Postfix semantics (``../shared/lab/README.md``):

* one Postfix per MTA address, with its own config, queue and data directories and its own log
  (``maillog_file``), listening on ``IP:PORT`` only: plain smtpd (no postscreen), every instance of a
  run on one unprivileged port;
* the scenario's mail domains (its ``served_domains`` and every name below them, as the fake MTA
  takes them) are virtual mailbox domains whose mailbox list is the MTA's ``accept`` list (postmaster
  is accepted only when listed, unlike for ``mydestination``); a ``backup`` relays them
  (``relay_domains``, with a recipient list unless it accepts ``*``); ``unlisted`` knows nothing of
  them (relay access denied); ``relay = "open"`` trusts 127.0.0.0/8 (``permit_mynetworks``); a bare
  ``<name>`` recipient gets 504 (``reject_non_fqdn_recipient``), a bare ``<Postmaster>`` 250;
* nothing is ever delivered or relayed: every transport is ``discard``;
* every connection gets a freshly started smtpd (``max_use=1``), so a client that talks before the
  greeting is reliably noticed; errors are not delayed (``smtpd_error_sleep_time = 0``); TLS is 1.2
  and 1.3 only, with a certificate of the lab CA (or a flawed one) per the MTA's ``tls``.

The fake MTA's knobs that Postfix has a setting for are played (``vrfy = "disabled"``, ``ehlo_name``,
``extensions`` that leave keywords out); any other knob away from its default (a lying VRFY,
greylisting, a 421 greeting, a knob added after this module) makes the MTA unplayable:
:func:`unplayable` says why and nothing is started for it, so that a scenario is never silently
played other than as written. An ident server (``ident`` other than ``closed``) is not Postfix's:
the MTA is played, and :attr:`PostfixLab.skipped` names the scenario as not played as written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import grp
import os
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from mailspec.session import LAB_DNSBLS, LAB_PROBE_HELO, LAB_RETRY
from mailspec.testing.lab import Lab
from mailspec.testing.pki import LabCA
from mailspec.testing.scenario import MtaSpec, Scenario

from .servers import PORT_RANGE, Process, ServerError, find_program

__all__ = [
    "APT_PACKAGES",
    "MASTER_HEADER",
    "NEVER_DELIVERED",
    "PROBE_HELO",
    "PROGRAMS",
    "SUPPORT_SERVICES",
    "PostfixInstance",
    "PostfixLab",
    "discarded_keywords",
    "domains_regexp",
    "free_tcp_port",
    "leftover_processes",
    "listen_address",
    "main_cf",
    "master_cf",
    "missing_postfix",
    "not_played_aside",
    "postfix_messages",
    "postfix_version",
    "recipients_regexp",
    "runtime_dir",
    "unplayable",
    "unreachable",
]

#: program -> the Debian package that provides it
PROGRAMS: dict[str, str] = {"postfix": "postfix", "postconf": "postfix"}
APT_PACKAGES = ("postfix",)
#: The EHLO name of the tier's probes, and the one mailspec is given (``--mail-probe-helo``): the probe
#: name the lab's zones know, as ``--mail-lab`` gives it.
PROBE_HELO = LAB_PROBE_HELO
#: mynetworks of an MTA that does not relay: an address no lab client connects from.
UNTRUSTED_NETWORK = "127.0.1.254/32"
NEVER_DELIVERED = "discard:the mailspec real-server tier never delivers mail"
#: MtaSpec fields this module plays; any other field must keep its default (see :func:`unplayable`).
PLAYED_KNOBS = frozenset(
    {"ip", "hostname", "kind", "banner", "role", "accept", "relay", "pipelining", "tls", "cert_names"}
    | {"ident", "postfix", "vrfy", "ehlo_name", "extensions"}
)
#: Seconds a stopping master and its children get before SIGKILL.
STOP_TIMEOUT = 5.0

#: The queue directories only the postfix user may enter.
PRIVATE_QUEUE_DIRS = (
    "active",
    "bounce",
    "corrupt",
    "defer",
    "deferred",
    "flush",
    "hold",
    "incoming",
    "private",
    "saved",
    "trace",
)
#: queue subdirectory -> (owner, group, mode), as ``postfix check`` would create them (without its cost)
QUEUE_DIRS: dict[str, tuple[str, str, int]] = {
    **dict.fromkeys(PRIVATE_QUEUE_DIRS, ("postfix", "root", 0o700)),
    "maildrop": ("postfix", "postdrop", 0o730),
    "public": ("postfix", "postdrop", 0o710),
    "pid": ("root", "root", 0o755),
}
#: Queue directories whose files are messages (bounce, defer, trace and flush hold logs about them).
MESSAGE_DIRS = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt", "saved")

#: master.cf's column header.
MASTER_HEADER = "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
#: The services Postfix needs besides the one that takes connections (the smtpd, or a postscreen);
#: chroot off everywhere (the queue is no jail).
SUPPORT_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
_FRONT_SMTPD = "{listen} inet  n       -       n       -       -       smtpd\n{options}\n"
_MASTER_CF = MASTER_HEADER + _FRONT_SMTPD + SUPPORT_SERVICES

#: A queue id in a log line of the programs that handle a message once it exists: pickup (local
#: submission), cleanup (``message-id=``, logged once the message is complete) and qmgr (``from=``,
#: once it is queued). smtpd's ``QUEUEID: client=`` is not one: smtpd opens a queue file at the first
#: accepted RCPT and drops it unfinished when the session ends without DATA.
_MESSAGE_LOG = re.compile(
    r"\s\S+/(?:pickup|cleanup|qmgr)\[\d+\]: ([0-9A-Za-z]+): (?:uid=\d+ from=|message-id=|from=<)"
)


# ------------------------------------------------------------------------------------ the installation
def missing_postfix() -> list[str]:
    """The programs of :data:`PROGRAMS` that this machine lacks, with their package."""
    return [f"{name} (package {pkg})" for name, pkg in PROGRAMS.items() if find_program(name) is None]


def _postconf(*args: str) -> str:
    program = find_program("postconf")
    if program is None:
        raise ServerError("postconf is not installed (Debian package postfix)")
    proc = subprocess.run([program, *args], capture_output=True, text=True, check=False, timeout=30)
    if proc.returncode != 0:
        raise ServerError(f"postconf {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


@functools.cache
def postfix_version() -> tuple[int, ...]:
    """The installed Postfix's ``mail_version``, e.g. ``(3, 7, 11)``."""
    text = _postconf("-d", "-h", "mail_version").strip()
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@functools.cache
def _defaults() -> Mapping[str, str]:
    """Every main.cf parameter the installed Postfix knows, with its default."""
    out: dict[str, str] = {}
    for line in _postconf("-d").splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            out[name.strip()] = value
        elif line.endswith(" ="):
            out[line[:-2].strip()] = ""
    return out


@functools.cache
def _master() -> str:
    """The master daemon: run in the foreground, it is the process this module supervises."""
    path = Path(_defaults().get("daemon_directory", "/usr/lib/postfix/sbin")) / "master"
    if not os.access(path, os.X_OK):
        raise ServerError(f"{path} is missing: is Postfix installed (Debian package postfix)?")
    return str(path)


def _forbids_unauth_pipelining() -> bool:
    """``smtpd_forbid_unauth_pipelining`` exists: Postfix 3.9, and the 3.5.23 / 3.6.13 / 3.7.9 / 3.8.4
    backports (the SMTP smuggling fixes)."""
    return "smtpd_forbid_unauth_pipelining" in _defaults()


# ------------------------------------------------------------------------------------ what an MTA is
def _default(f: dataclasses.Field[Any]) -> object:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def discarded_keywords(spec: MtaSpec) -> list[str] | None:
    """The EHLO keywords Postfix must leave out (``smtpd_discard_ehlo_keywords``) to advertise what
    *spec* says it advertises; ``None`` when that is not Postfix's own list with some left out."""
    own = dataclasses.replace(spec, extensions=None).ehlo_keywords()
    wanted = spec.ehlo_keywords()
    rest = iter(own)
    if not all(word in rest for word in wanted):  # not a subsequence, in Postfix's order
        return None
    dropped = [word for word in own if word not in wanted]
    if spec.offers_tls and "STARTTLS" in dropped:
        return None  # Postfix would still do STARTTLS without announcing it: not what the fake does
    return [word.split()[0].lower() for word in dropped]


def unplayable(spec: MtaSpec, *, overrides: bool = True) -> str | None:
    """Why Postfix cannot play *spec* as the scenario says, or ``None`` if it can. With *overrides*
    (the default), the raw ``postfix`` overrides must name parameters the installed Postfix knows
    (``postconf -d``); without, nothing here needs Postfix installed."""
    if spec.kind != "postfix":
        return f"kind = {spec.kind!r}: not an MTA Postfix plays"
    if spec.vrfy not in ("honest", "disabled"):
        return (
            f"vrfy = {spec.vrfy!r}: Postfix's VRFY tells the truth (disable_vrfy_command = no) or is "
            "disabled (502); it cannot lie or answer 252 to everything"
        )
    if spec.extensions is not None and discarded_keywords(spec) is None:
        return (
            f"extensions = {list(spec.extensions)!r}: Postfix can only leave keywords out of its own "
            "EHLO list (smtpd_discard_ehlo_keywords), not add, reorder or reword them"
        )
    # Every other knob must keep its default, which is Postfix's behaviour: the fake-only knobs, and
    # any knob added to MtaSpec after this module was written.
    knobs = []
    for f in dataclasses.fields(spec):
        default = _default(f)
        if f.name not in PLAYED_KNOBS and default is not dataclasses.MISSING:
            value = getattr(spec, f.name)
            if value != default:
                knobs.append(f"{f.name} = {value!r}")
    if knobs:
        return f"{', '.join(knobs)}: the embedded lab's fake MTA plays this, Postfix has no setting for it"
    if not overrides:
        return None
    known = _defaults()
    unknown = sorted(key for key, _ in spec.postfix if key not in known)
    if unknown:
        version = ".".join(map(str, postfix_version()))
        return f"postfix overrides {', '.join(unknown)}: not main.cf parameters of Postfix {version}"
    return None


def not_played_aside(spec: MtaSpec) -> str | None:
    """What of *spec* this tier leaves unplayed although Postfix plays the MTA itself: the ident server
    on port 113, which is not Postfix's (nothing listens there, as for ``ident = "closed"``)."""
    if spec.ident != "closed":
        return f"ident = {spec.ident!r}: this tier runs no ident server (port 113 stays closed)"
    return None


# ------------------------------------------------------------------------------------ configuration
_ERE_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\/])")


def _ere(text: str) -> str:
    """*text* as a literal in a POSIX extended regular expression (a Postfix ``regexp:`` table)."""
    return _ERE_SPECIAL.sub(r"\\\1", text)


def recipients_regexp(spec: MtaSpec, served: Sequence[str]) -> str:
    """A ``regexp:`` table of the mailboxes *spec* accepts: its ``accept`` local parts at each of the
    *served* domains and every name below them (case-insensitive, as Postfix's lookups are)."""
    local = "|".join(_ere(part) for part in spec.accept)
    domains = "|".join(_ere(d) for d in served)
    return f"/^({local})@([^@]*\\.)?({domains})$/ OK\n"


def domains_regexp(served: Sequence[str]) -> str:
    """A ``regexp:`` table of the *served* domains and every name below them (virtual_mailbox_domains
    is matched exactly, so neither a parent domain nor a ``.domain`` pattern would reach those)."""
    return f"/(^|\\.)({'|'.join(_ere(d) for d in served)})$/ OK\n"


def main_cf(
    spec: MtaSpec,
    domain: str,
    base: Path,
    cert: tuple[Path, Path] | None,
    served: Sequence[str] = (),
) -> str:
    """main.cf for *spec* (an MTA of *domain*, taking mail for the *served* domains and the names below
    them; default: *domain*) living in *base*: the scenario's intent first, its raw ``postfix``
    overrides last (an override replaces the line it names, in place). Its tables are
    ``base/etc/domains.regexp`` (:func:`domains_regexp`) and ``base/etc/recipients.regexp``
    (:func:`recipients_regexp`)."""
    version = postfix_version()
    served = tuple(served) or (domain,)
    myhostname = spec.ehlo_hostname  # what EHLO says; the greeting is smtpd_banner
    settings: list[tuple[str, str]] = [
        ("compatibility_level", "3.6" if version >= (3, 6) else "2"),
        ("queue_directory", str(base / "queue")),
        ("data_directory", str(base / "data")),
        ("maillog_file", str(base / "maillog")),
        ("maillog_file_prefixes", str(base)),
        ("myhostname", myhostname),
        ("mydomain", domain),
        ("myorigin", "$mydomain"),
        # Virtual mailbox domains, not mydestination: Postfix always accepts postmaster@ a local domain
        # (and its own name, below a served domain, is one of them: the accept list decides there too).
        ("mydestination", "localhost"),
        ("smtpd_banner", spec.greeting_text),
        ("inet_interfaces", "loopback-only"),
        ("inet_protocols", "all" if ":" in spec.ip else "ipv4"),
        ("mynetworks", "127.0.0.0/8" if spec.relay == "open" else UNTRUSTED_NETWORK),
        ("smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"),
        # <nobody> gets 504 "need fully-qualified address" (<Postmaster> is exempt), as the fake says.
        ("smtpd_recipient_restrictions", "reject_non_fqdn_recipient"),
        ("alias_maps", ""),
        ("alias_database", ""),
        ("local_transport", NEVER_DELIVERED),
        ("virtual_transport", NEVER_DELIVERED),
        # Not error:, which smtpd already applies at RCPT time; discard accepts, and drops.
        ("default_transport", NEVER_DELIVERED),
        ("relay_transport", NEVER_DELIVERED),
        ("smtpd_peername_lookup", "no"),
        ("smtp_dns_support_level", "disabled"),
        ("smtpd_error_sleep_time", "0"),
        ("disable_vrfy_command", "yes" if spec.vrfy == "disabled" else "no"),
        ("smtpd_discard_ehlo_keywords", ", ".join(discarded_keywords(spec) or [])),
        ("biff", "no"),
    ]
    strict = spec.pipelining == "strict"
    if _forbids_unauth_pipelining():
        settings.append(("smtpd_forbid_unauth_pipelining", "yes" if strict else "no"))
    elif strict:
        # Older Postfix: the restriction fires where a restriction list is evaluated (with the default
        # smtpd_delay_reject, at RCPT and DATA), not at the offending command, and the session goes on.
        settings += [
            ("smtpd_client_restrictions", "reject_unauth_pipelining"),
            ("smtpd_data_restrictions", "reject_unauth_pipelining"),
        ]
    # Each served domain and every name below it, as the fake MTA takes them.
    domains = f"regexp:{base / 'etc' / 'domains.regexp'}"
    table = f"regexp:{base / 'etc' / 'recipients.regexp'}"
    if spec.role == "final":
        mailboxes = "static:ok" if spec.catch_all else table
        settings += [("virtual_mailbox_domains", domains), ("virtual_mailbox_maps", mailboxes)]
    elif spec.role == "backup":
        recipients = "" if spec.catch_all else table  # empty: no recipient list, any one is relayed
        settings += [("relay_domains", domains), ("relay_recipient_maps", recipients)]
    else:  # unlisted: the domain is in no address class, so its recipients are relay access denied
        settings += [("relay_domains", "")]
    if cert is None:
        settings.append(("smtpd_tls_security_level", "none"))
    else:
        protocols = ">=TLSv1.2" if version >= (3, 6) else "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"
        settings += [
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_cert_file", str(cert[0])),
            ("smtpd_tls_key_file", str(cert[1])),
            ("smtpd_tls_protocols", protocols),
            ("smtpd_tls_mandatory_protocols", protocols),
            ("smtpd_tls_loglevel", "1"),
        ]
    overrides = dict(spec.postfix)
    lines = [f"# Generated by mailspec's real-server tier for {spec.hostname} [{spec.ip}] ({domain})."]
    lines += [f"{key} = {overrides.pop(key, value)}" for key, value in settings]
    if overrides:
        lines.append("# --- overrides from the scenario ---")
        lines += [f"{key} = {value}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


def listen_address(ip: str, port: int) -> str:
    """``IP:PORT`` as master.cf (and ``--mail-server``) write it; IPv6 in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def master_cf(ip: str, port: int) -> str:
    """master.cf: one smtpd on *ip*:*port*, a fresh process per connection (``max_use=1``)."""
    return _MASTER_CF.format(listen=listen_address(ip, port), options="  -o max_use=1")


def unreachable(path: Path) -> str | None:
    """Why the ``postfix`` user cannot reach *path* (a folder on the way it may not enter), or ``None``.
    Postfix's daemons run as ``postfix``: its queue and data directories must be reachable, which
    pytest's own temporary folders (mode 0700) are not."""
    user = pwd.getpwnam("postfix")
    for folder in [path, *path.parents]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            continue  # to be created (with a mode that lets it in)
        if st.st_uid == user.pw_uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == user.pw_gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return f"the postfix user cannot enter {folder} (mode {stat.filemode(st.st_mode)})"
    return None


def runtime_dir(prefix: str = "mailspec-postfix-") -> Path:
    """A fresh folder the ``postfix`` user can reach (in the temporary directory, else /tmp); the
    caller removes it."""
    base = Path(tempfile.gettempdir())
    if unreachable(base):
        base = Path("/tmp")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    folder.chmod(0o755)
    return folder


def _prepare_dirs(base: Path) -> None:
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # the postfix user must reach its queue below it
    queue = base / "queue"
    queue.mkdir(exist_ok=True)
    for name, (owner, group, mode) in QUEUE_DIRS.items():
        path = queue / name
        path.mkdir(exist_ok=True)
        os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
        path.chmod(mode)
    data = base / "data"
    data.mkdir(exist_ok=True)
    os.chown(data, pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid)
    (base / "etc").mkdir(exist_ok=True)


def _write_settled(path: Path, text: str) -> None:
    """Write a configuration file dated a minute ago: Postfix rereads a file changed within the current
    second (300 ms apart, for up to 2 s) until it looks settled, which would cost every postconf and
    every master that long."""
    path.write_text(text, encoding="utf-8")
    past = time.time() - 60
    os.utime(path, (past, past))


# ------------------------------------------------------------------------------------ one instance
def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:]) if text else "(empty)"


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


#: seconds an instance may take to greet: dozens of Postfix masters spawn their smtpd at once, beside
#: another test module, on a loaded 2-core machine (10 s was seen to be too short once)
READY_TIMEOUT = 40.0


class PostfixInstance:
    """One Postfix master playing *spec* (an MTA of *domain*) on ``spec.ip``:*port*, everything it
    writes in *workdir* (``etc/``, ``queue/``, ``data/``, ``maillog``); its certificate from *ca*.

    ``with PostfixInstance(...) as mx: ...`` starts it and waits for its greeting; :meth:`stop` is
    safe to call at any time, more than once. *configure*, if given, is called with the configuration
    directory once the files generated from *spec* are there, to write a configuration of its own over
    them (``main.cf`` keeping this instance's ``queue_directory``, ``data_directory`` and
    ``maillog_file``, ``master.cf`` listening on ``spec.ip``:*port*).
    """

    def __init__(
        self,
        spec: MtaSpec,
        domain: str,
        port: int,
        workdir: Path,
        ca: LabCA,
        *,
        served: Sequence[str] = (),
        configure: Callable[[Path], None] | None = None,
    ) -> None:
        why = unplayable(spec)
        if why:
            raise ServerError(f"Postfix cannot play {spec.hostname} [{spec.ip}]: {why}")
        why = unreachable(workdir.parent)
        if why:
            raise ServerError(f"{workdir} cannot hold a Postfix instance: {why} (see runtime_dir())")
        self.spec = spec
        self.domain = domain
        #: the mail domains it takes mail for (with the names below them): the scenario's served_domains
        self.served = tuple(served) or (domain,)
        self.port = port
        self.workdir = workdir
        self.etc = workdir / "etc"
        self.queue = workdir / "queue"
        self.log = workdir / "maillog"
        _prepare_dirs(workdir)
        self.cert: tuple[Path, Path] | None = self._certificate(ca) if spec.offers_tls else None
        _write_settled(self.etc / "main.cf", main_cf(spec, domain, workdir, self.cert, self.served))
        _write_settled(self.etc / "domains.regexp", domains_regexp(self.served))
        _write_settled(self.etc / "recipients.regexp", recipients_regexp(spec, self.served))
        _write_settled(self.etc / "master.cf", master_cf(spec.ip, port))
        if configure is not None:
            configure(self.etc)
        self.process = Process(self.name, [_master(), "-c", str(self.etc), "-s"], workdir / "master.out")

    def _certificate(self, ca: LabCA) -> tuple[Path, Path]:
        chain, key = ca.issue(self.spec.certificate_names, self.spec.tls_flaws)
        # Copies in its own config directory: the instance does not depend on how the CA names files.
        mine = (self.etc / "smtpd-chain.pem", self.etc / "smtpd-key.pem")
        shutil.copyfile(chain, mine[0])
        shutil.copyfile(key, mine[1])
        mine[1].chmod(0o600)
        return mine

    # -------------------------------------------------------------- what clients need
    @property
    def name(self) -> str:
        return f"postfix {self.spec.hostname} [{self.endpoint}]"

    @property
    def ip(self) -> str:
        return self.spec.ip

    @property
    def address(self) -> tuple[str, int]:
        """``(ip, port)``, for ``socket.create_connection`` and ``smtplib.SMTP``."""
        return self.spec.ip, self.port

    @property
    def endpoint(self) -> str:
        return listen_address(self.spec.ip, self.port)

    @property
    def greeting(self) -> str:
        """The whole greeting line it sends, without CRLF."""
        return f"220 {self.spec.greeting_text}"

    @property
    def running(self) -> bool:
        """The master has been started and has not ended."""
        return self.process.proc is not None and self.process.proc.returncode is None and not self._ended()

    @property
    def pgid(self) -> int | None:
        """The process group of the master and everything it forks (None before :meth:`start`)."""
        return None if self.process.proc is None else self.process.proc.pid

    def _ended(self) -> bool:
        """The master has exited. Not reaped, on purpose: until it is, its PID (the id of its process
        group) cannot be reused, so that :meth:`stop` can still kill what it forked."""
        proc = self.process.proc
        if proc is None:
            return False
        if proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def main_cf(self) -> str:
        return (self.etc / "main.cf").read_text(encoding="utf-8")

    def messages(self) -> int:
        """How many messages this Postfix ever received or queued (:func:`postfix_messages`)."""
        return postfix_messages(self)

    def logs(self, lines: int = 15) -> str:
        parts = [f"--- {self.name}: {self.workdir}"]
        for path in (self.log, self.process.output):
            tail = _tail(path, lines)
            if tail != "(empty)":
                parts.append(f"--- {path.name}\n{tail}")
        return "\n".join(parts)

    def failed(self, why: str) -> ServerError:
        return ServerError(f"{self.name}: {why}\n{self.logs()}")

    # -------------------------------------------------------------- life cycle
    def check_config(self) -> str | None:
        """What ``postconf`` complains of in the generated configuration, or ``None``."""
        program = find_program("postconf")
        if program is None:
            return "postconf is not installed"
        proc = subprocess.run(
            [program, "-c", str(self.etc), "-n"], capture_output=True, text=True, check=False, timeout=30
        )
        complaints = [line for line in proc.stderr.splitlines() if "warning" in line or "fatal" in line]
        if proc.returncode != 0 or complaints:
            return "\n".join(complaints or [proc.stderr.strip()])
        return None

    def start(self) -> None:
        if self.running:
            raise ServerError(f"{self.name} is already running")
        self.process.start()

    def wait_ready(self, deadline: float) -> None:
        """Until the port answers with the greeting (a fresh smtpd has read its configuration and
        certificate); a fatal error in the log or an exited master fails at once, with the logs."""
        while True:
            if self._ended():
                raise self.failed("the master exited while starting")
            line = self._first_line()
            if line.startswith("220"):
                return
            fatal = [ln for ln in _tail(self.log, 50).splitlines() if " fatal: " in ln or " panic: " in ln]
            if fatal:
                raise self.failed(f"Postfix reports: {fatal[-1]}")
            if time.monotonic() > deadline:
                seen = f" (it answered {line!r})" if line else ""
                raise self.failed(f"no 220 greeting on {self.endpoint} within {READY_TIMEOUT:g} s{seen}")
            time.sleep(0.02)

    def _first_line(self) -> str:
        try:
            with socket.create_connection(self.address, timeout=1.0) as sock:
                data = b""
                while b"\n" not in data and len(data) < 4096:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220"):
                    with contextlib.suppress(OSError):
                        sock.sendall(b"QUIT\r\n")
                        sock.recv(4096)
                return data.decode("ascii", "replace").strip()
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM to the master, which passes it on to its process group; returns at once."""
        proc = self.process.proc
        if proc is not None and proc.returncode is None and not self._ended():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """:meth:`terminate`, wait for the master to end (SIGKILL to its group after *timeout*), then
        SIGKILL whatever it forked that is still there, and reap it; safe at any time, more than once."""
        proc = self.process.proc
        if proc is None or proc.returncode is not None:
            return
        self.terminate()
        deadline = time.monotonic() + timeout
        while not self._ended() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Unreaped, its PID still names its group: this reaches its children and nothing else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)

    def __enter__(self) -> PostfixInstance:
        self.start()
        try:
            self.wait_ready(time.monotonic() + READY_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<PostfixInstance {self.name} {'running' if self.running else 'stopped'}>"


def postfix_messages(instance: PostfixInstance) -> int:
    """The number of messages *instance* ever received or queued: the distinct queue ids its log
    names in pickup, cleanup (``message-id=``) and qmgr (``from=``) lines, together with the messages
    still in its queue (a complete file in ``incoming``, any in ``maildrop``, ``active``, ``deferred``,
    ``hold``, ``corrupt``). An envelope without DATA leaves none of these: smtpd's ``client=`` line and
    unfinished queue file do not count. Safe to call whether it runs or not."""
    ids: set[str] = set()
    try:
        with open(instance.log, encoding="utf-8", errors="replace") as log:
            for line in log:
                match = _MESSAGE_LOG.search(line)
                if match:
                    ids.add(match.group(1))
    except FileNotFoundError:
        pass
    for name in MESSAGE_DIRS:
        for folder, _, files in os.walk(instance.queue / name):
            for file in files:
                try:
                    mode = os.lstat(os.path.join(folder, file)).st_mode
                except FileNotFoundError:  # delivered and removed meanwhile: its log line counts it
                    continue
                # cleanup sets the owner-execute bit once a message is complete (MAIL_QUEUE_STAT_READY)
                if stat.S_ISREG(mode) and (name != "incoming" or mode & stat.S_IXUSR):
                    ids.add(file)
    return len(ids)


def leftover_processes(instance: PostfixInstance) -> list[str]:
    """Live processes (``pgrep``) of a stopped *instance*: its master (``-c ETC``), its smtpd
    (``IP:PORT`` in the argument list) or anything else in its process group. Zombies, already dead
    and waiting for init to reap them, do not count."""
    pgrep = find_program("pgrep")
    if pgrep is None:
        raise ServerError("pgrep is not installed (Debian package procps)")
    queries = [["-f", f"-c {instance.etc}"], ["-f", instance.endpoint]]
    if instance.pgid is not None:
        queries.append(["-g", str(instance.pgid)])
    found: dict[int, str] = {}
    for query in queries:
        proc = subprocess.run([pgrep, "-a", *query], capture_output=True, text=True, check=False)
        for line in proc.stdout.splitlines():
            pid, _, argv = line.partition(" ")
            if pid.isdigit() and int(pid) != os.getpid() and not _zombie(int(pid)):
                found[int(pid)] = argv
    return [f"{pid} {argv}" for pid, argv in sorted(found.items())]


def _zombie(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # gone
    return text.rpartition(")")[2].split()[:1] == ["Z"]


def free_tcp_port(addresses: Sequence[str], attempts: int = 50) -> int:
    """A TCP port that is free on every one of *addresses* (IPv4 or IPv6)."""
    rng = random.Random()
    last: OSError | None = None
    for _ in range(attempts):
        port = rng.randrange(*PORT_RANGE)
        held: list[socket.socket] = []
        try:
            for ip in addresses:
                sock = socket.socket(_family(ip), socket.SOCK_STREAM)
                held.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((ip, port))
            return port
        except OSError as exc:
            last = exc
        finally:
            for sock in held:
                sock.close()
    raise ServerError(f"no TCP port in {PORT_RANGE[0]}-{PORT_RANGE[1]} is free on the MTA addresses: {last}")


# ------------------------------------------------------------------------------------ a whole lab
class PostfixLab:
    """Scenarios with their DNS from the embedded lab (``Lab(scenarios, mtas=False)``) and every
    ``kind = "postfix"`` MTA played by a real Postfix, all on one SMTP port (:attr:`smtp_port`)::

        with PostfixLab(scenarios, tmp) as lab:
            smtplib.SMTP(*lab.instance("mx1.good.test").address)

    MTAs Postfix cannot play are not started: :attr:`unplayed` says which and why, and
    :attr:`skipped` names the scenarios that are therefore not played as written.
    """

    def __init__(self, scenarios: Sequence[Scenario], workdir: Path, *, smtp_port: int = 0) -> None:
        self.scenarios = list(scenarios)
        #: where each instance's configuration and logs are kept once the lab has stopped
        self.workdir = workdir
        #: where the instances run (a :func:`runtime_dir`, removed at :meth:`stop`)
        self.rundir: Path | None = None
        self.smtp_port = smtp_port
        self.lab: Lab | None = None
        self.ca: LabCA | None = None
        self.instances: list[PostfixInstance] = []
        self._owners: list[str] = []
        self._final_messages: dict[str, int] | None = None
        #: "hostname [ip]" of each MTA not played -> why
        self.unplayed: dict[str, str] = {}
        #: scenario name -> why it is not played as written (an MTA, or its ident server, is not played)
        self.skipped: dict[str, str] = {}
        #: (what, seconds): how long each phase took
        self.timings: list[tuple[str, float]] = []
        self._plan: list[tuple[Scenario, MtaSpec]] = []
        for sc in self.scenarios:
            for spec in sc.mtas:
                label = f"{spec.hostname} [{spec.ip}]"
                why = unplayable(spec)
                if why:
                    self.unplayed[label] = why
                else:
                    self._plan.append((sc, spec))
                    why = not_played_aside(spec)
                if why:
                    self.skipped.setdefault(sc.name, f"{label}: {why}")

    # -------------------------------------------------------------- what clients need
    def _running_lab(self) -> Lab:
        if self.lab is None:
            raise ServerError("the Postfix lab is not running")
        return self.lab

    @property
    def resolver(self) -> str:
        """``IP:PORT`` of the lab's resolver, for ``--mail-resolver``."""
        return self._running_lab().resolver

    @property
    def dns_port(self) -> int:
        return self._running_lab().dns_port

    @property
    def ca_path(self) -> Path:
        """The CA every lab certificate chains to, for ``--mail-ca``."""
        if self.ca is None:
            raise ServerError("the Postfix lab is not running")
        return Path(self.ca.ca_path)

    @property
    def domains(self) -> list[str]:
        return [sc.domain for sc in self.scenarios]

    @property
    def waivers(self) -> list[str]:
        """The scenarios' waivers, ``ID@domain=REASON``, as ``--mail-waive`` takes them."""
        return [waiver for sc in self.scenarios for waiver in sc.waivers]

    def instance(self, key: str) -> PostfixInstance:
        """The instance playing the MTA with this address or host name."""
        for inst in self.instances:
            if key in (inst.spec.ip, inst.spec.hostname, inst.endpoint):
                return inst
        raise KeyError(f"no Postfix plays {key!r}; it plays {', '.join(i.name for i in self.instances)}")

    def instances_of(self, scenario: Scenario | str) -> list[PostfixInstance]:
        """The instances playing the MTAs of *scenario* (a scenario or its name)."""
        name = scenario if isinstance(scenario, str) else scenario.name
        return [inst for owner, inst in self.played if owner == name]

    @property
    def played(self) -> list[tuple[str, PostfixInstance]]:
        """(scenario name, instance) for every instance."""
        return list(zip(self._owners, self.instances, strict=True))

    def messages(self) -> int:
        """How many messages all instances together ever received or queued (should stay 0); after
        :meth:`stop` (which removes their queues and logs), what they had when it stopped them."""
        return sum(self.messages_by_instance().values())

    def messages_by_instance(self) -> dict[str, int]:
        """Instance name -> :func:`postfix_messages` (counted at :meth:`stop` once stopped)."""
        if self.rundir is None and self._final_messages is not None:
            return dict(self._final_messages)
        return {inst.name: postfix_messages(inst) for inst in self.instances}

    def mailspec_args(self, scenarios: Iterable[Scenario | str] | None = None) -> list[str]:
        """mailspec's options for a survey of this lab, as ``--mail-lab`` sets them for the embedded
        one: where the resolver, name servers, MTAs (``--mail-smtp-port``) and CA are, the lab's probe
        name, blocklist and greylisting pause; then ``--mail-domain`` and the waivers of *scenarios*
        (names or scenarios; default: every one of the lab). Add ``--mail-probe`` and a report."""
        wanted = (
            self.scenarios
            if scenarios is None
            else [sc for sc in self.scenarios for w in scenarios if w in (sc, sc.name, sc.domain)]
        )
        return [
            f"--mail-resolver={self.resolver}",
            f"--mail-dns-port={self.dns_port}",
            f"--mail-smtp-port={self.smtp_port}",
            f"--mail-ca={self.ca_path}",
            f"--mail-probe-helo={PROBE_HELO}",
            *(f"--mail-dnsbl={zone}" for zone in LAB_DNSBLS),
            f"--mail-smtp-retry={LAB_RETRY:g}",
            # the lab's MTA-STS policy hosts, and the DKIM selectors its scenarios publish
            *(
                [f"--mail-https-port={self.lab.https_port}"]
                if self.lab is not None and self.lab.https_port
                else []
            ),
            *(f"--mail-domain={sc.domain}" for sc in wanted),
            *(f"--mail-waive={waiver}" for sc in wanted for waiver in sc.waivers),
            *(f"--mail-dkim-selector={s}" for sc in wanted for s in sc.dkim_subjects),
        ]

    def logs(self, lines: int = 15, *, ips: Iterable[str] | None = None) -> str:
        """The end of every instance's logs, or of those playing *ips*."""
        wanted = None if ips is None else set(ips)
        return "\n".join(
            inst.logs(lines) for inst in self.instances if wanted is None or inst.spec.ip in wanted
        )

    # -------------------------------------------------------------- life cycle
    def start(self) -> PostfixLab:
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        try:
            self.lab = Lab(self.scenarios, mtas=False)
            self.lab.start()
            # The lab's own CA, so that its other TLS servers and these MTAs chain to one --mail-ca.
            lab_ca = getattr(self.lab, "ca", None)
            self.rundir = runtime_dir()
            if isinstance(lab_ca, LabCA):
                self.ca = lab_ca
            else:
                (self.workdir / "ca").mkdir(exist_ok=True)
                self.ca = LabCA(self.workdir / "ca")
            t1 = time.monotonic()
            if not self.smtp_port:
                self.smtp_port = free_tcp_port([spec.ip for _, spec in self._plan] or ["127.0.0.1"])
            for sc, spec in self._plan:
                folder = self.rundir / f"postfix-{spec.ip.replace(':', '_')}"
                inst = PostfixInstance(
                    spec, sc.domain, self.smtp_port, folder, self.ca, served=sc.served_domains
                )
                self.instances.append(inst)
                self._owners.append(sc.name)
            with ThreadPoolExecutor(max_workers=4) as pool:
                complaints = list(pool.map(PostfixInstance.check_config, self.instances))
            for inst, complaint in zip(self.instances, complaints, strict=True):
                if complaint:
                    raise ServerError(f"{inst.name}: postconf rejects {inst.etc / 'main.cf'}:\n{complaint}")
            t2 = time.monotonic()
            for inst in self.instances:  # they start in parallel; waiting for each in turn costs no more
                inst.start()
            deadline = time.monotonic() + READY_TIMEOUT
            for inst in self.instances:
                inst.wait_ready(deadline)
            t3 = time.monotonic()
        except BaseException:
            self.stop()
            raise
        self.timings += [
            ("lab DNS ready", t1 - t0),
            (f"{len(self.instances)} Postfix configured", t2 - t1),
            (f"{len(self.instances)} Postfix ready", t3 - t2),
        ]
        return self

    def stop(self) -> None:
        """Stop every instance and the lab; safe after a failed start, and more than once."""
        instances = list(self.instances)
        errors: list[BaseException] = []
        for inst in instances:  # SIGTERM to all first: they wind down together
            inst.terminate()
        for inst in instances:
            try:
                inst.stop()
            except Exception as exc:  # one failure must not leave the others running
                errors.append(exc)
        lab, self.lab = self.lab, None
        if lab is not None:
            try:
                lab.stop()
            except Exception as exc:
                errors.append(exc)
        if self.rundir is not None:
            self._final_messages = {inst.name: postfix_messages(inst) for inst in instances}
        rundir, self.rundir = self.rundir, None
        if rundir is not None:
            self._keep_logs(rundir)
            shutil.rmtree(rundir, ignore_errors=True)
        if errors:
            raise ServerError(f"the Postfix lab did not stop cleanly: {errors[0]}") from errors[0]

    def _keep_logs(self, rundir: Path) -> None:
        """Each instance's configuration and logs, copied to :attr:`workdir` (the queues are not)."""
        for folder in sorted(rundir.glob("postfix-*")):
            keep = self.workdir / folder.name
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("etc/main.cf", "etc/master.cf", "maillog", "master.out"):
                with contextlib.suppress(OSError):
                    shutil.copyfile(folder / name, keep / Path(name).name)

    def __enter__(self) -> PostfixLab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
