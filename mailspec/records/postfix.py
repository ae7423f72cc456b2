"""Postfix's own configuration text, parsed: ``postconf`` output, ``master.cf`` services (``postconf
-M``), restriction lists and address lists. Pure: no I/O (the host-side reader runs the commands)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mailspec.records.dmarc import is_public_suffix

__all__ = [
    "MasterService",
    "access_action",
    "access_tables",
    "any_domain_keys",
    "cidr_keys",
    "file_patterns",
    "front_service",
    "listable",
    "network_entry_kind",
    "parent_domain_matches",
    "parse_master",
    "parse_postconf",
    "parse_service_params",
    "restrictions",
    "service_value",
    "smtp_ports",
    "smtpd_param",
    "smtpd_service",
    "split_list",
    "table_entries",
    "wide_networks",
]


def parse_postconf(text: str) -> dict[str, str]:
    """``name = value`` lines (``postconf``, ``postconf -n``, ``postconf -x``) as a dict.

    A line that starts with white space continues the one before (``postconf`` folds none, but a
    main.cf read as text does); ``postconf``'s warnings (``postconf: warning: ...``) are skipped."""
    out: dict[str, str] = {}
    last = ""
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.startswith("postconf:"):
            continue
        if raw[0].isspace() and last:
            out[last] = f"{out[last]} {raw.strip()}".strip()
            continue
        name, sep, value = raw.partition("=")
        if not sep:
            continue
        last = name.strip()
        out[last] = value.strip()
    return out


def split_list(value: str) -> list[str]:
    """A Postfix list (commas and/or white space; ``{ ... }`` grouped) as its elements."""
    out: list[str] = []
    depth, word = 0, ""
    for ch in value:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        if depth == 0 and (ch == "," or ch.isspace()):
            if word:
                out.append(word)
            word = ""
            continue
        word += ch
    if word:
        out.append(word)
    return out


def restrictions(value: str) -> list[str]:
    """The restriction names of a restriction list (``check_recipient_access hash:/x`` gives
    ``check_recipient_access`` and its table ``hash:/x`` as two elements, as Postfix reads them)."""
    return [w.lower() if ":" not in w else w for w in split_list(value)]


@dataclass(frozen=True)
class MasterService:
    """One master.cf service (``postconf -M`` prints one a line, ``-o`` options included)."""

    name: str
    type: str
    private: str
    unpriv: str
    chroot: str
    wakeup: str
    maxproc: str
    command: str
    #: the ``-o name=value`` overrides of the service
    options: tuple[tuple[str, str], ...] = ()
    line: str = ""

    @property
    def port(self) -> str:
        """The service's port or address part of an ``inet`` service (``smtp``, ``127.0.0.1:2525``)."""
        return self.name.rpartition(":")[2] if self.type == "inet" else ""

    def option(self, name: str) -> str | None:
        found = [v for k, v in self.options if k == name]
        return found[-1] if found else None


def parse_master(text: str) -> list[MasterService]:
    """``postconf -M`` output (or master.cf text; ``#`` comments, folded lines) as its services."""
    lines: list[str] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.startswith("postconf:"):
            continue
        if raw[0].isspace() and lines:
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw.strip())
    out: list[MasterService] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        options: list[tuple[str, str]] = []
        # (master(5): "-o { name = value with spaces }" groups a value with white space in it)
        args = _grouped(fields[8:])
        i = 0
        while i < len(args):
            if args[i] == "-o" and i + 1 < len(args):
                options.append(_option(args[i + 1]))
                i += 2
            elif args[i].startswith("-o") and len(args[i]) > 2:
                options.append(_option(args[i][2:]))
                i += 1
            else:
                i += 1
        name, type_, private, unpriv, chroot, wakeup, maxproc = fields[:7]
        command = " ".join(fields[7:])
        out.append(MasterService(name, type_, private, unpriv, chroot, wakeup, maxproc, command,
                                 tuple(options), line))  # fmt: skip
    return out


