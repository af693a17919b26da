"""``schoolsync fetch``: fetch one school from a data broker into a OneRoster CSV bundle.

Credentials come from environment variables only (never options, which shells keep in their
history):

=========  ==============================================================================
wonde      ``SCHOOLSYNC_WONDE_TOKEN``
xporter    ``SCHOOLSYNC_XPORTER_RELYING_PARTY``, ``SCHOOLSYNC_XPORTER_SECRET`` (the school's)
assembly   ``SCHOOLSYNC_ASSEMBLY_CLIENT_ID``, ``SCHOOLSYNC_ASSEMBLY_CLIENT_SECRET``,
           ``SCHOOLSYNC_ASSEMBLY_ACCESS_TOKEN``, ``SCHOOLSYNC_ASSEMBLY_REFRESH_TOKEN``
oneroster  ``SCHOOLSYNC_ONEROSTER_CLIENT_ID``, ``SCHOOLSYNC_ONEROSTER_CLIENT_SECRET``,
           ``SCHOOLSYNC_ONEROSTER_TOKEN_URL`` (OAuth 2; omit for a 1.1 OAuth 1.0a provider)
=========  ==============================================================================

``SCHOOLSYNC_BROKER_URL`` (or ``--base-url``) points at another host: a sandbox, a fake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from schoolsync.errors import ValidationError

if TYPE_CHECKING:
    from schoolsync.brokers import BrokerSchool

__all__ = ["PROVIDERS", "connect_from_env", "fetch", "provider_spec"]

#: The providers ``fetch`` and ``match`` know.
PROVIDERS = ("wonde", "xporter", "assembly", "oneroster")
_SPEC = re.compile(r"^(wonde|xporter|assembly|oneroster):(.+)$")


def provider_spec(text: str) -> tuple[str, str] | None:
    """``("wonde", "A1930499544")`` for ``"wonde:A1930499544"``; None for a file path."""
    found = _SPEC.match(text)
    return (found.group(1), found.group(2)) if found else None


def _need(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ValidationError(name, None, "environment variable not set (credentials come from it)")
    return value


def connect_from_env(
    provider: str,
    school: str,
    *,
    base_url: str | None = None,
    school_id: str | None = None,
    env: Mapping[str, str] | None = None,
) -> BrokerSchool:
    """A broker school connector for *school* at *provider*, credentials from *env*.

    Raises:
        ValidationError: a credential variable is missing, or the provider is unknown.
    """
    from schoolsync import brokers as b
    from schoolsync.brokers import assembly, wonde, xporter

    env = os.environ if env is None else env
    base_url = base_url or env.get("SCHOOLSYNC_BROKER_URL") or None
    if provider == "wonde":
        return b.WondeBroker(
            _need(env, "SCHOOLSYNC_WONDE_TOKEN"), base_url=base_url or wonde.DEFAULT_URL
        ).school(school, school_id=school_id)
    if provider == "xporter":
        broker = b.XporterBroker(
            _need(env, "SCHOOLSYNC_XPORTER_RELYING_PARTY"), base_url=base_url or xporter.DEFAULT_URL
        )
        return broker.school(school, _need(env, "SCHOOLSYNC_XPORTER_SECRET"), school_id=school_id)
    if provider == "assembly":
        client = b.AssemblyBroker(
            _need(env, "SCHOOLSYNC_ASSEMBLY_CLIENT_ID"),
            _need(env, "SCHOOLSYNC_ASSEMBLY_CLIENT_SECRET"),
            base_url=base_url or assembly.DEFAULT_URL,
            auth_url=base_url or assembly.DEFAULT_AUTH_URL,
        )
        refresh = env.get("SCHOOLSYNC_ASSEMBLY_REFRESH_TOKEN")
        tokens = b.AssemblyTokens(
            access_token=_need(env, "SCHOOLSYNC_ASSEMBLY_ACCESS_TOKEN"),
            refresh_token=b.Secret(refresh) if refresh else None,
            school_id=school,
        )
        return client.school(tokens, school_id=school_id)
    if provider == "oneroster":
        if not base_url:
            raise ValidationError("--base-url", None, "a OneRoster provider needs its base URL")
        token_url = env.get("SCHOOLSYNC_ONEROSTER_TOKEN_URL")
        return b.OneRosterBroker(
            base_url,
            client_id=_need(env, "SCHOOLSYNC_ONEROSTER_CLIENT_ID"),
            client_secret=_need(env, "SCHOOLSYNC_ONEROSTER_CLIENT_SECRET"),
            version="1.2" if token_url else "1.1",
            token_url=token_url,
        ).school(school, school_id=school_id)
    raise ValidationError("provider", provider, f"must be one of {', '.join(PROVIDERS)}")


@click.command()
@click.argument("provider", type=click.Choice(PROVIDERS))
@click.argument("school")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("school.zip"),
    show_default=True,
    help="The OneRoster CSV bundle (zip) to write.",
)
@click.option("--base-url", help="The broker's API base URL (default: the provider's own).")
def fetch(provider: str, school: str, out: Path, base_url: str | None) -> None:
    """Fetch SCHOOL from PROVIDER (wonde, xporter, assembly, oneroster) into a OneRoster bundle.

    SCHOOL is the broker's key for the school: the Wonde id, the estab, the Assembly school id
    or the OneRoster org sourcedId. Credentials come from environment variables (see
    ``schoolsync fetch --help`` in docs/brokers.md).
    """
    from schoolsync.brokers.bundle import write_oneroster_bundle

    conn = connect_from_env(provider, school, base_url=base_url)
    with conn:
        fetched = conn.fetch()
    write_oneroster_bundle(fetched.snapshot, out, org=school)
    snap = fetched.snapshot
    click.echo(
        f"Fetched {len(snap.pupils)} pupils, {len(snap.staff)} staff, {len(snap.classes)} "
        f"classes and {len(snap.year_groups)} year groups from {provider} in "
        f"{fetched.requests} requests; wrote {out}"
    )
    for warning in snap.warnings[:10]:
        click.echo(f"warning: {warning}", err=True)
