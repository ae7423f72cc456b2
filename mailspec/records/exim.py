"""Exim's own configuration text, parsed: ``exim -bP`` output (the main options, ``-bP transports``,
the whole configuration of ``-bP config`` with its ACLs and named lists), ``exim -bt`` routing, ``exim
-bh`` SMTP replies and Exim's list syntax. Pure: no I/O."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mailspec.records.addresses import is_ip_address

__all__ = [
    "ACL_FILTERS",
    "ACL_MODIFIERS",
    "ACL_VERBS",
    "REFUSING",
    "WILDCARDS",
    "AclItem",
    "AclRun",
    "AclStatement",
    "BtRoute",
    "EximConfig",
    "RoleFilter",
    "SmtpReply",
    "acl_files",
    "acl_filters",
    "computed",
    "domain_guard",
    "exim_bool",
    "exim_interface",
    "exim_list",
    "exists_file",
    "expanded",
    "helo_name",
    "listening_on",
    "local_part_in",
    "never_applies",
    "open_accept",
    "parse_bh",
    "parse_bh_trace",
    "parse_bp",
    "parse_bp_sections",
    "parse_bt",
    "parse_bt_routes",
    "parse_config",
    "pcre_search",
    "refuses_all_untrusted",
    "relay_hosts",
    "relay_stop",
    "resolve_acl",
    "role_filters",
    "smtp_ports",
]


def parse_bp(text: str) -> dict[str, str]:
    """``exim -bP`` lines as a dict: ``name = value``, and the booleans Exim prints bare
    (``smtp_enforce_sync`` is true, ``no_smtp_enforce_sync`` false)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            out[name.strip()] = value.strip()
        elif " " not in line:
            if line.startswith("no_"):
                out[line[3:]] = "false"
            else:
                out[line] = "true"
    return out


def exim_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1")


def exim_list(value: str) -> list[str]:
    """An Exim list (spec §6.21) as its items: colon-separated unless it starts with ``<`` and
    another separator (``<; ::1 ; 127.0.0.1``); a doubled separator stands for the character itself
    (``::::1`` is ``::1`` in a colon list); items are stripped, empty ones dropped."""
    text, sep = value.strip(), ":"
    if len(text) >= 2 and text[0] == "<" and not text[1].isalnum() and not text[1].isspace():
        sep, text = text[1], text[2:]
    s = re.escape(sep)
    # (left to right: a doubled separator is the character, a single one ends the item; linear)
    found = re.finditer(rf"((?:[^{s}]|{s}{s})*)(?:{s}|$)", text)
    items = [m.group(1).replace(sep * 2, sep) for m in found]
    return [x.strip() for x in items if x.strip()]


#: the addresses in ``local_interfaces`` that stand for every address of their family
WILDCARDS = frozenset({"0.0.0.0", "::0", "::", "*"})


def exim_interface(item: str) -> tuple[str, int | None]:
    """One ``local_interfaces`` item as (address, port or None): ``192.0.2.1``, ``192.0.2.1.2525``
    and ``[192.0.2.1]:2525`` (spec §13.6), ``2001:db8::1.2525``; an item that is no address comes
    back as it is, without a port."""
    item = item.strip()
    if item.startswith("["):
        address, _, rest = item[1:].partition("]")
        port = rest.lstrip(":.")
        return address, int(port) if port.isdigit() else None
    if is_ip_address(item):
        return item, None
    address, dot, port = item.rpartition(".")
    if dot and port.isdigit() and is_ip_address(address):
        return address, int(port)
    return item, None


#: the service names ``daemon_smtp_ports`` may give (Exim looks them up in /etc/services)
SERVICES = {"smtp": 25, "submission": 587, "smtps": 465, "ssmtp": 465, "urd": 465}


def smtp_ports(value: str) -> list[int]:
    """The ports of ``daemon_smtp_ports`` (an Exim list of numbers and service names; unset: ``smtp``);
    a name not known here is left out."""
    out = []
    for item in exim_list(value or "smtp"):
        if item.isdigit():
            out.append(int(item))
        elif item.lower() in SERVICES:
            out.append(SERVICES[item.lower()])
    return out


def listening_on(local_interfaces: str, daemon_smtp_ports: str | None, port: int) -> list[str]:
    """The addresses of ``local_interfaces`` that Exim's daemon listens on for ``port``: an item with
    a port of its own (``192.0.2.1.2525``) for that port only, one without for each of
    ``daemon_smtp_ports`` (None: not known, any port); wildcards (``0.0.0.0``, ``::0``) included."""
    ports = None if daemon_smtp_ports is None else smtp_ports(daemon_smtp_ports)
    out = []
    for item in exim_list(local_interfaces):
        address, own = exim_interface(item)
        if (own is not None and own != port) or (own is None and ports is not None and port not in ports):
            continue
        out.append(address)
    return out


#: what ``exim -bt`` says of one address: routed (to a transport by a router), a file or a pipe (an
#: alias to ``/path`` or ``|command``), discarded (``:blackhole:``), undeliverable, deferred (cannot
#: be resolved at this time), or a duplicate of one listed before
BtKind = Literal["routed", "file", "pipe", "discarded", "undeliverable", "deferred", "duplicate"]


