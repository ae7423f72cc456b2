"""Frozen records of what the survey saw, each with the evidence it rests on, one module per kind.

Facts are plain data: they can be compared, serialised with :func:`encode` / :func:`decode` and handed
from the xdist controller to its workers, and every verdict a check gives can be traced back to them.
"""

from __future__ import annotations

from mailspec.facts.auth import DkimSurvey, DmarcFound, DmarcSurvey, DnsLookups, MtaStsSurvey
from mailspec.facts.base import Fact, decode, encode
from mailspec.facts.dns import (
    PER_NAME,
    PER_ZONE,
    DnsAnswer,
    DomainDns,
    MxTarget,
    NameServer,
    NsAddress,
    Record,
    Soa,
    ZoneProbe,
    need,
)
from mailspec.facts.host import MtaConfig, RoleRoute, TlsFiles
from mailspec.facts.mtasts import MtaStsFetch, PeerCertificate
from mailspec.facts.published import PublishedTls
from mailspec.facts.smtp import (
    DnsblListing,
    DnsblZone,
    Exchange,
    HostAddresses,
    IdentProbe,
    OutboundIp,
    ReportRcpt,
    ReportRcpts,
    ReverseDns,
    SmtpControl,
    SmtpEndpoint,
    SmtpEnvelope,
    SmtpIntrusive,
    SmtpSession,
    TlsInfo,
)
from mailspec.facts.spf import SpfResult, SpfTree

__all__ = [
    "PER_NAME",
    "PER_ZONE",
    "DkimSurvey",
    "DmarcFound",
    "DmarcSurvey",
    "DnsAnswer",
    "DnsLookups",
    "DnsblListing",
    "DnsblZone",
    "DomainDns",
    "Exchange",
    "Fact",
    "HostAddresses",
    "IdentProbe",
    "MtaConfig",
    "MtaStsFetch",
    "MtaStsSurvey",
    "MxTarget",
    "NameServer",
    "NsAddress",
    "OutboundIp",
    "PeerCertificate",
    "PublishedTls",
    "Record",
    "ReportRcpt",
    "ReportRcpts",
    "ReverseDns",
    "RoleRoute",
    "SmtpControl",
    "SmtpEndpoint",
    "SmtpEnvelope",
    "SmtpIntrusive",
    "SmtpSession",
    "Soa",
    "SpfResult",
    "SpfTree",
    "TlsFiles",
    "TlsInfo",
    "ZoneProbe",
    "decode",
    "encode",
    "need",
]
