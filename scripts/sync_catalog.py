"""(Re)write ``mailspec/catalog.json`` from the shared check catalog document (CATALOG.md).

    python scripts/sync_catalog.py /work/shared/CATALOG.md

Every row of every ``| id | rule | sev | seed | citation |`` table becomes one entry, in catalog order.
Titles are not in CATALOG.md: they are written by hand in catalog.json and kept when the file is
rewritten. An id without a title (a new catalog row) is written with an empty title and the script
exits with status 1 naming it: write its title in catalog.json and run the script again.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

CATALOG_JSON = Path(__file__).resolve().parents[1] / "mailspec" / "catalog.json"

LEVELS = {"0": "dns", "1": "connect", "2": "envelope", "3": "intrusive"}
PROBES = (*LEVELS.values(), "host")

# The probe level of a section's rows when a rule does not open with its own "L0".."L3" marker
# ("L2: ...", "L1, per outbound IP: ...", "At L2 ..."). Each default comes from §0's level definitions
# (L0 = DNS only, incl. DNSSEC and DNSBL; L1 = TCP connect, banner, EHLO, STARTTLS, QUIT, HTTPS
# fetch, port-113 connect; L2 = MAIL/RCPT/VRFY; L3 = deliberate violations) applied to what most rows of
# the section do; the rows that do something else are in PROBE_OVERRIDES.
SECTION_PROBES = {
    1: "dns",  # DNS health: queries to resolvers and to the authoritative servers only
    2: "dns",  # MX records: MX/A/AAAA resolution only
    3: "connect",  # Secondary MX: what the backups answer on port 25 (L2 rows carry their marker)
    4: "dns",  # Outbound identity: PTR, A/AAAA and SPF lookups, and the configured HELO name
    5: "dns",  # Dynamic IP and DNSBLs: §0 puts DNSBL queries in L0
    6: "connect",  # SMTP dialogue: "Connect to every MX@IP:25"; L2/L3 rows carry their marker
    7: "envelope",  # Role addresses: "Each runs at L2" (the section's own sentence)
    8: "connect",  # STARTTLS and certificates: STARTTLS is L1; the L3 rows carry their marker
    9: "dns",  # SPF: TXT lookups and check_host's DNS walk
    10: "dns",  # DKIM: selector TXT lookups
    11: "dns",  # DMARC: TXT and MX/A lookups
    12: "connect",  # MTA-STS: the policy is an HTTPS fetch (L1), and mtasts.mx-tls needs STARTTLS
    13: "dns",  # DANE: TLSA lookups and DNSSEC validation; the handshake rows are overrides
    14: "connect",  # IDENT: port-113 connect is L1 (the row says "L1" too)
    19: "host",  # Host-side checks: run on the mail host through testinfra, no probe of the network
}

# Rows without a leading marker whose rule does not do what their section's default says.
PROBE_OVERRIDES = {
    "mx2.policy-parity": "envelope",  # "Run the same L2/L3 probes": the L2 part is its minimum
    "mx2.sandwich": "dns",  # the MX preferences alone
    "mx2.dual-stack-path": "dns",  # the MX hosts' A/AAAA records alone
    "smtp.vrfy.implemented": "envelope",  # VRFY, which §0 puts in L2
    "smtp.expn.advertised": "envelope",  # EXPN, an address query like VRFY
    "mtasts.txt": "dns",  # the _mta-sts TXT record
    "tlsrpt.record": "dns",  # the _smtp._tls TXT record
    "dane.tlsa.match": "connect",  # the TLS handshake with each MX address
    "dane.ta-in-chain": "connect",  # the chain the server presents
    "dane.requires-starttls": "connect",  # STARTTLS offered and the handshake working
}

SECTION = re.compile(r"^## (\d+)\. (.+)$")
TABLE_HEADER = re.compile(r"^\| id \|")
ROW = re.compile(r"^\| ([a-z0-9]+(?:\.[a-z0-9-]+)+) \|")
MARKER = re.compile(r"^(?:At )?L([0-3])\b")
# §15: the ids --mail-profile=bulk promotes to must (besides the rows whose sev says "policy")
BULK = re.compile(r"`--mail-profile=bulk` promotes these to `must`:(.*?)Not observable", re.S)
# a citation segment that continues the previous source ("…; note §4.1.4: …") rather than naming one
CONTINUATION = re.compile(r"^(?:§|[a-z]+ §)")


class CatalogError(Exception):
    pass


def section_name(heading: str) -> str:
    """``DNS health ("dnsreport-style", seed f)`` -> ``DNS health``: the heading without its parentheses."""
    depth = 0
    out = []
    for ch in heading:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(ch)
    return " ".join("".join(out).split())


def split_refs(citation: str) -> list[str]:
    """Split the citation column on "; " outside parentheses, quotes and code spans."""
    parts: list[str] = []
    depth = 0
    quoted = code = False
    start = 0
    for i, ch in enumerate(citation):
        if ch == "`":
            code = not code
        elif code:
            continue
        elif ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0 and citation[i + 1 : i + 2] == " ":
            parts.append(citation[start:i])
            start = i + 2
    parts.append(citation[start:])
    refs: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if refs and CONTINUATION.match(part):
            refs[-1] = f"{refs[-1]}; {part}"
        else:
            refs.append(part)
    return refs


def parse_severity(sev: str, check_id: str) -> tuple[str, bool, bool]:
    """``must`` / ``must†`` / ``should (policy: must)`` -> (severity, policy, demoted)."""
    m = re.fullmatch(r"(must|should|may)(†)?(?: \((policy)(?:: must)?\))?", sev.strip())
    if m is None:
        raise CatalogError(
            f"{check_id}: severity {sev!r} is not must, should, may, must† or 'should (policy: must)'"
        )
    return m.group(1), m.group(3) is not None, m.group(2) is not None


def parse_catalog(text: str) -> list[dict[str, Any]]:
    """Every check row of CATALOG.md as a catalog.json entry without its title, in catalog order."""
    entries: list[dict[str, Any]] = []
    number = 0
    heading = ""
    in_table = False
    for lineno, line in enumerate(text.splitlines(), 1):
        m = SECTION.match(line)
        if m:
            number, heading, in_table = int(m.group(1)), section_name(m.group(2)), False
            continue
        if TABLE_HEADER.match(line):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        row = ROW.match(line)
        if not (in_table and row):
            continue
        cells = [c.strip() for c in line.strip().removeprefix("|").removesuffix("|").split(" | ")]
        if len(cells) != 5:
            raise CatalogError(f"line {lineno}: {len(cells)} cells, not 5 (id, rule, sev, seed, citation)")
        check_id, rule, sev, seed, citation = cells
        severity, policy, demoted = parse_severity(sev, check_id)
        marker = MARKER.match(rule)
        if marker:
            probe = LEVELS[marker.group(1)]
        elif check_id in PROBE_OVERRIDES:
            probe = PROBE_OVERRIDES[check_id]
        elif number in SECTION_PROBES:
            probe = SECTION_PROBES[number]
        else:
            raise CatalogError(f"{check_id}: section {number} has no default probe level in SECTION_PROBES")
        refs = split_refs(citation)
        if not refs:
            raise CatalogError(f"{check_id}: no citation")
        entries.append(
            {
                "id": check_id,
                "section": heading,
                "severity": severity,
                "policy": policy,
                "demoted": demoted,
                "probe": probe,
                "refs": refs,
                "seed": seed,
            }
        )
    ids = [e["id"] for e in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise CatalogError(f"ids listed twice: {', '.join(twice)}")
    bulk = BULK.search(text)
    if bulk is None:
        raise CatalogError("no bulk-profile paragraph (`--mail-profile=bulk` promotes these to `must`:)")
    promoted = set(re.findall(r"[a-z0-9]+(?:\.[a-z0-9-]*[a-z0-9])+", bulk.group(1))) & set(ids)
    for entry in entries:
        if entry["id"] in promoted:
            entry["policy"] = True
    return entries


def with_titles(entries: list[dict[str, Any]], titles: dict[str, str]) -> list[dict[str, Any]]:
    """The entries with their titles, the title second (after the id), as catalog.json holds them."""
    return [
        {"id": e["id"], "title": titles.get(e["id"], ""), **{k: v for k, v in e.items() if k != "id"}}
        for e in entries
    ]


def render(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/sync_catalog.py /path/to/CATALOG.md", file=sys.stderr)
        return 2
    try:
        entries = parse_catalog(Path(argv[0]).read_text(encoding="utf-8"))
    except CatalogError as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 1
    titles: dict[str, str] = {}
    if CATALOG_JSON.is_file():
        titles = {e["id"]: e.get("title", "") for e in json.loads(CATALOG_JSON.read_text(encoding="utf-8"))}
    out = with_titles(entries, titles)
    text = render(out)
    if not CATALOG_JSON.is_file() or CATALOG_JSON.read_text(encoding="utf-8") != text:
        CATALOG_JSON.write_text(text, encoding="utf-8")
    untitled = [e["id"] for e in out if not e["title"]]
    if untitled:
        print(
            f"{CATALOG_JSON}: no title for {', '.join(untitled)}: write one (a short sentence ending "
            'with a period) in the entry\'s "title" and run this script again',
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
