"""mailspec's lab: mail-domain scenarios served by real DNS, SMTP and HTTPS servers on loopback.

Importable without pytest (the fixtures live in :mod:`mailspec.testing.fixtures`). The lab shares
no code with mailspec's survey, so that a bug in one cannot hide the same bug in the other.
:class:`Lab` serves from a thread of the caller's process, :class:`LabProcess` from a process of its
own (``python -m mailspec.testing.serve``), where the survey it answers cannot slow it down.
"""

from __future__ import annotations

from .dns_server import LabDnsServer
from .https import HttpsSite, LabHttps
from .ident import LabIdent
from .lab import Lab, LabError, select_scenarios
from .mta import LabMtas, LabSmtp
from .pki import LabCA
from .process import LabProcess
from .scenario import (
    Expectations,
    HttpsSpec,
    MtaSpec,
    NameServerSpec,
    ResolverKnobs,
    Scenario,
    ScenarioError,
    Soa,
    Zone,
    check_together,
    load_scenario,
    load_scenarios,
    parse_scenario,
    scenario_names,
)
from .zones import (
    DNSBL_BADANSWER,
    DNSBL_REFUSING,
    DNSBL_WILD,
    DNSBL_ZONE,
    REGISTRY_IP,
    REGISTRY_NAME,
    RESOLVER_IP,
    LabPlan,
    ServerPlan,
    build_lab,
)

__all__ = [
    "DNSBL_BADANSWER",
    "DNSBL_REFUSING",
    "DNSBL_WILD",
    "DNSBL_ZONE",
    "REGISTRY_IP",
    "REGISTRY_NAME",
    "RESOLVER_IP",
    "Expectations",
    "HttpsSite",
    "HttpsSpec",
    "Lab",
    "LabCA",
    "LabDnsServer",
    "LabError",
    "LabHttps",
    "LabIdent",
    "LabMtas",
    "LabPlan",
    "LabProcess",
    "LabSmtp",
    "MtaSpec",
    "NameServerSpec",
    "ResolverKnobs",
    "Scenario",
    "ScenarioError",
    "ServerPlan",
    "Soa",
    "Zone",
    "build_lab",
    "check_together",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
    "scenario_names",
    "select_scenarios",
]