@dataclass(frozen=True)
class BtRoute:
    """One address of ``exim -bt`` output and where it goes."""

    #: the address the entry is about (for a file or a pipe: the address redirected to it)
    address: str
    kind: BtKind
    #: the file or command (``/dev/null``, ``|/usr/bin/procmail``); "" for an address
    target: str = ""
    #: ``router = localuser, transport = local_delivery``, ``transport = address_file``, or the reason
    #: it is undeliverable or deferred
    detail: str = ""
    #: the addresses it was redirected from, nearest first (the ``<--`` lines)
    parents: tuple[str, ...] = ()

    @property
    def deliverable(self) -> bool:
        """Mail for it reaches something: a transport, a pipe, or a file other than /dev/null (a
        discarded address, /dev/null, an undeliverable or deferred one do not; a duplicate is
        delivered through the entry it duplicates)."""
        if self.kind == "file":
            return self.target.strip() != "/dev/null"
        return self.kind in ("routed", "pipe")

    def describe(self) -> str:
        if self.kind in ("file", "pipe"):
            what = f"{self.address} -> {self.target}"
        elif self.kind == "discarded":
            what = f"{self.address} is discarded (:blackhole:)"
        elif self.kind == "undeliverable":
            what = f"{self.address} is undeliverable: {self.detail}"
        elif self.kind == "deferred":
            what = f"{self.address} cannot be resolved at this time: {self.detail}"
        elif self.kind == "duplicate":
            what = f"{self.address} (a duplicate)"
        else:
            what = self.address
        if self.detail and self.kind not in ("undeliverable", "deferred"):
            what += f" ({self.detail})"
        if self.parents:
            what += f", from {' <- '.join(self.parents)}"
        return what


