"""Credentials for containers: the caller's (as session credentials) or an assumed role's, refreshed before expiry.

The long-term keys of the caller never leave this process: a container gets STS GetSessionToken's temporary copy.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from typing import Any

from smctl.contract.credentials import (
    REFRESH_BEFORE,
    ROLE_DURATION,
    SERVED_LIFETIME_FOR_STATIC,
    CredentialsMode,
    CredentialsRequest,
    needs_refresh,
)
from smctl.errors import AwsError, CredentialsConfigError, RoleNotAssumableError

STS_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 2}}


@dataclass(frozen=True)
class TemporaryCredentials:
    access_key: str
    secret_key: str
    token: str
    expiration: dt.datetime
    role_arn: str | None = None

    def __repr__(self) -> str:  # never the secret, whatever prints it
        return f"TemporaryCredentials(key=...{self.access_key[-4:]}, expiration={self.expiration.isoformat()})"


class NoCallerCredentials(Exception):
    """The boto3 chain found no credentials (the default mode then runs containers without any)."""


class CredentialSource:
    """Hands out temporary credentials, fetching new ones when fewer than `refresh_before` seconds are left."""

    def __init__(self, request: CredentialsRequest, refresh_before: float | None = None) -> None:
        self.request = request
        self.refresh_before = refresh_before if refresh_before is not None else _refresh_before()
        self.description = ""
        self._lock = threading.Lock()
        self._current: TemporaryCredentials | None = None
        self._session = _session(request)
        self.region: str | None = request.region or self._session.region_name

    def current(self, now: dt.datetime | None = None) -> TemporaryCredentials:
        """Raises: AwsError, RoleNotAssumableError, NoCallerCredentials."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self._lock:
            if self._current is None or needs_refresh(self._current.expiration, now, self.refresh_before):
                self._current = self._fetch(now)
            return self._current

    def _fetch(self, now: dt.datetime) -> TemporaryCredentials:
        if self.request.mode == CredentialsMode.ROLE:
            return self._assume_role()
        return self._caller(now)

    def _caller(self, now: dt.datetime) -> TemporaryCredentials:
        from botocore.exceptions import BotoCoreError

        try:  # the chain itself raises on half a key pair, a broken profile, an expired SSO token
            creds = self._session.get_credentials()
            if creds is None:
                raise NoCallerCredentials("no AWS credentials found (environment, profile, SSO, instance or "
                                          "container role)")
            frozen = creds.get_frozen_credentials()  # refreshes SSO, assume-role and instance credentials
        except BotoCoreError as exc:
            raise CredentialsConfigError(f"reading your AWS credentials failed: {exc}",
                           "fix or refresh them (both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, `aws sso "
                           "login`, or new temporary credentials) and try again; or run without: "
                           "--no-credentials") from exc
        method = getattr(creds, "method", "credentials")
        if frozen.token:  # already temporary: served as they are, re-read from the chain before they expire
            expiry = getattr(creds, "_expiry_time", None)
            self.description = f"the caller's temporary credentials ({method})"
            return TemporaryCredentials(frozen.access_key, frozen.secret_key, frozen.token,
                                        expiry or now + dt.timedelta(seconds=SERVED_LIFETIME_FOR_STATIC))
        self.description = f"session credentials of the caller ({method}: GetSessionToken)"
        from smctl.aws.session import aws_errors

        with aws_errors("getting session credentials for the containers (STS GetSessionToken)"):
            answer = self._sts().get_session_token(DurationSeconds=max(ROLE_DURATION, 900))
        return _temporary(answer["Credentials"])

    def _assume_role(self) -> TemporaryCredentials:
        from botocore.exceptions import ClientError

        from smctl.aws.session import aws_errors

        arn = self.request.role_arn or ""
        self.description = f"role {arn} (session {self.request.session_name})"
        with aws_errors(f"assuming the role {arn}"):  # a refusal is RoleNotAssumableError, the rest AwsError
            try:
                answer = self._sts().assume_role(RoleArn=arn, RoleSessionName=self.request.session_name,
                                                 DurationSeconds=ROLE_DURATION)
            except ClientError as exc:
                raise _role_error(exc, arn) from exc
        return _temporary(answer["Credentials"], role_arn=arn)

    def _sts(self) -> Any:
        from botocore.config import Config

        return self._session.client("sts", region_name=self.region or "us-east-1", config=Config(**STS_TIMEOUTS))


def _session(request: CredentialsRequest) -> Any:
    from smctl.aws.session import session

    return session(request.region, request.profile)


def _temporary(c: dict[str, Any], role_arn: str | None = None) -> TemporaryCredentials:
    expiry = c["Expiration"]
    if isinstance(expiry, str):
        expiry = dt.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    return TemporaryCredentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], expiry, role_arn)


def _role_error(exc: Any, arn: str) -> AwsError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    if code in ("AccessDenied", "AccessDeniedException", "NoSuchEntity", "ValidationError", "InvalidParameterValue"):
        account = arn.split(":")[4] if arn.count(":") >= 5 else "ACCOUNT"
        return RoleNotAssumableError(
            f"you cannot assume the role {arn}: {code}: {err.get('Message') or code}",
            f"add your identity (`aws sts get-caller-identity`) to the role's trust policy as a principal allowed "
            f"sts:AssumeRole (next to sagemaker.amazonaws.com), and allow sts:AssumeRole on {arn} in your own "
            f"policy; check the role exists: aws iam get-role --role-name {arn.rsplit('/', 1)[-1]} "
            f"(account {account}); or run without it: --no-credentials")
    from smctl.aws.session import _client_error

    return _client_error(exc, f"assuming the role {arn}", None)


def _refresh_before() -> float:
    """SMCTL_CREDENTIALS_REFRESH_BEFORE (seconds): fetch new credentials when fewer are left (tests shorten lives)."""
    raw = os.environ.get("SMCTL_CREDENTIALS_REFRESH_BEFORE", "")
    try:
        return float(raw) if raw else REFRESH_BEFORE
    except ValueError:
        return REFRESH_BEFORE
