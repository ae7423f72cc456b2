"""What a host's packet filter does with new TCP connections to a port, read from its rules as they
stand (``nft list ruleset``, ``iptables -S`` / ``ip6tables -S``). Pure: no I/O.

Only the input path counts (iptables' INPUT chain and the chains it jumps to; nft's chains with
``hook input``). A rule counts when it can match a new TCP connection to the port: its protocol is
tcp (or none named), its destination port (``113``, a range ``100:200`` / ``100-200``, a list or a set
``{ 25, 113 }``) covers the port, or it names none. Rules for established connections and the
loopback interface are passed over; a rule with another condition (a source, an interface, a named
set) is conditional: the verdict is ``unknown`` unless a later unconditional rule decides. An nft
jump or goto is not followed: ``unknown``.
"""

from __future__ import annotations

import re

__all__ = ["port_disposition"]

#: how deep iptables jumps are followed
MAX_JUMPS = 8
VERDICTS = {"accept": "accept", "reject": "reject", "drop": "drop"}


def port_disposition(rules: str, port: int) -> tuple[str, str]:
    """What the filter does with new TCP connections to ``port``: ``("accept" | "reject" | "drop" |
    "open" | "unknown", the deciding rule or policy line, or why unknown)``; ``open``: no rule decides
    and the input policy accepts (the kernel then answers a closed port with a RST)."""
    if re.search(r"^\s*table\s", rules, re.M):
        results = [_nft_chain(body, policy, port) for policy, body in _nft_input_chains(rules)]
    else:
        results = [_ipt(section, port) for section in _ipt_sections(rules)]
    if not results:
        return "open", ""
    for wanted in ("drop", "unknown"):
        found = next((r for r in results if r[0] == wanted), None)
        if found is not None:
            return found
    return next((r for r in results if r[0] != "open"), results[0])


# ------------------------------------------------------------------------------------------ ports
def _covers(spec: str, port: int) -> bool:
    for part in re.split(r"[,\s]+", spec.strip().strip("{}").strip()):
        if not part:
            continue
        lo, sep, hi = part.replace(":", "-").partition("-")
        if lo.isdigit() and (hi.isdigit() if sep else True) and int(lo) <= port <= int(hi if sep else lo):
            return True
    return False


# --------------------------------------------------------------------------------------- iptables
def _ipt_sections(rules: str) -> list[list[str]]:
    """iptables -S and ip6tables -S, one after the other: each starts at its ``-P INPUT``."""
    sections: list[list[str]] = []
    for raw in rules.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("-P INPUT") or not sections:
            sections.append([])
        sections[-1].append(line)
    return sections


def _ipt(lines: list[str], port: int) -> tuple[str, str]:
    policy = next((x for x in lines if x.startswith("-P INPUT ")), "")
    chains: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("-A "):
            chains.setdefault(line.split()[1], []).append(line)
    pending: list[str] = []
    found = _ipt_chain(chains, "INPUT", port, pending, 0)
    if found is not None:
        return found
    if pending:
        return "unknown", f"conditional rule {pending[0]} (no later unconditional rule decides)"
    if policy.split()[-1:] == ["DROP"]:
        return "drop", policy
    return "open", ""


def _ipt_chain(
    chains: dict[str, list[str]], name: str, port: int, pending: list[str], depth: int
) -> tuple[str, str] | None:
    for line in chains.get(name, []):
        words = line.split()
        opts = dict(zip(words[::1], [*words[1:], ""], strict=True))
        proto = opts.get("-p", "").lower()
        if proto and proto not in ("tcp", "6", "all"):
            continue
        if "!" in words:  # (a negated match: conditional)
            pending.append(line)
            continue
        ports = opts.get("--dport") or opts.get("--dports") or opts.get("--destination-port")
        if ports is not None and not _covers(ports, port):
            continue
        state = (opts.get("--state") or opts.get("--ctstate") or "").upper()
        if state and "NEW" not in state.split(","):
            continue
        if opts.get("-i") == "lo":
            continue
        target = (opts.get("-j") or opts.get("-g") or "").upper()
        conditional = any(w in words for w in ("-s", "-i", "-d", "--src-range", "--match-set", "!"))
        if not target or target in ("LOG", "NFLOG", "MARK", "CONNMARK", "ULOG"):
            continue
        if conditional:
            pending.append(line)
            continue
        if target in ("ACCEPT", "REJECT", "DROP"):
            return target.lower(), line
        if target == "RETURN":
            return None
        if target in chains and depth < MAX_JUMPS:
            found = _ipt_chain(chains, target, port, pending, depth + 1)
            if found is not None:
                return found
            if "-g" in words:
                return None
            continue
        return "unknown", f"{line}: a jump to chain {target}, which is not followed"
    return None


# -------------------------------------------------------------------------------------------- nft
def _nft_input_chains(rules: str) -> list[tuple[str, list[str]]]:
    """(the policy line, the rule lines) of each base chain with ``hook input``."""
    out: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    policy = ""
    for raw in rules.splitlines():
        line = raw.strip()
        if re.match(r"chain\s", line):
            current, policy = [], ("(chain input)" if re.match(r"chain\s+input\b", line, re.I) else "")
            continue
        if current is None:
            continue
        if line == "}":
            if policy:
                out.append((policy, current))
            current = None
            continue
        if "hook input" in line:
            policy = line
            continue
        if line:
            current.append(line)
    return out


def _nft_chain(lines: list[str], policy: str, port: int) -> tuple[str, str]:
    pending: list[str] = []
    for line in lines:
        low = line.lower()
        if re.search(r"\budp\s+dport\b", low) or re.search(r"l4proto\s+(udp|icmp|ipv6-icmp)\b", low):
            continue
        states = re.split(r"[\s,{}]+", low.split("ct state", 1)[1])[:6] if "ct state" in low else []
        if states and "new" not in states:
            continue
        if re.search(r"\biif(name)?\s+\"?lo\"?\s", low + " "):
            continue
        m = re.search(r"\b(?:tcp|th)\s+dport\s+(!=\s*)?(\{[^}]*\}|@\S+|[\d-]+)", low)
        if m:
            if m.group(1) or m.group(2).startswith("@"):
                pending.append(line)
                continue
            if not _covers(m.group(2), port):
                continue
        verdict = next((v for v in ("accept", "reject", "drop") if re.search(rf"\b{v}\b", low)), "")
        jump = re.search(r"\b(jump|goto)\s+(\S+)", low)
        if not verdict and not jump and not re.search(r"\breturn\b", low):
            continue
        conditional = re.search(r"\b(saddr|daddr|iif|iifname|oif|oifname)\b", low) or "@" in low
        if conditional:
            pending.append(line)
            continue
        if jump:
            return "unknown", f"{line}: a {jump.group(1)} to chain {jump.group(2)}, which is not followed"
        if not verdict:  # return: the policy decides
            break
        return verdict, line
    if pending:
        return "unknown", f"conditional rule {pending[0]} (no later unconditional rule decides)"
    if "policy drop" in policy.lower():
        return "drop", policy
    return "open", ""