def parse_bt_routes(text: str) -> list[BtRoute]:
    """``exim -bt`` output (Exim 4.9x), one entry per address it reports: an unindented line opens an
    entry (``ADDR``, ``ADDR -> /file``, ``ADDR is undeliverable: WHY``, ``ADDR cannot be resolved at
    this time: WHY``, ``mail to ADDR is discarded``, ``ADDR [duplicate, would not be delivered]``);
    its indented lines say where from (``<-- PARENT``) and how (``router = ..., transport = ...``,
    ``host NAME [IP]``)."""
    entries: list[dict[str, object]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        line = raw.strip()
        if not raw[0].isspace():
            entry: dict[str, object] = {"parents": [], "detail": [], "target": ""}
            if line.startswith("mail to ") and line.endswith(" is discarded"):
                entry.update(address=line[8:-13], kind="discarded")
            elif " is undeliverable" in line:
                address, _, why = line.partition(" is undeliverable")
                entry.update(address=address, kind="undeliverable", reason=why.lstrip(": "))
            elif " cannot be resolved at this time" in line:
                address, _, why = line.partition(" cannot be resolved at this time")
                entry.update(address=address, kind="deferred", reason=why.lstrip(": "))
            elif "[duplicate, would not be delivered]" in line:
                entry.update(address=line.partition(" ")[0], kind="duplicate")
            elif " -> " in line:
                address, _, target = line.partition(" -> ")
                entry.update(
                    address=address, target=target, kind="pipe" if target.startswith("|") else "file"
                )
            else:
                entry.update(address=line, kind="routed")
            entries.append(entry)
        elif entries:
            current = entries[-1]
            if line.startswith("<--"):
                parents = current["parents"]
                assert isinstance(parents, list)
                parents.append(line[3:].strip())
            elif line.startswith(("router =", "transport =", "host ")):
                details = current["detail"]
                assert isinstance(details, list)
                details.append(line)
    out = []
    for e in entries:
        details, parents = e["detail"], e["parents"]
        assert isinstance(details, list) and isinstance(parents, list)
        detail = str(e.get("reason", "")) or ", ".join(str(d) for d in details)
        kind = e["kind"]
        assert kind in ("routed", "file", "pipe", "discarded", "undeliverable", "deferred", "duplicate")
        out.append(BtRoute(str(e["address"]), kind, str(e["target"]), detail, tuple(str(p) for p in parents)))
    return out


def parse_bt(text: str, status: int) -> tuple[bool, str]:
    """Whether ``exim -bt ADDRESS`` routed the address somewhere deliverable (a transport, a pipe, a
    file other than /dev/null: a discarded address or /dev/null is not), and what it says of it: the
    deliverable destinations, else the first entry. ``status`` (Exim's exit status: 0 all routed, 1
    some deferred, 2 some undeliverable) is not needed beyond the text, which says each address's
    fate."""
    routes = parse_bt_routes(text)
    good = [r for r in routes if r.deliverable]
    if good:
        return True, "; ".join(r.describe() for r in good)
    if routes:
        return False, routes[0].describe()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return False, lines[0] if lines else (f"exit status {status}" if status else "")


# ------------------------------------------------------------------ -bP transports, -bP routers
def parse_bp_sections(text: str, kind: str = "transport") -> dict[str, dict[str, str]]:
    """``exim -bP transports`` (``routers``, ``authenticators``): each driver instance opens with a
    ``NAME transport:`` line, then its options as :func:`parse_bp` reads them; by name, in order."""
    out: dict[str, dict[str, str]] = {}
    name, lines = "", list[str]()
    head = re.compile(rf"^(\S+) {re.escape(kind)}:$")
    for raw in [*text.splitlines(), f"- {kind}:"]:
        m = head.match(raw.strip())
        if m:
            if name:
                out[name] = parse_bp("\n".join(lines))
            name, lines = m.group(1), []
        elif name:
            lines.append(raw)
    return out


#: the ways Exim's default ``helo_data`` (and a configuration that repeats it) names the host
PRIMARY_HOSTNAME = ("$primary_hostname", "${primary_hostname}")


def helo_name(value: str, primary_hostname: str) -> str | None:
    """The name an smtp transport's ``helo_data`` gives in HELO/EHLO: ``$primary_hostname`` (Exim's
    default, and the value when it is unset) is the host's name, a literal is itself; None for any
    other expansion (what it gives is known only at delivery) or a value Exim would not show."""
    text = value.strip()
    if not text or text in PRIMARY_HOSTNAME:
        return primary_hostname
    if "$" in text or "\\" in text or text == HIDDEN or any(c.isspace() for c in text):
        return None
    return text


#: what ``exim -bP`` prints for a ``hide`` option to a user who may not see it
HIDDEN = "<value not displayable>"


# ----------------------------------------------------------------- -bP config: ACLs and named lists
#: the verbs an ACL statement starts with (spec §42.4)
ACL_VERBS = frozenset({"accept", "defer", "deny", "discard", "drop", "require", "warn"})
#: the verbs whose statement can turn a recipient away or lose its mail (``warn`` never does, and
#: ``accept`` takes it)
REFUSING = frozenset({"defer", "deny", "discard", "drop", "require"})
#: the ACL modifiers (spec §42.18): they act, they do not test
ACL_MODIFIERS = frozenset(
    {
        "add_header",
        "continue",
        "control",
        "debug",
        "delay",
        "endpass",
        "log_message",
        "log_reject_target",
        "logwrite",
        "message",
        "queue",
        "remove_header",
        "set",
        "udpsend",
    }
)
#: the ACL conditions that judge the client, its sender or the message rather than the recipient,
#: as Postfix's restrictions of the same kind (:data:`mailspec.records.postfix.FILTERS`): a role
#: address that such a condition can refuse before an ``accept`` exempts it is filtered. Verify
#: conditions are keyed by what they verify (``verify = recipient`` judges the recipient: no filter)
ACL_FILTERS: dict[str, str] = {
    "dnslists": "a DNS blocklist (Postfix reject_rbl_client, reject_rhsbl_*)",
    "hosts": "a client host list (Postfix check_client_access)",
    "senders": "a sender list (Postfix check_sender_access)",
    "ratelimit": "a rate limit (Postfix: a policy service)",
    "spf": "an SPF check (Postfix: a policy service)",
    "spf_guess": "an SPF check (Postfix: a policy service)",
    "spam": "a spam scanner (Postfix: a content filter)",
    "malware": "a virus scanner (Postfix: a content filter)",
    "verify = sender": "sender verification (Postfix reject_unverified_sender, reject_unknown_sender_domain)",
    "verify = reverse_host_lookup": "the client's reverse DNS (Postfix reject_unknown_client_hostname)",
    "verify = helo": "HELO verification (Postfix reject_unknown_helo_hostname)",
    "verify = csa": "client SMTP authorization (a DNS check of the client)",
    "verify = header_sender": "verification of the header senders",
    "verify = header_syntax": "the header syntax",
    "verify = header_names_ascii": "the header names",
    "verify = not_blind": "a blind-copy check",
}


@dataclass(frozen=True)
class AclItem:
    """One condition or modifier of an ACL statement: ``!verify = sender`` is ``verify``, ``sender``,
    negated."""

    name: str
    value: str = ""
    negated: bool = False

    @property
    def modifier(self) -> bool:
        return self.name in ACL_MODIFIERS

    @property
    def filter(self) -> str:
        """Which of :data:`ACL_FILTERS` this condition is ("" for none)."""
        if self.modifier:
            return ""
        if self.name == "verify":
            key = f"verify = {self.value.split('/', 1)[0].strip().lower()}"
            return key if key in ACL_FILTERS else ""
        return self.name if self.name in ACL_FILTERS else ""

    def __str__(self) -> str:
        bang = "!" if self.negated else ""
        if self.name == "set":
            return f"set {self.value}"
        return f"{bang}{self.name} = {self.value}" if self.value or self.name != "endpass" else self.name


@dataclass(frozen=True)
class AclStatement:
    """One ACL statement: its verb, then its conditions and modifiers in order."""

    verb: str
    items: tuple[AclItem, ...] = ()

    @property
    def conditions(self) -> tuple[AclItem, ...]:
        return tuple(i for i in self.items if not i.modifier)

    def describe(self, limit: int = 160) -> str:
        text = "  ".join([self.verb, *(str(i) for i in self.items)])
        return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class EximConfig:
    """The parts of ``exim -bP config`` (the whole configuration as Exim read it: macros replaced,
    ``.ifdef`` resolved, ``.include`` files in, continuation lines joined, comments gone) that the
    host checks judge: the ACLs, the named lists."""

    #: each ACL's statements in order, by name
    acls: dict[str, tuple[AclStatement, ...]] = field(default_factory=dict)
    #: each named list (``hostlist relay_from_hosts = ...``) as (kind, value), by name; kind is
    #: ``domain``, ``host``, ``address`` or ``localpart``
    lists: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the ACLs with a line that is no statement, condition or modifier, and the line
    problems: dict[str, str] = field(default_factory=dict)
    #: whether the text had a ``begin acl`` section at all
    has_acl_section: bool = False


#: a macro definition (a name that starts with an upper-case letter), which -bP config prints where
#: the file has it, in any section
MACRO = re.compile(r"^[A-Z][A-Za-z0-9_]*\s*=")
NAMED_LIST = re.compile(r"^(domain|host|address|localpart)list(?:_cache)?\s+([A-Za-z0-9_]+)\s*=\s*(.*)$")
ACL_NAME = re.compile(r"^([A-Za-z0-9_.\-]+):$")
ACL_ITEM = re.compile(r"^(!?)\s*([a-z_][a-z0-9_]*)\s*(?:=\s*(.*))?$")
#: the ``set`` modifier, whose name comes before its ``=``: ``set acl_m_x = 1`` (spec §42.19)
ACL_SET = re.compile(r"^set\s+(acl_[cm][A-Za-z0-9_]*)\s*=\s*(.*)$")


def parse_config(text: str) -> EximConfig:
    """``exim -bP config`` output (Exim 4.96): the main section's named lists, and the ``begin acl``
    section's ACLs. There each ACL opens with a ``NAME:`` line; a statement starts with its verb,
    maybe followed on the same line by its first condition or modifier, and each further one stands
    on a line of its own (``-bP config`` prints the continuation lines of the file as one line)."""
    acls: dict[str, list[AclStatement]] = {}
    lists: dict[str, tuple[str, str]] = {}
    problems: dict[str, str] = {}
    section, current, seen_acl = "main", "", False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("begin "):
            section, current = line.split(None, 1)[1].strip(), ""
            seen_acl = seen_acl or section == "acl"
            continue
        if MACRO.match(line):
            continue
        if section == "main":
            m = NAMED_LIST.match(line)
            if m:
                lists[m.group(2)] = (m.group(1), m.group(3).strip())
            continue
        if section != "acl":
            continue
        m = ACL_NAME.match(line)
        if m:
            current = m.group(1)
            acls[current] = []
            continue
        if not current:
            problems.setdefault("", f"a line before any ACL name: {line!r}")
            continue
        word, _, rest = line.partition(" ")
        statements = acls[current]
        if word in ACL_VERBS:
            statements.append(AclStatement(word))
            line = rest.strip()
            if not line:
                continue
        if not statements:
            problems.setdefault(current, f"a condition before any verb: {line!r}")
            continue
        parsed = acl_item(line)
        if parsed is None:
            problems.setdefault(current, f"a line that is no condition or modifier: {line!r}")
            continue
        last = statements[-1]
        statements[-1] = AclStatement(last.verb, (*last.items, parsed))
    return EximConfig({k: tuple(v) for k, v in acls.items()}, lists, problems, seen_acl)


def acl_item(line: str) -> AclItem | None:
    """One condition or modifier as written (``!verify = sender``, ``set acl_m_x = 1``, ``endpass``),
    or None for a line that is neither."""
    setting = ACL_SET.match(line)
    if setting is not None:
        return AclItem("set", f"{setting.group(1)} = {setting.group(2).strip()}")
    item = ACL_ITEM.match(line)
    if item is None or (item.group(3) is None and item.group(2) != "endpass"):
        return None
    return AclItem(item.group(2), (item.group(3) or "").strip(), bool(item.group(1)))


def resolve_acl(config: EximConfig, value: str) -> tuple[str, tuple[AclStatement, ...] | None, str]:
    """What an ``acl_smtp_*`` option names: (the ACL's name, its statements, "") when it is a named
    ACL of the configuration; (name, None, why) when it cannot be judged here: an expansion, a file
    (a value that starts with ``/``), an ACL written inline, a name the configuration does not have,
    or an ACL with a line that did not parse. An unset option is ("", (), "")."""
    text = value.strip()
    if not text:
        return "", (), ""
    if "$" in text:
        return text, None, f"it is expanded for each session ({text!r}): which ACL runs is not known here"
    if text.startswith("/"):
        return text, None, f"the ACL is the file {text}, which is not read"
    if any(c.isspace() for c in text):
        return text, None, f"the ACL is written inline ({text!r}), which is not read"
    if text not in config.acls:
        return text, None, f"the configuration has no ACL named {text}"
    if text in config.problems:
        return text, None, f"the ACL {text} did not parse: {config.problems[text]}"
    return text, config.acls[text], ""


EXPANSION = re.compile(r"(?<!\\)\$[{A-Za-z_]")


def expanded(text: str) -> bool:
    r"""Whether Exim expands something in ``text`` (a ``$name`` or ``${...}`` not escaped as ``\$``)."""
    return EXPANSION.search(text) is not None


#: the named lists of a configuration: (kind, value) by name
Lists = Mapping[str, tuple[str, str]]
#: how deep named lists and nested ACLs are followed
MAX_DEPTH = 8


@dataclass(frozen=True)
class HostReach:
    """Whether an Exim host list matches the clients that no item of it names, by address family
    (4, 6): one whose address has a reverse-DNS name (``named``) and one whose has none
    (``nameless``: an item that needs the client's name, ``*.example`` or ``^regex``, fails the
    whole list for it unless ``+include_unknown`` or ``+ignore_unknown`` says otherwise)."""

    named: dict[int, bool]
    nameless: dict[int, bool]

    def every(self, families: Iterable[int]) -> bool:
        """It matches every unnamed client of these families, with a name or without."""
        return all(self.named[f] and self.nameless[f] for f in families)

    def some(self, families: Iterable[int]) -> list[int]:
        """The families of which it matches the unnamed clients, with a name or without."""
        return [f for f in families if self.named[f] or self.nameless[f]]


#: host-list items that change how a failed lookup of the client's name or address counts
UNKNOWN_CONTROLS = frozenset({"+include_unknown", "+ignore_unknown", "+include_defer", "+ignore_defer"})
_FAIL = "fail"


def host_list_default(value: str, lists: Lists | None) -> HostReach | None:
    """How the Exim host list ``value`` treats the clients it does not name (:class:`HostReach`;
    spec, the chapter on lists): the first item that matches such a client decides, negated or not
    (``*``, a network of prefix length 0 in any spelling, ``+name`` of a named ``hostlist`` that
    matches it); when none does, a list whose last item is negated matches.

    Items that name particular hosts (addresses, networks, host names, ``@``, ``@[]``, ``@mx_*``,
    ``net-`` lookups) match no such client; a plain host name is taken to resolve (one that no
    longer does fails the list in Exim, which is not seen here). Items that need the client's host
    name (``*.example``, ``^regex``, ``\\N^regex\\N``, a lookup by name) match no client that has
    one, and fail the list for one that has none, unless ``+ignore_unknown`` (the item is skipped)
    or ``+include_unknown`` (the client is in the list, whatever the item's ``!``) comes before; in
    a named list, such a failure only makes the named list not match. So ``!192.0.2.0/24`` matches
    every other host; ``!*``, ``!* : *`` and ``<; !0.0.0.0/0 ; !::/0`` none.

    ``lists``: the configuration's named lists, None when they could not be read. None when it
    cannot be told here: an expansion, a file of items, a lookup with a default, a ``+name`` that is
    no named host list (or lists that could not be read), or too deep."""
    named: dict[int, bool] = {}
    nameless: dict[int, bool] = {}
    for family in (4, 6):
        for has_name, out in ((True, named), (False, nameless)):
            verdict = _host_list_for(value, lists, family, has_name, 0)
            if verdict is None:
                return None
            out[family] = verdict is True
    return HostReach(named, nameless)


def _host_list_for(
    value: str, lists: Lists | None, family: int, has_name: bool, depth: int
) -> bool | str | None:
    """:func:`host_list_default` for one client that no item names: True (matched), False, or
    ``"fail"`` (a lookup of its name failed: the list fails, the client is not in it)."""
    if depth > MAX_DEPTH or expanded(value):
        return None
    items = exim_list(value)
    unknown = "fail"
    last_negated = False
    for raw in items:
        negated = raw.startswith("!")
        item = raw[1:].strip() if negated else raw
        if item.startswith("\\N"):  # (\N...\N: a regular expression taken as it is)
            item = item[2:].removesuffix("\\N")
        if item in UNKNOWN_CONTROLS:
            unknown = item.removeprefix("+").split("_")[0] if item.endswith("unknown") else unknown
            continue
        last_negated = negated
        matched: bool
        if item == "*":
            matched = True
        elif item.startswith("+"):
            named = lists.get(item[1:]) if lists is not None else None
            if named is None or named[0] != "host":
                return None
            inner = _host_list_for(named[1], lists, family, has_name, depth + 1)
            if inner is None:
                return None
            matched = inner is True  # (a failed lookup in a named list only makes it not match)
        elif item.startswith("/") or re.match(r"[\w-]+\*@?;", item):
            return None  # (a file of items; a lookup with a default key, which may match any name)
        elif (";" in item and not item.startswith("net")) or (item.startswith(("*", "^")) and item != "*"):
            # an item that needs the client's host name (a lookup by name, a name pattern): not
            # this client's if it has one; if not, +include_unknown accepts the client into the
            # list, whatever the item's "!", +ignore_unknown skips the item, and else the list fails
            if has_name or unknown == "ignore":
                continue
            return True if unknown == "include" else _FAIL
        else:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:  # (a host name, @, @[], @mx_any, a net- lookup: particular hosts)
                continue
            matched = network.prefixlen == 0 and network.version == family
        if matched:
            return not negated
    return last_negated


def local_part_in(value: str, local_part: str, lists: Lists, depth: int = 0) -> bool | None:
    """Whether ``local_part`` is in the local-part list ``value`` (spec §10.1, §10.21): the first
    item that matches decides (a negated ``!item`` refuses), and when none does, a list whose last
    item is negated matches (as ``!a : *`` would); items are compared caselessly, ``*`` matches any,
    ``*suffix`` the end, ``^regex`` as a regular expression, ``+name`` through a named
    ``localpartlist``. None when it cannot be told here: a lookup, a file, an expansion, a regular
    expression Python does not read as PCRE does."""
    if depth > MAX_DEPTH or expanded(value):
        return None
    items = exim_list(value)
    subject = local_part.lower()
    for raw in items:
        negated = raw.startswith("!")
        item = raw[1:].strip() if negated else raw
        matched: bool | None
        if item == "*":
            matched = True
        elif item.startswith("+"):
            named = lists.get(item[1:])
            if named is None or named[0] != "localpart":
                return None
            matched = local_part_in(named[1], local_part, lists, depth + 1)
        elif item.startswith(("^", "\\N^")):
            # (the list is expanded first: a regular expression's \$ and \\ are $ and \, and \N...\N
            # is taken as it is)
            pattern = item[2:].split("\\N", 1)[0] if item.startswith("\\N") else re.sub(r"\\(.)", r"\1", item)
            matched = pcre_search(pattern, local_part)
        elif ";" in item or item.startswith("/") or item.startswith("\\"):
            return None  # (a lookup, a file of items)
        elif item.startswith("*"):
            matched = subject.endswith(item[1:].lower())
        else:
            matched = item.lower() == subject
        if matched is None:
            return None
        if matched:
            return not negated
    return bool(items) and items[-1].startswith("!")


#: the regular-expression syntax that PCRE reads and Python's ``re`` does not, or reads otherwise: POSIX
#: classes (``[[:alpha:]]``), any ``(?`` group (inline options, named groups, lookbehinds, recursion and
#: callouts are not all alike), ``\Q...\E``, the escapes ``\K \R \X \h \H \v \V \p \P \G \z \N \C
#: \x{...}``, and possessive quantifiers; and what ``re`` warns it may read otherwise one day (a
#: FutureWarning: ``[[``, ``--``, ``&&``, ``~~``, ``||``, set operations to come), refused here rather
#: than silenced, since ``warnings.catch_warnings`` is not safe across threads; and ``{,n}``, a
#: quantifier to ``re`` and text to PCRE2 before 10.43
PCRE_ONLY = re.compile(r"\[:|\(\?|\\[QEKRXhHvVpPGzNC]|\\x\{|[*+?}]\+|\[\[|--|&&|~~|\|\||\{,")


def pcre_search(pattern: str, subject: str) -> bool | None:
    """Whether the PCRE ``pattern`` matches ``subject`` caselessly (Exim's local-part and domain lists),
    as Python's ``re`` reads it; None when Python would read it otherwise (:data:`PCRE_ONLY`), or not
    at all. Matched as UTF-8 bytes, as Exim's PCRE2 (compiled without UTF mode) matches: classes and
    caseless matching are ASCII's, and ``.`` is one byte."""
    if PCRE_ONLY.search(pattern):
        return None
    try:
        compiled = re.compile(pattern.encode("utf-8", "surrogateescape"), re.I)
    except (re.error, OverflowError, RecursionError):
        return None
    return compiled.search(subject.encode("utf-8", "surrogateescape")) is not None


def _applies_to(statement: AclStatement, local_part: str, lists: Lists) -> bool | None:
    """Whether a statement can judge mail for ``local_part`` at one of the host's own domains: not
    when a ``local_parts`` condition leaves it out, nor when a ``domains`` condition matches only
    other domains (every item negated, ``! +local_domains`` among them); None when a list of its
    cannot be read."""
    unsure = False
    for item in statement.conditions:
        if item.name == "local_parts":
            found = local_part_in(item.value, local_part, lists)
            if found is None:
                unsure = True
            elif found == item.negated:
                return False
        elif item.name == "domains" and not item.negated:
            domains = exim_list(item.value)
            if (
                domains
                and all(d.startswith("!") for d in domains)
                and any(d[1:].strip() == "+local_domains" for d in domains)
            ):
                return False
    return None if unsure else True


def acl_filters(config: EximConfig, statement: AclStatement, depth: int = 0) -> tuple[list[str], list[str]]:
    """The filtering conditions of a statement (:data:`ACL_FILTERS`, as written), those of an ACL it
    calls (``acl = NAME``: any statement of NAME but ``warn`` that holds one makes the condition
    true or false by it; a negated ``!acl = NAME`` is a list of exceptions, and filters nothing),
    and the nested ACLs that could not be read."""
    found: list[str] = []
    unread: list[str] = []
    for item in statement.conditions:
        if item.filter:
            found.append(str(item))
        elif item.name == "acl" and not item.negated:
            name = item.value.split()[0] if item.value.split() else ""
            _, nested, why = resolve_acl(config, name)
            if nested is None or depth >= MAX_DEPTH:
                unread.append(f"{item} ({why or 'nested too deep'})")
                continue
            for inner in nested:
                if inner.verb == "warn":
                    continue
                more, unknown = acl_filters(config, inner, depth + 1)
                found += [f"{item}: {f}" for f in more]
                unread += unknown
    return found, unread


#: Debian's optional list files: ``${if exists{FILE}{FILE}{}}`` is the file while it exists, else empty
EXISTS = re.compile(r"^\$\{if\s+exists\s*\{\s*([^{}$]+?)\s*\}\s*\{\s*\1\s*\}\s*\{\s*\}\s*\}$")

#: whether files exist, by path (the ones the ACLs test with ``exists``; a path not there is not known)
Files = Mapping[str, bool]


def exists_file(value: str) -> str | None:
    """The file of a list that is ``${if exists{FILE}{FILE}{}}`` (Debian's optional lists), or None."""
    m = EXISTS.match(value.strip())
    return m.group(1) if m else None


def acl_files(config: EximConfig) -> list[str]:
    """The files that the ACLs' conditions use only while they exist (:func:`exists_file`)."""
    found = (exists_file(i.value) for acl in config.acls.values() for st in acl for i in st.conditions)
    return list(dict.fromkeys(f for f in found if f))


def never_applies(statement: AclStatement, files: Files) -> bool:
    """Whether a condition of the statement can never be true: a list that is one of Debian's
    optional files, absent (empty: it matches nothing)."""
    return any(not i.negated and files.get(exists_file(i.value) or "") is False for i in statement.conditions)


def computed(statement: AclStatement, files: Files | None = None) -> list[str]:
    """The conditions of a statement whose whole list is computed at run time (a value that is one
    ``${...}`` expansion: Debian's ``senders = ${if exists{FILE}{FILE}{}}`` is empty, and never
    matches, while the file is absent), unless ``files`` says whether that file exists: whether the
    statement ever applies is not known here. A ``condition =``, which is always an expansion, is not
    counted."""
    known = files or {}
    return [
        str(i) for i in statement.conditions
        if i.name != "condition" and i.value.strip().startswith("${") and exists_file(i.value) not in known
    ]  # fmt: skip


@dataclass(frozen=True)
class RoleFilter:
    """A statement of an ACL that can refuse role mail with a filtering condition before any
    ``accept`` has taken it."""

    acl: str
    statement: AclStatement
    #: its filtering conditions (or, when ``unsure``, what could not be read)
    filters: tuple[str, ...]
    #: the role local parts it can reach
    roles: tuple[str, ...]
    #: whether that is not certain: an exemption ahead of it, a list of its own or an ACL it calls
    #: could not be read, or a condition of it is computed at run time (:func:`computed`)
    unsure: bool = False


def role_filters(
    config: EximConfig,
    acl: str,
    statements: Sequence[AclStatement],
    roles: Sequence[str],
    files: Files | None = None,
) -> tuple[list[RoleFilter], dict[str, AclStatement]]:
    """The statements of the RCPT ACL ``acl`` that filter mail for the ``roles`` (local parts:
    postmaster, abuse) before it is exempted, in order; and the ``accept`` statement that exempts
    each role, by role. An ``accept`` exempts a role when its ``local_parts`` conditions take it and
    its other conditions are ``domains`` (the host's own, by the convention of Exim's and Debian's
    configurations: which domains is not judged) or ``verify = recipient``; an ``accept domains =
    +local_domains`` (with ``verify = recipient`` or not) takes every address of those domains, and
    exempts every role; an ``accept`` with no
    condition ends the walk (nothing after it is reached). A statement with a list of an optional
    file that ``files`` says is absent never applies."""
    known = files or {}
    exempt: dict[str, AclStatement] = {}
    maybe: set[str] = set()
    out: list[RoleFilter] = []
    for statement in statements:
        conditions = statement.conditions
        if statement.verb == "accept":
            if not conditions:
                break
            parts = [c for c in conditions if c.name == "local_parts"]
            others = [
                c
                for c in conditions
                if c.name not in ("local_parts", "domains") and not _verifies_recipient(c)
            ]
            if others:
                continue
            if not parts:
                # (``accept domains = +local_domains``: every address of the host's domains, the role
                # addresses among them; an ``accept verify = recipient`` alone is no exemption)
                local = [c for c in conditions if c.name == "domains" and not c.negated]
                if local and not any(_all_negated(c.value) for c in local):
                    for role in roles:
                        exempt.setdefault(role, statement)
                continue
            for role in roles:
                if role in exempt:
                    continue
                taken = [local_part_in(c.value, role, config.lists) for c in parts]
                verdicts = [None if t is None else t != c.negated for t, c in zip(taken, parts, strict=True)]
                if all(v is True for v in verdicts):
                    exempt[role] = statement
                elif None in verdicts and False not in verdicts:
                    maybe.add(role)
            continue
        if statement.verb not in REFUSING or never_applies(statement, known):
            continue
        found, unread = acl_filters(config, statement)
        if not found and not unread:
            continue
        reach = []
        unsure = not found or bool(computed(statement, known))
        for role in roles:
            if role in exempt:
                continue
            applies = _applies_to(statement, role, config.lists)
            if applies is False:
                continue
            reach.append(role)
            unsure = unsure or applies is None or role in maybe
        if reach:
            out.append(RoleFilter(acl, statement, tuple(found or unread), tuple(reach), unsure))
    return out, exempt


def _verifies_recipient(item: AclItem) -> bool:
    return item.name == "verify" and item.value.split("/")[0].strip().lower() == "recipient"


def _all_negated(value: str) -> bool:
    items = exim_list(value)
    return bool(items) and all(i.startswith("!") for i in items)


#: conditions that, negated, exempt the host's trusted clients from a refusal (``!hosts =
#: +relay_from_hosts``, ``!authenticated = *``): the refusal still reaches every other client
EXEMPTIONS = frozenset({"hosts", "authenticated"})


def _exemption(item: AclItem) -> bool:
    return item.negated and item.name in EXEMPTIONS


def domain_guard(statement: AclStatement) -> bool:
    """Whether a statement is an RCPT ACL's relay guard, which refuses a recipient for not being at the
    host's own domains, whatever else the client is: ``require domains = +local_domains :
    +relay_to_domains`` (a ``require`` refuses when any of its conditions fails); a ``deny``, ``drop``,
    ``defer`` or ``discard`` with ``!domains = ...`` or ``domains = ! +local_domains`` (every item
    negated) whose other conditions only exempt trusted clients (``!hosts``, ``!authenticated``). A
    ``deny`` that also needs a positive condition (``local_parts = ^.*[@%!/|]``, ``hosts = ...``)
    refuses only some relaying, and ``verify = recipient`` refuses what does not route, at any
    domain: neither is the guard. Which domains the list names is not judged (by the convention of
    Exim's and Debian's configurations, the host's own)."""
    conditions = statement.conditions
    if statement.verb == "require":
        return any(not c.negated and c.name == "domains" for c in conditions)
    if statement.verb not in ("deny", "drop", "defer", "discard"):
        return False
    guards = [c for c in conditions if c.name == "domains" and (c.negated or _all_negated(c.value))]
    return bool(guards) and all(c in guards or _exemption(c) for c in conditions)


def refuses_all_untrusted(statement: AclStatement) -> bool:
    """A ``deny`` or ``drop`` that refuses every recipient of every client it does not exempt by
    address or authentication (no condition at all, or only ``!hosts`` and ``!authenticated``, as in
    ``deny message = relay not permitted`` or ``deny !hosts = +relay_from_hosts !authenticated = *``):
    what an RCPT ACL accepts after it, it accepts from trusted clients only."""
    return statement.verb in ("deny", "drop") and all(_exemption(c) for c in statement.conditions)


def relay_stop(statement: AclStatement) -> bool:
    """Whether an untrusted client that reaches this statement of an RCPT ACL can relay by no later
    one: the relay guard (:func:`domain_guard`) or a refusal of every untrusted client
    (:func:`refuses_all_untrusted`)."""
    return domain_guard(statement) or refuses_all_untrusted(statement)


#: the conditions that any client can meet: an ``accept`` that has no other takes a recipient at any
#: domain from anyone (``local_parts``: a local part at every domain, ``senders`` and ``verify =
#: sender``: what the client says of itself)
OPEN_CONDITIONS = frozenset({"local_parts", "senders", "verify = sender", "verify = helo"})


def open_accept(statements: Sequence[AclStatement]) -> AclStatement | None:
    """The first ``accept`` of an RCPT ACL that takes a recipient at any domain from any client
    before the relay guard (:func:`relay_stop`): one with no condition, or only conditions any
    client can meet (:data:`OPEN_CONDITIONS`); None when the guard comes first or there is no such
    ``accept``. An ``accept`` with another condition (``hosts``, ``authenticated``, ``domains``,
    ``condition``, ``acl``) is not judged here."""
    for statement in statements:
        if relay_stop(statement):
            return None
        if statement.verb != "accept":
            continue
        kinds = []
        for c in statement.conditions:
            if c.name == "verify" and not c.negated:
                kinds.append(f"verify = {c.value.split('/', 1)[0].strip().lower()}")
            else:
                kinds.append("!" * c.negated + c.name)
        if all(k in OPEN_CONDITIONS for k in kinds):
            return statement
    return None


#: a host list that matches every client
EVERY_NETWORK = ("0.0.0.0/0", "::/0")


def relay_hosts(
    config: EximConfig, statements: Sequence[AclStatement]
) -> tuple[list[str], list[str], list[str]]:
    """The clients an RCPT ACL lets relay by address: the ``hosts`` items of each ``accept`` whose
    only conditions are ``hosts`` (``accept hosts = +relay_from_hosts``), named host lists followed,
    up to the relay guard or a refusal of every untrusted client (:func:`relay_stop`: what is accepted
    after it is the host's own domains, or trusted clients')
    or an ``accept`` without conditions. A list whose last item is negated matches every host it did
    not refuse before (``hosts = !10.0.0.0/8`` is every other host), and so does a negated condition
    (``!hosts = 10.0.0.0/8``): both are ``0.0.0.0/0`` and ``::/0``. Returns (the networks, as
    ``192.0.2.0/24`` or an address; ``*`` as ``0.0.0.0/0`` and ``::/0``), (the items that are no
    network and were not judged: names, lookups, expansions), (the conditions read, as evidence)."""
    networks: list[str] = []
    unjudged: list[str] = []
    shown: list[str] = []

    def walk(value: str, depth: int) -> None:
        if expanded(value) or depth > MAX_DEPTH:
            unjudged.append(value)
            return
        items = exim_list(value)
        if items and items[-1].startswith("!"):
            networks.extend(EVERY_NETWORK)  # (the rest of the world, after the exceptions)
        for raw in items:
            if raw.startswith("!"):
                continue  # (an exception)
            item = raw.strip()
            if item == "*":
                networks.extend(EVERY_NETWORK)
            elif item.startswith("+") and config.lists.get(item[1:], ("", ""))[0] == "host":
                inner = config.lists[item[1:]][1]
                shown.append(f"hostlist {item[1:]} = {inner}")
                walk(inner, depth + 1)
            elif _is_network(item):
                networks.append(item)
            else:
                unjudged.append(item)

    for statement in statements:
        conditions = statement.conditions
        if (statement.verb == "accept" and not conditions) or relay_stop(statement):
            break
        if statement.verb != "accept" or any(c.name != "hosts" for c in conditions):
            continue
        positive = [c for c in conditions if not c.negated]
        for c in conditions:
            shown.append(f"accept {c}")
        if not positive:
            networks.extend(EVERY_NETWORK)
        for c in positive:
            walk(c.value, 0)
    return networks, unjudged, shown


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------------- exim -bh
@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply as ``exim -bh`` prints it (a multi-line reply's lines together)."""

    code: int
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return self.lines[-1] if len(self.lines) == 1 else f"{self.lines[0]} ... {self.lines[-1]}"


REPLY_LINE = re.compile(r"^(\d{3})([ -])(.*)$")


def parse_bh(text: str) -> list[SmtpReply]:
    """The SMTP replies of an ``exim -bh`` session's standard output, in order: Exim prints its
    replies there (after a ``****`` preamble), and its ACL trace and log lines on standard error."""
    out: list[SmtpReply] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        m = REPLY_LINE.match(line)
        if m is None:
            continue
        pending.append(line)
        if m.group(2) == " ":
            out.append(SmtpReply(int(m.group(1)), tuple(pending)))
            pending = []
    return out


@dataclass(frozen=True)
class AclRun:
    """One run of an ACL at the top of an ``exim -bh`` trace (an ACL it calls, ``acl = NAME``, is part
    of the statement that calls it)."""

    acl: str
    #: how it ended, as the trace says: ``ACCEPT``, ``DENY``, ``DISCARD``, ``DEFER``, ``DROP``, ``not
    #: OK`` (a ``require`` failed), ``implicit DENY`` (the end of the ACL reached); ``DEFER`` or
    #: ``ERROR`` too for a condition that deferred or failed to run; "" (no end seen)
    result: str = ""
    #: the statement that decided: its verb and what the trace shows it checked, in order (for a
    #: ``require``, the last is the condition that failed); None when no statement decided
    statement: AclStatement | None = None
    #: where the statement is, as the trace says (``/etc/exim4/exim4.conf 412``)
    where: str = ""


# Exim 4.96 quotes the ACL's name and leaves it out of ``processing``; later releases may print
# ``processing ACL NAME "VERB" (FILE LINE)`` and the name bare (``in ACL check_rcpt``): both are read.
TRACE_USING = re.compile(r'^using ACL "?([^"\s]+)"?$')
TRACE_PROCESSING = re.compile(r'^processing (?:ACL "?[^"\s]+"? )?"([a-z]+)"(?: \((.*)\))?$')
TRACE_DECIDED = re.compile(
    r'^([a-z]+): condition test (succeeded|failed|error|deferred)\b.* in ACL "?([^"\s]+)"?$'
)
TRACE_END = re.compile(r'^end of ACL "?([^":\s]+)"?: (.+)$')


def parse_bh_trace(text: str) -> list[AclRun]:
    """The ACL runs of an ``exim -bh`` session's standard error (Exim 4.9x's ``>>>`` trace), in order:
    each ``using ACL "NAME"`` at the top level opens one, its ``processing "VERB" (FILE LINE)`` lines
    open its statements, ``check CONDITION`` lines say what each tested, ``VERB: condition test
    succeeded in ACL`` (``require: ... failed``) says which decided, and ``end of ACL "NAME": RESULT``
    closes it. The lines of an ACL it calls (indented one more) and of a verification (between
    ``>>>>>>>`` and ``end verify``) are not the top level's."""
    runs: list[AclRun] = []
    acl, verb, where, checks = "", "", "", list[AclItem]()
    decided: tuple[AclStatement, str] | None = None
    verifying = False
    for raw in text.splitlines():
        if not raw.startswith(">>> ") or raw[4:5].isspace():
            continue
        line = raw[4:].rstrip()
        if line.startswith(">>>>>>>"):
            verifying = True
            continue
        if line.startswith("----------- end verify"):
            verifying = False
            continue
        if verifying:
            continue
        m = TRACE_USING.match(line)
        if m:
            if acl:  # (the last run's end was not seen: it is kept as it stands)
                runs.append(AclRun(acl, "", decided[0] if decided else None, decided[1] if decided else ""))
            acl, verb, where, checks, decided = m.group(1), "", "", [], None
            continue
        if not acl:
            continue
        m = TRACE_PROCESSING.match(line)
        if m:
            verb, where, checks = m.group(1), m.group(2) or "", []
            continue
        if line.startswith("check "):
            item = acl_item(line[6:].strip())
            if item is not None:
                checks.append(item)
            continue
        m = TRACE_DECIDED.match(line)
        if m and m.group(3) == acl and m.group(1) == verb and verb != "warn":
            outcome = m.group(2)
            if outcome in ("error", "deferred"):  # (the ACL ends there, with no "end of ACL" line)
                result = "DEFER" if outcome == "deferred" else "ERROR"
                runs.append(AclRun(acl, result, AclStatement(verb, tuple(checks)), where))
                acl, verb, where, checks, decided = "", "", "", [], None
            elif (verb == "require") == (outcome == "failed"):
                decided = (AclStatement(verb, tuple(checks)), where)
            continue
        m = TRACE_END.match(line)
        if m and m.group(1) == acl:
            result = m.group(2).strip()
            statement, place = decided if decided and not result.startswith("implicit") else (None, "")
            runs.append(AclRun(acl, result, statement, place))
            acl, verb, where, checks, decided = "", "", "", [], None
    if acl:
        runs.append(AclRun(acl, "", decided[0] if decided else None, decided[1] if decided else ""))
    return runs