def _grouped(words: list[str]) -> list[str]:
    """Command arguments with ``{ ... }`` groups joined into one (braces kept)."""
    out: list[str] = []
    depth = 0
    for w in words:
        if depth > 0:
            out[-1] += " " + w
        else:
            out.append(w)
        depth = max(0, depth + w.count("{") - w.count("}"))
    return out


def _option(text: str) -> tuple[str, str]:
    """One ``-o`` argument, ``name=value`` or ``{ name = value }``, as (name, value)."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    name, _, value = text.partition("=")
    return name.strip(), value.strip()


def parse_service_params(text: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``postconf -P -x`` output (``smtpd/pass/mynetworks = 127.0.0.0/8``: each master.cf ``-o``
    override, its braces removed and its ``$names`` expanded) by (service name, type)."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for line in text.splitlines():
        head, sep, value = line.partition(" = ")
        if not sep:
            head, sep, value = line.partition("=")
        parts = head.strip().split("/")
        if not sep or len(parts) != 3 or line.startswith("postconf:"):
            continue
        out.setdefault((parts[0], parts[1]), []).append((parts[2], value.strip()))
    return out


def service_value(values: Mapping[str, str], service: MasterService, name: str) -> str:
    """A parameter's value for one master.cf service: its ``-o`` override, else main.cf's."""
    own = service.option(name)
    if own is None:
        return values.get(name, "")
    if own.startswith("$") and own[1:] in values:  # -o smtpd_x=$mua_x
        return values[own[1:]]
    return own


def smtp_ports(port: int) -> set[str]:
    """The master.cf service names of an ``inet`` service on ``port`` (``smtp`` is 25's)."""
    return {"smtp", "25"} if port == 25 else {str(port)}


def front_service(services: Iterable[MasterService], port: int) -> MasterService | None:
    """The master.cf service that takes connections on the SMTP port ``port`` (smtpd or
    postscreen); when none serves that port (a lab port), the real ``smtp`` service. Of several
    (``192.0.2.25:smtp`` and ``127.0.0.1:smtp``), the first not bound to a loopback address: the
    one the internet reaches."""
    services = list(services)
    for ports in (smtp_ports(port), smtp_ports(25)):
        found = [s for s in services if s.type == "inet" and s.port in ports]
        if found:
            return next((s for s in found if not _loopback_bound(s)), found[0])
    return None


def _loopback_bound(service: MasterService) -> bool:
    host = service.name.rpartition(":")[0].strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return bool(host) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def smtpd_service(services: Iterable[MasterService], port: int) -> MasterService | None:
    """The smtpd that talks SMTP to clients of ``port``: the front service, or behind postscreen the
    ``pass`` service postscreen hands its clients to (``smtpd_service_name``, ``smtpd`` unless the
    postscreen line overrides it)."""
    services = list(services)
    s = front_service(services, port)
    if s is not None and s.command.split()[:1] == ["postscreen"]:
        name = s.option("smtpd_service_name") or "smtpd"
        s = next((x for x in services if x.type == "pass" and x.name == name), None)
    return s


def smtpd_param(values: Mapping[str, str], services: Iterable[MasterService], name: str, port: int) -> str:
    """A parameter's value for the smtpd that serves ``port``: its master.cf ``-o`` override, else
    main.cf's (postconf -x)."""
    s = smtpd_service(services, port)
    return service_value(values, s, name) if s is not None else values.get(name, "")


#: the widest public networks ``mynetworks`` may hold (CATALOG §19 host.relay.restricted)
MAX_V4, MAX_V6 = 24, 48


def wide_networks(entries: Iterable[str]) -> list[str]:
    """The ``mynetworks`` entries that are public networks wider than /24 (IPv4) or /48 (IPv6).

    ``[::1]/128`` brackets are Postfix's own IPv6 form; entries that are no network (tables,
    host names) are not judged."""
    out: list[str] = []
    for entry in entries:
        text = re.sub(r"^\[([^\]]+)\]", r"\1", entry.strip())
        if "/" not in text and ":" not in text and not re.fullmatch(r"[0-9.]+", text):
            continue
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        limit = MAX_V4 if net.version == 4 else MAX_V6
        public = not (net.is_private or net.is_loopback or net.is_link_local or net.is_reserved)
        if net.prefixlen == 0 or (public and net.prefixlen < limit):
            out.append(entry)
    return out


def yes(value: str | None) -> bool:
    """Postfix's boolean: ``yes`` / ``true`` (any case) is true."""
    return (value or "").strip().lower() in ("yes", "true", "1", "on")


#: the restriction lists smtpd evaluates at RCPT time (smtpd_delay_reject = yes), in order
RCPT_LISTS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)
#: restrictions that judge the client or the message rather than the recipient (blocklists, policy
#: services, DNS sanity): a role address accepted after one of them is filtered
FILTERS = (
    "reject_rbl_client",
    "reject_rhsbl_client",
    "reject_rhsbl_sender",
    "reject_rhsbl_helo",
    "reject_rhsbl_reverse_client",
    "reject_unknown_client_hostname",
    "reject_unknown_reverse_client_hostname",
    "reject_unknown_helo_hostname",
    "reject_unknown_sender_domain",
    "reject_non_fqdn_helo_hostname",
    "reject_invalid_helo_hostname",
    "check_policy_service",
    "reject_unverified_sender",
    "check_client_access",
    "check_helo_access",
    "check_sender_access",
    "reject_unauth_pipelining",
)
#: access results that accept the recipient (Postfix access(5))
ACCEPTING = ("ok", "permit", "relay")


