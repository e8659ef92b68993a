"""The container credentials protocol (ECS/EKS) as AWS SDKs read it, and STS's limits: data only, no I/O.

A container finds its credentials by GET on AWS_CONTAINER_CREDENTIALS_FULL_URI (with the header Authorization:
AWS_CONTAINER_AUTHORIZATION_TOKEN). Over plain http SDKs accept only loopback and the link-local ECS/EKS addresses;
the container's loopback is its own, so smctl answers on ECS's 169.254.170.2 (a port of its own: RELATIVE_URI would
mean port 80, which an unprivileged process cannot bind).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

ECS_HOST = "169.254.170.2"
HOST_SUBNET = "169.254.170.0/29"  # the smallest pool that holds ECS_HOST as a gateway

ENV_FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
ENV_RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
ENV_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
ENV_TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
# What a container must not inherit from --env or smctl.toml while smctl gives it credentials: any of them would
# win over (or fight with) the endpoint in the SDKs' chain.
SECRET_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# Passed through from smctl's environment so containers reach the same endpoints (a stand-in, a VPC endpoint).
ENDPOINT_PREFIX = "AWS_ENDPOINT_URL"

# ASCII only, as IAM and STS mean them (Python's \w and \d also match other scripts' letters and digits)
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
SESSION_NAME_CHARS = re.compile(r"[^A-Za-z0-9_+=,.@-]")
SESSION_NAME_MAX = 64
ROLE_DURATION = 3600  # AssumeRole's default; a role's MaxSessionDuration may allow more, chaining caps it at 1 h
REFRESH_BEFORE = 20 * 60  # botocore refetches 15 min before expiry: what it gets then must outlive that window
SERVED_LIFETIME_FOR_STATIC = 3600  # temporary keys with no known expiry: re-served hourly


class CredentialsMode:
    CALLER = "caller"
    ROLE = "role"
    NONE = "none"


@dataclass(frozen=True)
class CredentialsRequest:
    """Which credentials a run's containers get: the caller's (the default), an assumed role's, or none."""

    mode: str = CredentialsMode.CALLER
    role_arn: str | None = None
    session_name: str = "smctl"
    region: str | None = None
    profile: str | None = None

    def describe(self) -> dict[str, object]:
        """For --dry-run and --json: the source, never a secret."""
        if self.mode == CredentialsMode.NONE:
            return {"source": "none", "summary": self.summary()}
        base: dict[str, object] = {"summary": self.summary(), "endpoint": f"http://{ECS_HOST}:<port>/<per-run path>",
                                   "environment": [ENV_FULL_URI, ENV_TOKEN]}
        if self.mode == CredentialsMode.ROLE:
            return {"source": "role", "role_arn": self.role_arn, "session_name": self.session_name, **base}
        return {"source": "caller", "profile": self.profile, **base}

    def summary(self) -> str:
        if self.mode == CredentialsMode.NONE:
            return "none (--no-credentials)"
        if self.mode == CredentialsMode.ROLE:
            return f"role {self.role_arn} (session {self.session_name}), refreshed before expiry"
        via = f"profile {self.profile}" if self.profile else "the AWS credential chain"
        return f"the caller's, from {via}, as session credentials refreshed before expiry"


def session_name(name: str) -> str:
    """STS's RoleSessionName ([\\w+=,.@-]{2,64}) from a job or endpoint name."""
    cleaned = SESSION_NAME_CHARS.sub("-", name)[:SESSION_NAME_MAX]
    return cleaned if len(cleaned) >= 2 else f"smctl-{cleaned}"


def credentials_document(access_key: str, secret_key: str, token: str, expiration: dt.datetime,
                         role_arn: str | None = None) -> dict[str, str]:
    """The JSON body ECS's endpoint answers (the SDKs read AccessKeyId, SecretAccessKey, Token, Expiration)."""
    doc = {"AccessKeyId": access_key, "SecretAccessKey": secret_key, "Token": token,
           "Expiration": expiration.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if role_arn:
        doc["RoleArn"] = role_arn
    return doc


def container_environment(port: int, path: str, token: str, region: str | None,
                          host_environment: Mapping[str, str]) -> dict[str, str]:
    """What each container of the run gets: the endpoint, its token, the region, the host's endpoint overrides."""
    env = {ENV_FULL_URI: f"http://{ECS_HOST}:{port}{path}", ENV_TOKEN: token}
    if region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
    env.update({k: v for k, v in host_environment.items() if k.startswith(ENDPOINT_PREFIX) and v})
    return env


def needs_refresh(expiration: dt.datetime | None, now: dt.datetime, before: float) -> bool:
    return expiration is None or (expiration - now).total_seconds() < before
