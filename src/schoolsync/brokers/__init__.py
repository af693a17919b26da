"""Live MIS connectors: Groupcall Xporter on Demand, Wonde, Assembly and OneRoster REST.

Each provider module has a *broker* (one per credential: it holds the pooled HTTP client and
the rate limit every school using the credential shares) and a *school* connector, which is a
:class:`~schoolsync.ports.MisSource` and fetches full snapshots or deltas from a
:class:`Watermark`. A fetch is complete or it raises :class:`~schoolsync.errors.BrokerError`
naming the provider, school and endpoint. See docs/brokers.md.

Needs the ``brokers`` extra (httpx).
"""

from __future__ import annotations

from schoolsync.brokers._base import BrokerFetch, Watermark, options_fingerprint
from schoolsync.brokers._http import (
    HttpSettings,
    Limiter,
    RateLimit,
    RateLimiter,
    RateLimits,
    RetryPolicy,
    Secret,
)
from schoolsync.brokers._school import BrokerSchool
from schoolsync.brokers.assembly import (
    ASSEMBLY_LIMIT,
    AssemblyBroker,
    AssemblySchool,
    AssemblyTokens,
)
from schoolsync.brokers.oneroster import OneRosterBroker, OneRosterSchool, oauth1_authorization
from schoolsync.brokers.wonde import WondeBroker, WondeSchool
from schoolsync.brokers.xporter import XporterBroker, XporterSchool

__all__ = [
    "ASSEMBLY_LIMIT",
    "AssemblyBroker",
    "AssemblySchool",
    "AssemblyTokens",
    "BrokerFetch",
    "BrokerSchool",
    "HttpSettings",
    "Limiter",
    "OneRosterBroker",
    "OneRosterSchool",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "RetryPolicy",
    "Secret",
    "Watermark",
    "WondeBroker",
    "WondeSchool",
    "XporterBroker",
    "XporterSchool",
    "oauth1_authorization",
    "options_fingerprint",
]
