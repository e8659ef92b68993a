"""AWS credentials and region as botocore resolves them, and who STS says we are: facts, never a secret.

Only the credentials' source, profile and the last 4 characters of the key id are kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# Providers that ask a metadata endpoint over the network: skipped without --online.
NETWORK_PROVIDERS = ("iam-role", "container-role")


@dataclass(frozen=True)
class AwsFacts:
    """What botocore resolves for credentials and region, and (online) what STS and ECR answer."""

    online: bool = False
    method: str | None = None
    profile: str | None = None
    key_suffix: str | None = None
    region: str | None = None
    expires_at: str | None = None
    minutes_left: float | None = None
    error: str | None = None  # the configuration itself is broken (a missing profile, a bad config file)
    metadata_skipped: bool = False
    account: str | None = None
    arn: str | None = None
    sts_error: str | None = None
    ecr_endpoint: str | None = None
    ecr_expires_at: str | None = None
    ecr_error: str | None = None


def credential_facts(online: bool = False, now: dt.datetime | None = None, *, region: str | None = None,
                     profile: str | None = None) -> AwsFacts:
    """Resolve credentials locally; with online=True also call STS GetCallerIdentity and ECR GetAuthorizationToken.

    region and profile: smctl.toml's [aws] values, which win over the environment as in smctl's commands.
    Never raises: a broken configuration or a failed call is recorded in the facts.
    """
    import botocore.exceptions
    import botocore.session

    now = now or dt.datetime.now(dt.timezone.utc)
    bs = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
    try:
        region = region or bs.get_config_variable("region")
        if not online:
            resolver = bs.get_component("credential_provider")
            for name in NETWORK_PROVIDERS:
                resolver.remove(name)
        creds = bs.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return AwsFacts(online=online, error=str(exc), profile=_safe_profile(bs))
    if creds is None:
        return AwsFacts(online=online, region=region, profile=_safe_profile(bs), metadata_skipped=not online)
    method = getattr(creds, "method", None)
    profile = None if method == "env" else (bs.profile or "default")
    key: str | None
    if online:
        try:
            key = creds.get_frozen_credentials().access_key
        except botocore.exceptions.BotoCoreError as exc:
            return AwsFacts(online=True, method=method, profile=profile, region=region, sts_error=_text(exc))
    else:
        # Reading the attribute behind .access_key does not trigger a refresh (a network call) for
        # refreshable credentials; deferred ones (SSO, assume-role) have no key until first used.
        key = getattr(creds, "_access_key", None) if hasattr(creds, "_expiry_time") else creds.access_key
    expiry = getattr(creds, "_expiry_time", None)
    facts = AwsFacts(
        online=online,
        method=method,
        profile=profile,
        key_suffix=key[-4:] if key else None,
        region=region,
        expires_at=expiry.isoformat() if expiry else None,
        minutes_left=round((expiry - now).total_seconds() / 60, 1) if expiry else None,
    )
    if not online:
        return facts
    return _online(bs, facts, region)


def _online(bs: Any, facts: AwsFacts, region: str | None) -> AwsFacts:
    from dataclasses import replace

    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2})
    updates: dict[str, Any] = {}
    try:
        sts = bs.create_client("sts", region_name=region or "us-east-1", config=config)
        ident = sts.get_caller_identity()
        updates.update(account=ident.get("Account"), arn=ident.get("Arn"))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal
        updates["sts_error"] = _text(exc)
    if not region:
        updates["ecr_error"] = "no region set: ECR is regional"
        return replace(facts, **updates)
    try:
        ecr = bs.create_client("ecr", region_name=region, config=config)
        data = ecr.get_authorization_token()["authorizationData"][0]
        expires = data.get("expiresAt")
        updates.update(ecr_endpoint=data.get("proxyEndpoint"),
                       ecr_expires_at=expires.isoformat() if hasattr(expires, "isoformat") else expires)
    except Exception as exc:  # noqa: BLE001
        updates["ecr_error"] = _text(exc)
    return replace(facts, **updates)


def _text(exc: Exception) -> str:
    """An AWS error as `Code: message` (never the request, which carries signatures)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _safe_profile(bs: Any) -> str | None:
    try:
        return bs.profile
    except Exception:  # noqa: BLE001
        return None
