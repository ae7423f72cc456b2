"""The one module that reads a mail host (through a pytest-testinfra ``Host``): its MTA's own tools
(Postfix ``postconf``, ``postmap -q``, ``postalias -q``; Exim ``exim -bP`` with its ``config`` and
``transports``, ``exim -bt``, and ``exim -bh`` for its ACLs' verdict on a relaying attempt), its
sockets (``ss``), addresses (``ip``), resolver (``getent``), TLS files and packet filter. Synchronous,
no pytest: :func:`read_mta` returns one frozen :class:`~mailspec.facts.host.MtaConfig`.

A part that cannot be read (a tool missing, permission denied, a command that fails) is recorded as
unread, with the reason: the checks that need it could not test (ERROR), never fail.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, Protocol

from mailspec.facts.host import MtaConfig, RelayProbe, RoleRoute, TlsFiles
from mailspec.records.addresses import is_ip_address
from mailspec.records.certs import CertError, parse_cert
from mailspec.records.exim import (
    WILDCARDS,
    AclRun,
    acl_files,
    exim_list,
    listening_on,
    parse_bh,
    parse_bh_trace,
    parse_bp,
    parse_bp_sections,
    parse_bt_routes,
    parse_config,
)
from mailspec.records.postfix import (
    MasterService,
    access_tables,
    cidr_keys,
    file_patterns,
    listable,
    network_entry_kind,
    parse_master,
    parse_postconf,
    parse_service_params,
    smtpd_param,
    smtpd_service,
    split_list,
    table_entries,
)

__all__ = ["ROLES", "HostLike", "read_mta"]

#: the role addresses whose routes are read (bare, and @ each surveyed domain)
ROLES = ("postmaster", "abuse")
#: how deep an alias may point at another before the route is given up as a loop
MAX_DEPTH = 8
#: how a file that is not there is described
ABSENT = "does not exist"
#: how much of a command's output goes to the evidence
SHOWN = 12


class HostLike(Protocol):
    """What mailspec uses of a testinfra ``Host``."""

    def run(self, command: str, *args: str) -> Any: ...


#: how many times --mail-timeout the slow commands (postconf -x, exim -bP) may take
SLOW = 3
#: how much of a file the reader takes (``head -c``)
MAX_BYTES = 1_000_000
#: the places the MTA's tools are looked for when ``command -v`` does not find them
SBIN = ("/usr/sbin/", "/usr/local/sbin/", "/sbin/")
#: the exit statuses of ``timeout`` when it stopped the command (TERM, then KILL)
TIMED_OUT = (124, 137)


class _Reader:
    def __init__(self, host: HostLike, timeout: float = 10.0) -> None:
        self.host = host
        self.timeout = timeout
        self.commands: list[str] = []
        self.unread: dict[str, str] = {}
        #: the full path of a tool found outside the PATH (``postconf`` -> ``/usr/sbin/postconf``)
        self.paths: dict[str, str] = {}
        self._bounded: bool | None = None

    def bounded(self) -> bool:
        """Whether the host has ``timeout`` (asked once; without it, commands run unbounded)."""
        if self._bounded is None:
            try:
                found = int(self.host.run("sh -c 'command -v timeout'").rc) == 0
            except Exception:
                found = False
            self._bounded = found
        return self._bounded

    def limit(self, slow: bool = False) -> float:
        return self.timeout * (SLOW if slow else 1)

    def command(self, argv: Sequence[str], slow: bool = False) -> tuple[str, bool]:
        """The shell text that runs ``argv`` on the host, time-bounded when the host can, and
        whether it is."""
        argv = [self.paths.get(argv[0], argv[0]), *argv[1:]]
        script = (
            argv[2] if len(argv) == 3 and argv[:2] == ["sh", "-c"] else " ".join(shlex.quote(a) for a in argv)
        )
        if not self.bounded():
            return " ".join(shlex.quote(a) for a in argv), False
        t = f"{self.limit(slow):g}"
        return f"timeout -k 2 {t} sh -c {shlex.quote(script)}", True

    def execute(self, argv: Sequence[str], slow: bool = False) -> tuple[Any, str, str]:
        """(the backend's result or None, the command as shown, why it could not run or "")."""
        cmd, wrapped = self.command(argv, slow)
        shown_cmd = " ".join(shlex.quote(a) for a in argv)
        try:
            result = self.host.run(cmd)
        except Exception as exc:  # a backend that could not run it at all (ssh down, say)
            return None, shown_cmd, f"could not run: {exc}"
        if wrapped and int(result.rc) in TIMED_OUT:
            return None, shown_cmd, f"could not run: timed out after {self.limit(slow):g} s"
        return result, shown_cmd, ""

    def run(self, *argv: str, shown: int = SHOWN, slow: bool = False) -> tuple[int, str, str]:
        result, cmd, why = self.execute(argv, slow)
        if result is None:
            self.commands.append(f"$ {cmd}  # {why}")
            return 255, "", why
        rc, out, err = int(result.rc), str(result.stdout), str(result.stderr)
        lines = out.splitlines()
        self.commands.append(f"$ {cmd}  # exit {rc}")
        self.commands += [f"  {line}" for line in lines[:shown]]
        if len(lines) > shown:
            self.commands.append(f"  ... ({len(lines) - shown} more lines)")
        if rc and err.strip():
            self.commands.append(f"  (stderr) {err.strip().splitlines()[0]}")
        return rc, out, err

    def failed(self, part: str, argv: Sequence[str], rc: int, err: str) -> None:
        why = err.strip().splitlines()[0] if err.strip() else f"exit status {rc}"
        if rc == 127:
            why = f"{argv[0]} is not installed or not on the PATH ({why})"
        self.unread[part] = f"`{' '.join(argv)}` failed: {why}"


def _found(reader: _Reader, tool: str, *others: str) -> bool:
    """Whether ``tool`` is on the host: on the PATH, else in an sbin directory (then it, and the
    ``others`` of its suite beside it, run by their full path)."""
    rc, _, _ = reader.run("sh", "-c", f"command -v {tool}", shown=1)
    if rc == 0:
        return True
    for folder in SBIN:
        rc, _, _ = reader.run("test", "-x", folder + tool, shown=0)
        if rc == 0:
            for name in (tool, *others):
                reader.paths[name] = folder + name
            return True
    return False


def read_mta(
    host: HostLike, host_id: str, *, mta: str = "auto", config: str | None = None,
    domains: Sequence[str] = (), timeout: float = 10.0, port: int = 25,
) -> MtaConfig:  # fmt: skip
    """Read the host's MTA once: Postfix or Exim (``mta``: auto, postfix or exim), its configuration
    ``config`` (Postfix's directory, Exim's file; None: the MTA's default), and the routes of the
    role addresses bare and at each of ``domains``. Postfix's TLS files and ``mynetworks`` are the
    ones of the smtpd that serves the SMTP port ``port`` (its master.cf ``-o`` overrides). Each
    command is bounded by ``timeout`` seconds (a few times it for the slow ones) where the host has
    ``timeout(1)``."""
    r = _Reader(host, timeout)
    chosen = mta
    if mta == "auto":
        if _found(r, "postconf", *POSTFIX_TOOLS):
            chosen = "postfix"
        elif _found(r, "exim") or _found(r, "exim4"):
            chosen = "exim"
        else:
            return MtaConfig(host_id, "", config or "", f"no Postfix or Exim found on {host_id}",
                             commands=tuple(r.commands))  # fmt: skip
    elif mta == "postfix":
        _found(r, "postconf", *POSTFIX_TOOLS)
    if chosen == "postfix":
        return _postfix(r, host_id, config, domains, port)
    return _exim(r, host_id, config, domains, port)


#: the Postfix tools that sit beside postconf
POSTFIX_TOOLS = ("postmap", "postalias")


def _host_parts(r: _Reader, hostname: str) -> dict[str, Any]:
    addresses: list[str] = []
    rc, out, err = r.run("ip", "-o", "addr", "show")
    if rc == 0:
        addresses = [m.group(1) for m in re.finditer(r"\binet6?\s+([0-9A-Fa-f:.]+)(?:/\d+)?", out)]
    else:
        rc2, out2, _ = r.run("hostname", "-I")
        if rc2 == 0:
            addresses = out2.split()
        else:
            r.failed("addresses", ["ip", "-o", "addr", "show"], rc, err)
    listening: list[tuple[str, int]] = []
    rc, out, err = r.run("ss", "-H", "-l", "-t", "-n", shown=40)
    if rc == 0:
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 4:
                addr, _, port = fields[3].rpartition(":")
                addr = addr.strip("[]").split("%", 1)[0]
                if port.isdigit():
                    listening.append((addr, int(port)))
    else:
        r.failed("sockets", ["ss", "-H", "-l", "-t", "-n"], rc, err)
    hostname_ips: list[str] = []
    if hostname:
        rc, out, err = r.run("getent", "ahosts", hostname)
        if rc == 0:
            hostname_ips = list(dict.fromkeys(line.split()[0] for line in out.splitlines() if line.split()))
        elif rc != 2:  # (2: the name is not found, which is the check's finding)
            r.failed("hostname", ["getent", "ahosts", hostname], rc, err)
    firewall, tool, why = "", "", []
    empty_nft, iptables_rc = False, 0
    for argv in (["nft", "list", "ruleset"], ["iptables", "-S"]):
        rc, out, err = r.run(*argv, shown=4)
        if rc == 0 and argv[0] == "nft" and not out.strip():
            # (an empty ruleset: nftables holds nothing here, and an iptables-legacy host keeps its
            # rules in the legacy tables, which only iptables shows)
            empty_nft = True
            continue
        if rc == 0:
            firewall, tool = out, " ".join(argv)
            if argv[0] == "iptables":
                rc6, out6, _ = r.run("ip6tables", "-S", shown=4)
                firewall += ("\n" + out6) if rc6 == 0 else ""
            break
        iptables_rc = rc
        r.failed("firewall", argv, rc, err)
        why.append(r.unread["firewall"])
    if not tool and empty_nft and iptables_rc == 127:  # (no iptables at all: the empty ruleset is all)
        tool = "nft list ruleset"
    if tool:
        r.unread.pop("firewall", None)
    else:
        r.unread["firewall"] = "the packet filter could not be read: " + "; ".join(why)
    return {
        "addresses": tuple(dict.fromkeys(addresses)),
        "listening": tuple(dict.fromkeys(listening)),
        "hostname_ips": tuple(hostname_ips),
        "firewall": firewall,
        "firewall_tool": tool,
    }


# ------------------------------------------------------------------------------------------- Postfix
def _postfix(r: _Reader, host_id: str, config: str | None, domains: Sequence[str], port: int) -> MtaConfig:
    c = ["-c", config] if config else []
    argv = ["postconf", *c, "-x"]
    rc, out, err = r.run(*argv, shown=0, slow=True)
    if rc != 0:
        r.failed("postconf", argv, rc, err)
        return MtaConfig(host_id, "postfix", config or "", f"could not read Postfix's settings on {host_id}: "
                         f"{r.unread['postconf']}", commands=tuple(r.commands))  # fmt: skip
    values = parse_postconf(out)
    rc, out, err = r.run("postconf", *c, "-n", shown=60, slow=True)
    nondefault = parse_postconf(out) if rc == 0 else {}
    if rc:
        r.failed("postconf -n", ["postconf", *c, "-n"], rc, err)
    rc, out, err = r.run("postconf", *c, "-M", shown=30, slow=True)
    services = tuple(parse_master(out)) if rc == 0 else ()
    if rc:
        r.failed("master.cf", ["postconf", *c, "-M"], rc, err)
    elif services:
        # (the -o overrides as Postfix reads them: braces removed, $names expanded, postconf -P -x;
        # Postfix 2.11 and later)
        rc, out, err = r.run("postconf", *c, "-P", "-x", shown=30, slow=True)
        if rc == 0:
            params = parse_service_params(out)
            services = tuple(
                dataclasses.replace(s, options=tuple(params.get((s.name, s.type), ()))) for s in services
            )
        else:
            r.commands.append("# (the -o overrides as postconf -M prints them: $names not expanded)")
    parts = _host_parts(r, values.get("myhostname", ""))
    roles: dict[str, RoleRoute] = {}
    for role in ROLES:
        for addr in [role, *(f"{role}@{d}" for d in domains)]:
            roles[addr] = _postfix_route(r, c, values, services, addr)
    # (the smtpd on the SMTP port, or behind postscreen its pass smtpd, uses its -o overrides)
    smtpd = {n: smtpd_param(values, services, n, port) for n in SMTPD_FILES}
    tls, *more_tls = _tls(r, {**values, **smtpd})
    access: dict[str, str] = {}
    networks = _networks(r, values.get("mynetworks", ""), smtpd["mynetworks"])
    front = smtpd_service(services, port)
    style = front.option("mynetworks_style") if front is not None else None
    if (
        front is not None
        and style is not None
        and front.option("mynetworks") is None
        and ("mynetworks" not in nondefault)
    ):
        # (postconf -x computed mynetworks from main.cf's mynetworks_style, not the override's)
        r.unread["mynetworks"] = (
            f"master.cf's {front.name} service sets mynetworks_style = {style} and no mynetworks: the "
            "networks it trusts were not computed"
        )
    entries: dict[str, tuple[tuple[str, str], ...]] = {}
    for table in access_tables(values, services):
        if listable(table):
            # (every key, from the database Postfix reads: its source file may have changed since)
            rc, out, err = r.run("postmap", *c, "-s", table, shown=3)
            listed = table_entries(out) if rc == 0 else []
            if rc == 0 and len(listed) <= MAX_ENTRIES:
                entries[table] = tuple(listed)
        for role in ROLES:
            for key in [f"{role}@", *(f"{role}@{d}" for d in domains)]:
                found, problem = _lookup(r, c, "postmap", key, table)
                if problem:
                    r.unread[f"access {table}"] = problem
                access[f"{table}|{key}"] = found or ""
    return MtaConfig(
        host_id, "postfix", config or "", "", values, nondefault, services, unread=dict(r.unread),
        roles=roles, tls=tls, more_tls=tuple(more_tls), access=access, access_entries=entries,
        networks=networks,
        commands=tuple(r.commands), **parts,
    )  # fmt: skip


#: the most entries of a check_recipient_access table that are judged one by one (a larger table
#: is judged by its role address lookups alone)
MAX_ENTRIES = 20_000

#: the smtpd parameters the host reader follows into files (their master.cf overrides included)
SMTPD_FILES = (
    "mynetworks",
    "smtpd_tls_chain_files",
    "smtpd_tls_cert_file",
    "smtpd_tls_key_file",
)


def _networks(r: _Reader, *lists: str) -> dict[str, tuple[str, ...]]:
    """The entries of the ``mynetworks`` elements (of each of ``lists``: main.cf's, the SMTP
    port's override) that are a file or a table: a file's patterns, a ``cidr:`` table's keys (read
    as text); another table, which cannot be listed, is recorded as unread (``mynetworks ENTRY``)."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in dict.fromkeys(e for value in lists for e in split_list(value)):
        kind = network_entry_kind(entry)
        if kind == "network":
            continue
        part = f"mynetworks {entry}"
        if kind == "table" and not entry.lower().startswith("cidr:"):
            r.unread[part] = (
                f"mynetworks has {entry}, a table whose entries cannot be listed (only a file or a "
                "cidr: table is read)"
            )
            continue
        path = entry.split(":", 1)[1] if kind == "table" else entry
        data, problem = _read(r, path)
        if problem:
            r.unread[part] = f"mynetworks has {entry}, which could not be read: {problem}"
            continue
        text = data.decode("utf-8", "replace")
        out[entry] = tuple(cidr_keys(text) if kind == "table" else file_patterns(text))
    return out


def _tables(values: dict[str, str], name: str) -> list[str]:
    return [t for t in split_list(values.get(name, "")) if ":" in t]


def _lookup(r: _Reader, c: list[str], tool: str, key: str, table: str) -> tuple[str | None, str]:
    """(the result, or None if not found; why it could not be asked, or "")."""
    argv = [tool, *c, "-q", key, table]
    rc, out, err = r.run(*argv, shown=3)
    if rc == 0:
        return out.strip(), ""
    if rc == 1:
        return None, ""
    why = err.strip().splitlines()[0] if err.strip() else f"exit status {rc}"
    return None, f"`{' '.join(argv)}` failed: {why}"


#: Postfix's address classes (ADDRESS_CLASS_README), in the order trivial-rewrite tries them
CLASSES = ("mydestination", "virtual_alias_domains", "virtual_mailbox_domains", "relay_domains")


def _in_list(r: _Reader, c: list[str], values: dict[str, str], name: str, domain: str) -> tuple[bool, str]:
    """Whether ``domain`` is in the domain list ``name`` (its names, and its tables through
    ``postmap -q``); why it could not be asked, or ""."""
    for item in split_list(values.get(name, "")):
        if ":" not in item:
            if item.lower().rstrip(".") == domain:
                return True, ""
            continue
        found, problem = _lookup(r, c, "postmap", domain, item)
        if problem:
            return False, f"whether {domain} is in {name}: {problem}"
        if found is not None:
            return True, ""
    return False, ""


def _postfix_route(
    r: _Reader, c: list[str], values: dict[str, str], services: Sequence[MasterService], address: str
) -> RoleRoute:
    steps: list[str] = []
    seen: set[str] = set()
    classes: dict[str, str] = {}
    foreign = False

    def deliver_locally(addr: str, domain: str) -> tuple[str, bool, str, bool]:
        """Whether local(8) gets mail to a local ``addr``: (where, deliverable, problem, decided);
        decided is False when it does (the aliases and users then decide)."""
        entry, origin = values.get("local_transport", "local"), "local_transport"
        keys = [addr, *([domain] if domain else []), "*"]
        for table in _tables(values, "transport_maps"):
            for key in keys:
                found, problem = _lookup(r, c, "postmap", key, table)
                if problem:
                    return "", False, problem, True
                if found:
                    entry, origin = found, f"transport_maps {table}: {key}"
                    break
            else:
                continue
            break
        name, _, nexthop = entry.strip().partition(":")
        command = _transport_command(services, name.strip().lower())
        if command == "local":
            return "", False, "", False
        steps.append(f"{origin} = {entry}")
        if command in ("error", "discard"):
            verb = "bounces" if command == "error" else "discards"
            return f"local mail is disabled ({origin} {verb} it)", False, "", True
        if origin != "local_transport" and command in ("smtp", "lmtp") and nexthop.strip():
            return f"relayed by {name} to {nexthop.strip()}", True, "", True
        return (
            "",
            False,
            (
                f"{origin} = {entry} (master.cf: {command or 'no such service'}): mail to {addr} is not "
                "delivered by local(8), whose aliases and users are read here; whether it is deliverable "
                "is that transport's to say"
            ),
            True,
        )

    def klass(domain: str) -> tuple[str, str]:
        """The address class of ``domain`` (a name of CLASSES, or "" for none), and why it could
        not be told ("")."""
        if domain not in classes:
            for name in CLASSES:
                found, problem = _in_list(r, c, values, name, domain)
                if problem:
                    return "", problem
                if found:
                    steps.append(f"{domain} is in {name}")
                    classes[domain] = name
                    break
            else:
                classes[domain] = ""
        return classes[domain], ""

    def walk(addr: str, depth: int) -> tuple[str, bool, str]:
        nonlocal foreign
        if depth > MAX_DEPTH or addr in seen:
            return f"an alias loop at {addr}", False, ""
        seen.add(addr)
        if addr.startswith("|"):
            return f"command {addr}", True, ""
        if addr.startswith("/"):
            return (f"file {addr}", addr.strip() != "/dev/null", "")
        if addr.startswith(":include:"):
            return f"include file {addr[9:]}", True, ""
        local, at, domain = addr.partition("@")
        domain = domain.lower().rstrip(".")
        kind, problem = klass(domain) if at else ("mydestination", "")
        if problem:
            return "", False, problem
        if at and not kind and depth == 0:
            # (smtpd refuses a recipient in no address class: "Relay access denied")
            steps.append(f"{domain} is in none of {', '.join(CLASSES)}")
            foreign = True
            return f"not accepted for {domain}", False, ""
        keys = [addr] + ([f"@{domain}"] if at else [])
        for table in _tables(values, "virtual_alias_maps"):
            for key in keys:
                found, problem = _lookup(r, c, "postmap", key, table)
                if problem:
                    return "", False, problem
                if found is not None:
                    steps.append(f"virtual_alias_maps {table}: {key} -> {found}")
                    return _many(found, addr if key == addr else f"{local}@{domain}", depth)
        if kind == "mydestination":
            # (local(8) expands the aliases and finds the users: trivial-rewrite hands it the mail
            # unless transport_maps says otherwise or local_transport is another transport)
            where, ok, problem, done = deliver_locally(
                f"{local}@{domain or values.get('myorigin', '')}", domain
            )
            if done:
                return where, ok, problem
            for table in _tables(values, "alias_maps"):
                found, problem = _lookup(r, c, "postalias", local.lower(), table)
                if problem:
                    return "", False, problem
                if found is not None:
                    steps.append(f"alias_maps {table}: {local.lower()} -> {found}")
                    return _many(found, addr, depth)
            rc, _, err = r.run("getent", "passwd", local, shown=1)
            if rc == 0:
                steps.append(f"local user {local} exists")
                return f"local user {local}", True, ""
            if rc != 2:
                return "", False, f"`getent passwd {local}` failed: {err.strip() or f'exit status {rc}'}"
            steps.append(f"no alias and no local user named {local}")
            return f"no alias and no local user {local}", False, ""
        if kind == "virtual_alias_domains":
            steps.append(f"{addr}: no virtual alias")
            return f"no virtual alias for {addr} ({domain} is a virtual alias domain)", False, ""
        if kind == "virtual_mailbox_domains":
            for table in _tables(values, "virtual_mailbox_maps"):
                found, problem = _lookup(r, c, "postmap", addr, table)
                if problem:
                    return "", False, problem
                if found is not None:
                    steps.append(f"virtual_mailbox_maps {table}: {addr} -> {found}")
                    return f"virtual mailbox {found}", True, ""
            steps.append(f"{addr}: no virtual mailbox")
            return f"no virtual mailbox for {addr}", False, ""
        if kind == "relay_domains":
            steps.append(f"{domain} is in relay_domains: relayed on")
            return f"relayed to {domain}'s next hop", True, ""
        # (an alias that points to another domain's address: mail is forwarded there)
        return f"remote {addr}", True, ""

    def _many(found: str, origin: str, depth: int) -> tuple[str, bool, str]:
        targets = [t.strip().strip('"') for t in found.split(",") if t.strip()]
        ends = []
        for t in targets:
            where, ok, problem = walk(t, depth + 1)
            if problem:
                return "", False, problem
            ends.append((where, ok))
        good = [w for w, ok in ends if ok]
        if good:
            return ", ".join(good), True, ""
        return ", ".join(w for w, _ in ends) or "nothing", False, ""

    where, ok, problem = walk(address, 0)
    return RoleRoute(address, tuple(steps), where, ok, problem, foreign=foreign and not problem)


def _transport_command(services: Sequence[MasterService], name: str) -> str:
    """The program of a master.cf transport (``local``, ``error``, ``smtp``, ``pipe``...); for one
    master.cf does not list (or that could not be read), the transport's own name, which is what
    Postfix's own transports are called."""
    found = next((s for s in services if s.name == name and s.type == "unix"), None)
    words = found.command.split() if found is not None else []
    return words[0] if words else name


def _tls(r: _Reader, values: dict[str, str]) -> tuple[TlsFiles, ...]:
    """The server's key and certificate pairs: ``smtpd_tls_chain_files``, which takes precedence,
    else ``smtpd_tls_cert_file`` / ``smtpd_tls_key_file`` (the key defaults to the certificate's
    file)."""
    chain = split_list(values.get("smtpd_tls_chain_files", ""))
    if chain:
        return _chain_pairs(r, chain)
    cert_path = values.get("smtpd_tls_cert_file", "")
    key_path = values.get("smtpd_tls_key_file", "") or cert_path
    return (_read_pair(r, cert_path, key_path),)


#: one PEM object (its label, then the whole block)
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def _chain_pairs(r: _Reader, chain: Sequence[str]) -> tuple[TlsFiles, ...]:
    """``smtpd_tls_chain_files``: Postfix reads the files as one sequence of PEM objects, in which
    each private key is followed by its certificate and that certificate's chain (postconf(5)): a
    file may hold a key and its chain, or the key and the certificate may sit in files of their own
    (key1, cert1, key2, cert2). Each key is paired with the first certificate after it."""
    groups: list[list[tuple[str, bytes]]] = []  # (per key: [(its file, key), (file, certificate)...])
    stray = ""
    for path in chain:
        data, problem = _read(r, path)
        if problem:
            return (_pair_of(path, b"", problem, path, b"", problem),)
        for m in PEM_BLOCK.finditer(data):
            label = m.group(1)
            if label.endswith(b"PRIVATE KEY"):
                groups.append([(path, m.group(0))])
            elif label == b"CERTIFICATE":
                if groups:
                    groups[-1].append((path, m.group(0)))
                elif not stray:
                    stray = path
    if not groups:
        return (_pair_of(chain[0], b"", "", chain[0], b"", f"{', '.join(chain)} holds no PEM private key "
                         "(smtpd_tls_chain_files: a key, then its certificate)"),)  # fmt: skip
    out = []
    for (key_path, key_pem), *certs in groups:
        if not certs:
            why = (
                f"the key in {key_path} is followed by no PEM certificate (smtpd_tls_chain_files: a "
                "key, then its certificate)"
            )
            out.append(_pair_of(key_path, b"", why, key_path, key_pem, ""))
            continue
        out.append(_pair_of(certs[0][0], certs[0][1], "", key_path, key_pem, ""))
    if stray:
        first = out[0]
        out[0] = TlsFiles(first.cert_path, first.key_path, f"{stray} holds a certificate with no PEM private "
                          "key before it (smtpd_tls_chain_files: each key comes before its certificate)",
                          first.key_problem, None, first.cert, first.absent)  # fmt: skip
    return tuple(out)


def _read_pair(r: _Reader, cert_path: str, key_path: str) -> TlsFiles:
    if not cert_path:
        return TlsFiles(cert_problem="no certificate file is configured")
    cert_pem, cert_problem = _read(r, cert_path)
    key_pem, key_problem = _read(r, key_path) if key_path else (b"", "no key file is configured")
    return _pair_of(cert_path, cert_pem, cert_problem, key_path, key_pem, key_problem)


def _pair_of(
    cert_path: str, cert_pem: bytes, cert_problem: str, key_path: str, key_pem: bytes, key_problem: str
) -> TlsFiles:
    """A certificate and a key as read (PEM, or why they could not be read), judged: they parse,
    and the key is the certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    absent = tuple(
        dict.fromkeys(p for p, why in ((cert_path, cert_problem), (key_path, key_problem)) if ABSENT in why)
    )
    cert = info = None
    if not cert_problem:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            info = parse_cert(cert.public_bytes(serialization.Encoding.DER))
        except (ValueError, CertError) as exc:
            cert_problem = f"{cert_path} holds no PEM certificate that parses ({exc})"
    key = None
    if not key_problem:
        block = re.search(
            rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", key_pem, re.S
        )
        try:
            if block is None:
                raise ValueError("no PEM private key block")
            key = serialization.load_pem_private_key(block.group(0), password=None)
        except (ValueError, TypeError) as exc:
            key_problem = f"{key_path} holds no private key that loads ({exc})"
    match = None
    if cert is not None and key is not None:
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        match = key.public_key().public_bytes(
            serialization.Encoding.DER, fmt
        ) == cert.public_key().public_bytes(serialization.Encoding.DER, fmt)
    return TlsFiles(cert_path, key_path, cert_problem, key_problem, match, info, absent)


def _read(r: _Reader, path: str) -> tuple[bytes, str]:
    argv = ["cat", "--", path]
    result, cmd, why = r.execute(argv)
    if result is None:
        r.commands.append(f"$ {cmd}  # {why}")
        return b"", f"{path} could not be read ({why})"
    r.commands.append(f"$ {cmd}  # exit {result.rc} (content not shown)")
    if result.rc != 0:
        err = str(result.stderr).strip() or f"exit status {result.rc}"
        if "no such file" in err.lower():
            return b"", f"{path} {ABSENT}"
        return b"", f"{path} could not be read: {err}"
    data = getattr(result, "stdout_bytes", None)
    data = data if isinstance(data, bytes) else str(result.stdout).encode()
    if len(data) > MAX_BYTES:
        return b"", f"{path} could not be read: it is larger than {MAX_BYTES} bytes"
    return data, ""


# --------------------------------------------------------------------------------------------- Exim
def _exim(r: _Reader, host_id: str, config: str | None, domains: Sequence[str], port: int) -> MtaConfig:
    binary = "exim" if _found(r, "exim") or not _found(r, "exim4") else "exim4"
    c = ["-C", config] if config else []
    argv = [binary, *c, "-bP"]
    rc, out, err = r.run(*argv, shown=0, slow=True)
    if rc != 0:
        r.failed("exim", argv, rc, err)
        return MtaConfig(host_id, "exim", config or "", f"could not read Exim's settings on {host_id}: "
                         f"{r.unread['exim']}", commands=tuple(r.commands))  # fmt: skip
    values = parse_bp(out)
    parts = _host_parts(r, values.get("primary_hostname", ""))
    roles = {
        addr: _exim_route(r, binary, c, addr)
        for role in ROLES
        for addr in [role, *(f"{role}@{d}" for d in domains)]
    }
    tls, *more_tls = _exim_tls(r, values)
    argv = [binary, *c, "-bP", "config"]
    rc, out, err = r.run(*argv, shown=0, slow=True)
    exim_config = parse_config(out) if rc == 0 else None
    config_text = out if rc == 0 else ""
    if rc:
        r.failed("exim config", argv, rc, err)
    files = _exists(r, acl_files(exim_config)[:MAX_FILES]) if exim_config is not None else {}
    argv = [binary, *c, "-bP", "transports"]
    rc, out, err = r.run(*argv, shown=0, slow=True)
    transports = parse_bp_sections(out) if rc == 0 else {}
    if rc:
        r.failed("transports", argv, rc, err)
    probe = _exim_relay_probe(r, binary, c, values, domains, config_text, port, parts["addresses"])
    return MtaConfig(
        host_id, "exim", config or "", "", values, {}, (), unread=dict(r.unread), roles=roles, tls=tls,
        more_tls=tuple(more_tls), exim_config=exim_config, acl_files=files, transports=transports,
        relay_probe=probe, commands=tuple(r.commands), **parts,
    )  # fmt: skip


#: the most optional ACL files whose existence is asked
MAX_FILES = 32


def _exists(r: _Reader, paths: Sequence[str]) -> dict[str, bool]:
    """Whether each of ``paths`` exists (``stat``): a path that ``stat`` finds, True; one it says is
    not there, False; one it could not tell (permission denied, say), left out."""
    out: dict[str, bool] = {}
    for path in paths:
        rc, _, err = r.run("stat", "-L", "-c", "%F", "--", path, shown=1)
        if rc == 0:
            out[path] = True
        elif "no such file" in err.lower():
            out[path] = False
    return out


#: the client ``exim -bh`` plays in the relay probe: TEST-NET-1 (RFC 5737), outside any real network;
#: -bh opens no connection, so nothing is ever sent there
RELAY_CLIENT = "192.0.2.1"
#: the domains the probe's recipient may be at (RFC 2606): the first the host does not serve
RELAY_DOMAINS = ("example.net", "example.org", "example.com")
RELAY_LOCAL_PART = "relaytest"
#: how many lines of Exim's ACL trace go to the evidence
TRACE = 8


def relay_session(helo: str, recipient: str) -> list[str]:
    """The commands of the relay probe, in order: EHLO, MAIL from the null sender (as
    ``exim_checkaccess`` sends: it passes ``verify = sender``, and a relay open to it is open to
    anyone), RCPT, QUIT; never DATA or BDAT."""
    return [f"EHLO {helo}", "MAIL FROM:<>", f"RCPT TO:<{recipient}>", "QUIT"]


def _exim_interface(values: dict[str, str], port: int, addresses: Sequence[str]) -> str:
    """The ``-oMi`` of the relay probe: the address Exim's daemon takes SMTP on at ``port``, with the
    port (``192.0.2.25.25``): an IPv4 address of ``local_interfaces`` for the port, else (a wildcard,
    or no local_interfaces) the host's first IPv4 address that is not loopback, else 127.0.0.1."""
    listed = listening_on(values.get("local_interfaces", ""), values.get("daemon_smtp_ports"), port)
    own = [a for a in listed if a not in WILDCARDS and _ipv4(a)]
    if not own:
        found = [a for a in addresses if _ipv4(a)]
        own = [a for a in found if not a.startswith("127.")] or found or ["127.0.0.1"]
    return f"{own[0]}.{port}"


def _ipv4(text: str) -> bool:
    """True for exactly an IPv4 address (a dotted quad in range): what ``-oMi`` takes with a port."""
    return is_ip_address(text) and ":" not in text


def _rcpt_run(runs: Sequence[AclRun], values: dict[str, str]) -> AclRun | None:
    """The RCPT ACL's run among a -bh session's (:func:`parse_bh_trace`): the one named as
    ``acl_smtp_rcpt`` is, else (an expanded name) the one after the connect, HELO and MAIL ACLs'."""
    name = values.get("acl_smtp_rcpt", "").strip()
    if name and "$" not in name:
        named = [run for run in runs if run.acl == name]
        return named[-1] if named else None
    before = sum(1 for option in ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail") if values.get(option))
    return runs[before] if len(runs) > before else None


def _exim_relay_probe(
    r: _Reader, binary: str, c: Sequence[str], values: dict[str, str], domains: Sequence[str], text: str,
    port: int, addresses: Sequence[str],
) -> RelayProbe:  # fmt: skip
    """Ask Exim's own ACLs whether they relay (``exim -bh 192.0.2.1 -oMi ADDRESS.PORT``: Exim runs an
    SMTP session on standard input as if from that client, to the address and port its daemon takes
    SMTP on (:func:`_exim_interface`, so that ``$received_port`` and ``$received_ip_address`` are a real
    session's), opens no connection, skips callouts, logs and traces its ACLs on standard error):
    :func:`relay_session`, with RCPT to a domain that is neither a surveyed domain nor the host's name
    nor named anywhere in its configuration (``text``); never DATA. The RCPT ACL's trace says how it
    ended and which statement decided. -bh runs the ACLs for real otherwise: DNS lookups (the client's
    PTR, DNS blocklists, sender verification) with the host's own resolver, ``${run}``,
    ``${readsocket}``, SQL lookups, ratelimit updates of its hints database. An EHLO name that Exim
    refuses (``helo_verify_hosts``: client.example does not resolve to the client) is tried once more
    as the client's address literal. Bounded like the other slow commands."""
    own = [d.lower().rstrip(".") for d in (*domains, values.get("primary_hostname", "")) if d]
    lowered = text.lower()
    outside = [
        d for d in RELAY_DOMAINS if d not in lowered and not any(o == d or o.endswith("." + d) for o in own)
    ]
    if not outside:
        why = f"each of {', '.join(RELAY_DOMAINS)} is a surveyed domain or named in the configuration"
        return RelayProbe(RELAY_CLIENT, problem=f"no outside domain to try relaying to: {why}")
    domain = outside[0]
    recipient = f"{RELAY_LOCAL_PART}@{domain}"
    interface = _exim_interface(values, port, addresses)
    argv = (r.paths.get(binary, binary), *c, "-bh", RELAY_CLIENT, "-oMi", interface)
    exim = " ".join(shlex.quote(a) for a in argv)
    probe = RelayProbe(RELAY_CLIENT, recipient=recipient, interface=interface)
    for helo in ("client.example", f"[{RELAY_CLIENT}]"):
        commands = relay_session(helo, recipient)
        session = "".join(f"{line}\\r\\n" for line in commands)
        rc, out, err = r.run("sh", "-c", f"printf {shlex.quote(session)} | {exim}", shown=16, slow=True)
        replies = parse_bh(out)
        trace = [line.strip() for line in err.splitlines() if line.startswith(("LOG:", ">>> end of ACL"))]
        said = tuple(zip(["", *commands], (str(x) for x in replies), strict=False))
        run = _rcpt_run(parse_bh_trace(err), values)
        probe = RelayProbe(
            RELAY_CLIENT, helo, "", recipient, said, trace=tuple(trace[-TRACE:]), interface=interface,
            decision=run.result if run else "", decided_by=run.statement if run else None,
            where=run.where if run else "",
        )  # fmt: skip
        if not replies:
            why = err.strip().splitlines()[0] if err.strip() else f"exit status {rc}"
            return dataclasses.replace(
                probe, problem=f"`{binary} -bh {RELAY_CLIENT}` gave no SMTP reply: {why}"
            )
        greeting, *rest = replies
        unreached = "the RCPT ACL was not reached"
        if greeting.code != 220:
            why = (
                f"Exim greets the test client {RELAY_CLIENT} with {greeting} (acl_smtp_connect?): {unreached}"
            )
            return dataclasses.replace(probe, problem=why)
        if not rest or rest[0].code != 250:
            ehlo = str(rest[0]) if rest else "nothing"
            if helo == "client.example":
                r.commands.append(f"# (EHLO {helo} was answered {ehlo}: once more with the address literal)")
                continue
            return dataclasses.replace(probe, problem=f"EHLO {helo} was answered {ehlo}: {unreached}")
        if len(rest) < 2 or rest[1].code != 250:
            mail = str(rest[1]) if len(rest) > 1 else "nothing"
            return dataclasses.replace(probe, problem=f"MAIL FROM:<> was answered {mail}: {unreached}")
        if len(rest) < 3:
            return dataclasses.replace(probe, problem=f"Exim said nothing to RCPT TO:<{recipient}>")
        return dataclasses.replace(probe, rcpt_code=rest[2].code, rcpt=str(rest[2]))
    return probe


def _exim_route(r: _Reader, binary: str, c: Sequence[str], addr: str) -> RoleRoute:
    """Where ``exim -bt`` routes ``addr``: deliverable when one of the addresses it ends as reaches a
    transport, a pipe or a file other than /dev/null; could not tell when none does and one is
    deferred (a DNS lookup that did not complete, say), or when Exim said nothing of it."""
    rc, out, err = r.run(binary, *c, "-bt", addr, shown=6, slow=True)
    routes = parse_bt_routes(out)
    if not routes:
        why = err.strip().splitlines()[0] if err.strip() else f"exit status {rc}"
        return RoleRoute(addr, problem=f"`{binary} -bt {addr}` failed: {why}")
    steps = tuple(f"{binary} -bt {addr}: {x.describe()}" for x in routes)
    good = [x for x in routes if x.deliverable]
    if good:
        return RoleRoute(addr, steps, "; ".join(x.describe() for x in good), True)
    deferred = next((x for x in routes if x.kind == "deferred"), None)
    if deferred is not None:
        return RoleRoute(addr, steps, problem=f"`{binary} -bt {addr}`: {deferred.describe()}")
    return RoleRoute(addr, steps, "; ".join(x.describe() for x in routes), False)


def _exim_tls(r: _Reader, values: dict[str, str]) -> tuple[TlsFiles, ...]:
    """Exim's server certificates and keys: ``tls_certificate`` and ``tls_privatekey`` are lists
    (an RSA and an ECDSA certificate, say), paired by position; a certificate without a key of its
    own holds it. Each file must be readable by the Exim user (``exim_user``), as whom Exim reads
    them when a client asks for STARTTLS (else it answers 454 TLS currently unavailable)."""
    cert_value = values.get("tls_certificate", "")
    key_value = values.get("tls_privatekey", "")
    certs, keys = exim_list(cert_value), exim_list(key_value)
    if not certs:
        unset = (
            "no certificate file is configured (tls_certificate is unset: Exim then offers STARTTLS with a "
            "self-signed certificate of its own making, which names no host of yours)"
        )
        return (TlsFiles(cert_problem=unset),)
    expanded = [
        (n, v) for n, v in (("tls_certificate", cert_value), ("tls_privatekey", key_value)) if "$" in v
    ]
    if expanded:
        name, value = expanded[0]
        why = f"{name} = {value!r} is expanded for each connection: which files Exim reads is not known here"
        return (TlsFiles(cert_path=cert_value, cert_problem=why),)
    pairs = [_read_pair(r, cert, keys[i] if i < len(keys) else cert) for i, cert in enumerate(certs)]
    user = values.get("exim_user", "")
    if not user:
        return tuple(pairs)
    blocked = _unreadable_by(r, user, list(dict.fromkeys([*certs, *keys])))
    out = []
    for pair in pairs:
        cert_why = blocked.get(pair.cert_path, "") if not pair.cert_problem else ""
        key_why = blocked.get(pair.key_path, "") if not pair.key_problem else ""
        out.append(dataclasses.replace(
            pair, cert_problem=pair.cert_problem or cert_why, key_problem=pair.key_problem or key_why,
            unreadable=tuple(p for p, why in ((pair.cert_path, cert_why), (pair.key_path, key_why)) if why),
        ))  # fmt: skip
    return tuple(out)


def _unreadable_by(r: _Reader, user: str, paths: Sequence[str]) -> dict[str, str]:
    """Why ``user`` cannot read each of ``paths`` (by path; absent: it can, or it could not be
    told), from the owner, group and mode of the file and of each folder above it (``stat``) and the
    user's groups (``id``): the owner's bits apply to the owner, the group's to its members, the
    others' to everyone else (access control lists aside)."""
    rc, out, _ = r.run("id", "-u", user, shown=1)
    rc2, out2, _ = r.run("id", "-G", user, shown=1)
    if rc or rc2 or not out.strip().isdigit():
        return {}
    uid, groups = int(out.strip()), {int(g) for g in out2.split() if g.isdigit()}
    if uid == 0:
        return {}
    out_map: dict[str, str] = {}
    for path in paths:
        chain = [str(p) for p in reversed(PurePosixPath(path).parents)] + [path]
        rc, out, _ = r.run("stat", "-L", "-c", "%u %g %a %n", "--", *chain, shown=0)
        if rc:
            continue
        for line, wanted in zip(out.splitlines(), [0o1] * (len(chain) - 1) + [0o4], strict=False):
            fields = line.split(" ", 3)
            if len(fields) < 4 or not (fields[0].isdigit() and fields[1].isdigit()):
                break
            owner, group, mode = int(fields[0]), int(fields[1]), int(fields[2], 8)
            shift = 6 if owner == uid else 3 if group in groups else 0
            if not (mode >> shift) & wanted:
                what = "it" if fields[3] == path else f"the folder {fields[3]}"
                action = "read" if wanted == 0o4 else "enter"
                out_map[path] = (
                    f"{path} cannot be read by the Exim user {user} (uid {uid}): {what} is owner "
                    f"{owner}, group {group}, mode {mode:o}, which does not let {user} {action} it; Exim "
                    "reads its TLS files as that user when a client asks for STARTTLS, and answers 454 TLS "
                    "currently unavailable"
                )
                break
    return out_map