def access_tables(values: Mapping[str, str], services: Iterable[MasterService] = ()) -> list[str]:
    """The tables of the ``check_recipient_access`` restrictions of the RCPT-time lists, main.cf's
    and each master.cf service's ``-o`` overrides of them."""
    out: list[str] = []
    lists = [values.get(name, "") for name in RCPT_LISTS]
    lists += [service_value(values, s, n) for s in services for n in RCPT_LISTS if s.option(n) is not None]
    for value in lists:
        words = restrictions(value)
        for i, w in enumerate(words[:-1]):
            if w == "check_recipient_access" and words[i + 1] not in out:
                out.append(words[i + 1])
    return out


def network_entry_kind(entry: str) -> str:
    """What a ``mynetworks`` element is: ``network`` (an address, a network, a host name, a
    negation), ``file`` (``/etc/postfix/mynetworks``: a file of patterns) or ``table``
    (``cidr:/etc/postfix/net.cidr``, ``hash:...``)."""
    text = entry.strip()
    if text.startswith("/"):
        return "file"
    if text.startswith(("!", "[")) or ":" not in text:
        return "network"
    return "table" if text.split(":", 1)[0].lower() in TABLE_TYPES else "network"


#: Postfix's lookup table types (postconf -m, and the ones it can be built with)
TABLE_TYPES = frozenset(
    [
        "btree",
        "cdb",
        "cidr",
        "dbm",
        "environ",
        "fail",
        "hash",
        "inline",
        "internal",
        "ldap",
        "lmdb",
        "memcache",
        "mongodb",
        "mysql",
        "netinfo",
        "nis",
        "nisplus",
        "pcre",
        "pgsql",
        "pipemap",
        "proxy",
        "randmap",
        "regexp",
        "sdbm",
        "socketmap",
        "sqlite",
        "static",
        "tcp",
        "texthash",
        "unionmap",
        "unix",
    ]
)


def file_patterns(text: str) -> list[str]:
    """The patterns of a ``/file/name`` element of a match list (``mynetworks``): white space or
    comma separated, ``#`` comments."""
    return split_list(" ".join(line.split("#", 1)[0] for line in text.splitlines()))


def cidr_keys(text: str) -> list[str]:
    """The networks a ``cidr:`` table matches (its first fields; ``if``/``endif`` and comments
    skipped)."""
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0].lower() not in ("if", "endif") and not words[0].startswith("!"):
            out.append(words[0])
    return out


