"""The credentials smctl hands to containers (smctl/aws/credentials.py), fetched from moto's STS server: session
credentials for the caller's long-term keys, an assumed role's, refreshed before they expire."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from smctl.aws.credentials import CredentialSource, NoCallerCredentials
from smctl.contract.credentials import SERVED_LIFETIME_FOR_STATIC, CredentialsMode, CredentialsRequest
from smctl.contract.execution_role import TRUST_STATEMENT
from smctl.errors import ExitCode, RoleNotAssumableError

ACCOUNT = "123456789012"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def role_request(arn: str, session: str = "churn-1") -> CredentialsRequest:
    return CredentialsRequest(mode=CredentialsMode.ROLE, role_arn=arn, session_name=session)


@pytest.fixture
def role(aws_env: str) -> str:
    import boto3

    name = f"smctl-test-{uuid.uuid4().hex[:10]}"
    doc = {"Version": "2012-10-17", "Statement": [TRUST_STATEMENT]}
    return boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]


def identity_of(creds) -> str:
    """Who STS says these credentials are."""
    import boto3

    sts = boto3.client("sts", aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                       aws_session_token=creds.token)
    return sts.get_caller_identity()["Arn"]


def test_long_term_keys_are_exchanged_for_session_credentials_with_an_expiration(aws_env):
    source = CredentialSource(CredentialsRequest())
    creds = source.current()
    assert creds.access_key != "testing" and creds.secret_key != "testing"  # the caller's keys never leave
    assert creds.token
    assert 3500 < (creds.expiration - now()).total_seconds() <= 3600
    assert creds.role_arn is None
    assert source.description == "session credentials of the caller (env: GetSessionToken)"
    assert source.region == "us-east-1"


def test_the_credentials_never_show_their_secret_when_printed(aws_env):
    creds = CredentialSource(CredentialsRequest()).current()
    assert creds.secret_key not in repr(creds) and creds.token not in repr(creds)
    assert creds.access_key[-4:] in repr(creds)


def test_a_role_is_assumed_with_the_runs_session_name(aws_env, role):
    source = CredentialSource(role_request(role, "churn-1"))
    creds = source.current()
    assert creds.role_arn == role
    assert identity_of(creds) == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/churn-1"
    assert 3500 < (creds.expiration - now()).total_seconds() <= 3600
    assert source.description == f"role {role} (session churn-1)"


def test_the_same_credentials_are_served_while_enough_life_is_left(aws_env, role, monkeypatch):
    monkeypatch.setenv("SMCTL_CREDENTIALS_REFRESH_BEFORE", "60")
    source = CredentialSource(role_request(role))
    first = source.current()
    assert source.current() is first


def test_new_credentials_are_fetched_when_the_refresh_margin_exceeds_their_life(aws_env, role, monkeypatch):
    monkeypatch.setenv("SMCTL_CREDENTIALS_REFRESH_BEFORE", "7200")  # longer than the hour STS gives
    source = CredentialSource(role_request(role))
    first = source.current()
    second = source.current()
    assert second.access_key != first.access_key
    assert identity_of(second).endswith("/churn-1")


def test_caller_session_credentials_are_renewed_once_they_near_expiry(aws_env, monkeypatch):
    monkeypatch.delenv("SMCTL_CREDENTIALS_REFRESH_BEFORE", raising=False)  # the default margin: 20 minutes
    source = CredentialSource(CredentialsRequest())
    first = source.current()
    assert source.current(now() + dt.timedelta(minutes=30)) is first  # 30 of 60 minutes left
    later = source.current(first.expiration - dt.timedelta(minutes=19))
    # moto's GetSessionToken answers one fixed key id: a second call shows in the later expiration
    assert later is not first and later.expiration > first.expiration


def test_temporary_caller_credentials_are_served_as_they_are(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMPORARYEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temporary-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "temporary-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: an STS call would fail
    source = CredentialSource(CredentialsRequest())
    creds = source.current()
    assert (creds.access_key, creds.secret_key, creds.token) == ("ASIATEMPORARYEXAMPLE", "temporary-secret",
                                                                 "temporary-token")
    left = (creds.expiration - now()).total_seconds()
    assert SERVED_LIFETIME_FOR_STATIC - 60 < left <= SERVED_LIFETIME_FOR_STATIC  # re-read from the chain hourly
    assert source.description == "the caller's temporary credentials (env)"


def test_no_credentials_anywhere_is_told_apart_from_a_failure(no_aws_env):
    with pytest.raises(NoCallerCredentials, match="no AWS credentials found"):
        CredentialSource(CredentialsRequest(region="us-east-1")).current()


def test_a_role_the_caller_may_not_assume_is_role_not_assumable_exit_4(caller_denied_assume_role):
    arn = f"arn:aws:iam::{ACCOUNT}:role/smctl-test-denied"
    with pytest.raises(RoleNotAssumableError) as caught:
        CredentialSource(role_request(arn)).current()
    err = caught.value
    assert err.exit_code == ExitCode.AWS
    assert err.message.startswith(f"you cannot assume the role {arn}: AccessDenied")
    assert "trust policy" in err.hint and "--no-credentials" in err.hint