def accepting(result: str) -> bool:
    """Whether an access(5) result accepts (``OK``, ``PERMIT``, a 2xx code, an all-numerical
    result, which access(5) treats as OK...)."""
    text = result.strip()
    word = text.split(None, 1)[0].lower() if text else ""
    return word in ACCEPTING or bool(re.fullmatch(r"2\d\d", word)) or (text.isdigit() and len(text) != 3)


#: access(5) actions that do not accept: they refuse, or let the restriction list go on (DUNNO and the
#: actions that only mark the message)
NOT_ACCEPTING = frozenset(
    [
        "reject",
        "defer",
        "defer_if_reject",
        "defer_if_permit",
        "dunno",
        "discard",
        "hold",
        "warn",
        "info",
        "prepend",
        "filter",
        "redirect",
        "bcc",
    ]
)


def access_action(result: str) -> str:
    """What an access(5) result does to a recipient: ``accept`` (see :func:`accepting`), ``refuse``
    (a reject or defer code or action, or an action that lets the list go on), or ``other``: a
    restriction list or a restriction class, which this reader does not expand."""
    if accepting(result):
        return "accept"
    words = split_list(result.strip())
    word = words[0].lower() if words else ""
    if word in NOT_ACCEPTING or re.fullmatch(r"[45]\d\d", word):
        return "refuse"
    # (one reject_* or defer_* restriction refuses or lets the list go on; a list of several, such as
    # "reject_unverified_recipient, permit", may end in a permit)
    if len(words) == 1 and word.startswith(("reject_", "defer_")):
        return "refuse"
    return "other"


#: the table types ``postmap -s`` lists (every key, as Postfix reads it: the database, not its
#: source file, which may be newer)
LISTABLE_TABLES = ("hash", "btree", "lmdb", "cdb", "texthash")


def listable(table: str) -> bool:
    """Whether ``postmap -s`` can list a lookup table (``hash:/etc/postfix/access``; not regexp,
    pcre, proxy: or SQL tables)."""
    kind, sep, path = table.partition(":")
    return bool(sep) and kind.lower() in LISTABLE_TABLES and path.startswith("/")


def table_entries(text: str) -> list[tuple[str, str]]:
    """``postmap -s`` output (``key<TAB>value`` lines; a postmap(1) source file reads the same,
    with ``#`` comments and continuation lines) as (key, value) pairs."""
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#") or raw.startswith("postmap:"):
            continue
        if raw[0].isspace():
            if out:  # (a continuation; postmap skips one with nothing before it)
                last_key, last_value = out[-1]
                out[-1] = (last_key, f"{last_value} {raw.strip()}".strip())
            continue
        fields = raw.split(None, 1)
        out.append((fields[0], fields[1].strip() if len(fields) > 1 else ""))
    return out


def any_domain_keys(entries: Iterable[tuple[str, str]], parent_matches: bool = True) -> list[tuple[str, str]]:
    """The entries of a ``check_recipient_access`` table whose key matches recipients at any
    domain: ``user@`` (that local part at every domain), or a public suffix: ``com`` when
    ``parent_domain_matches_subdomains`` has ``smtpd_access_maps`` (*parent_matches*, Postfix's
    default: a key matches the domains below it), ``.com`` when it has not. A key naming an address
    or a registrable domain matches only those recipients, as relay_domains does."""
    out = []
    for key, result in entries:
        k = key.strip().lower()
        if k.endswith("@") or (
            "@" not in k and k.startswith(".") != parent_matches and is_public_suffix(k.lstrip("."))
        ):
            out.append((key, result))
    return out


def parent_domain_matches(values: Mapping[str, str]) -> bool:
    """Whether access tables' domain keys match their subdomains (``smtpd_access_maps`` in
    ``parent_domain_matches_subdomains``, Postfix's default)."""
    default = "smtpd_access_maps"
    value = values.get("parent_domain_matches_subdomains", default)
    return "smtpd_access_maps" in [w.lower() for w in split_list(value)]
