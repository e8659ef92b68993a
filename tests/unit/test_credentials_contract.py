"""The container credentials protocol as data (smctl/contract/credentials.py): STS's session names, the document
the endpoint answers, what a container's environment gets, and when credentials are fetched again."""

from __future__ import annotations

import datetime as dt
import random
import re
import string

import pytest

from smctl.contract.credentials import (
    ENV_FULL_URI,
    ENV_TOKEN,
    ROLE_ARN,
    CredentialsMode,
    CredentialsRequest,
    container_environment,
    credentials_document,
    needs_refresh,
    session_name,
)

STS_SESSION_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")  # RoleSessionName, as STS's API reference gives it
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


# ---- session_name ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("churn-20261202-1200-ab12", "churn-20261202-1200-ab12"),
    ("user@example.com+test=1,2.x_y", "user@example.com+test=1,2.x_y"),  # every character STS allows is kept
    ("my job/with:spaces", "my-job-with-spaces"),
    ("café", "caf-"),  # non-ASCII letters are not STS's \w
    ("j", "smctl-j"),  # STS wants at least 2 characters
    ("", "smctl-"),
])
def test_session_name_keeps_what_sts_allows_and_replaces_the_rest(name, expected):
    assert session_name(name) == expected


def test_session_name_is_cut_to_64_characters():
    assert session_name("a" * 100) == "a" * 64
    assert session_name("x" * 63 + "/tail") == "x" * 63 + "-"


def test_session_name_always_satisfies_sts_whatever_the_name():
    rng = random.Random(20261202)
    alphabet = string.printable + "éß漢字😀\u00a0٣"
    for _ in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 90)))
        assert STS_SESSION_NAME.fullmatch(session_name(name)), repr(name)


# ---- credentials_document -------------------------------------------------------------------------------------

def test_the_document_has_the_four_fields_sdks_read_with_an_iso_utc_expiration():
    expiry = dt.datetime(2026, 12, 2, 14, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    doc = credentials_document("ASIAEXAMPLE", "secret", "token", expiry)
    assert doc == {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "Token": "token",
                   "Expiration": "2026-12-02T12:30:05Z"}


def test_the_document_names_the_role_when_there_is_one():
    doc = credentials_document("A", "S", "T", NOW, role_arn="arn:aws:iam::123456789012:role/R")
    assert doc["RoleArn"] == "arn:aws:iam::123456789012:role/R"
    assert "RoleArn" not in credentials_document("A", "S", "T", NOW)


def test_botocore_reads_the_expiration_back_as_the_same_instant():
    from botocore.utils import parse_timestamp

    doc = credentials_document("A", "S", "T", NOW + dt.timedelta(minutes=42))
    assert parse_timestamp(doc["Expiration"]) == NOW + dt.timedelta(minutes=42)


# ---- container_environment ------------------------------------------------------------------------------------

def test_a_container_gets_the_full_uri_on_ecs_address_and_the_token():
    env = container_environment(41234, "/v2/credentials/abc", "tok", None, {})
    assert env == {ENV_FULL_URI: "http://169.254.170.2:41234/v2/credentials/abc", ENV_TOKEN: "tok"}


def test_a_known_region_is_set_under_both_names():
    env = container_environment(1, "/p", "t", "eu-west-1", {})
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_endpoint_overrides_pass_through_and_nothing_secret_does():
    host = {"AWS_ENDPOINT_URL": "http://172.17.0.1:5011", "AWS_ENDPOINT_URL_S3": "http://s3.local",
            "AWS_ENDPOINT_URL_STS": "", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": "t", "AWS_PROFILE": "dev", "HOME": "/root"}
    env = container_environment(1, "/p", "t", None, host)
    assert env["AWS_ENDPOINT_URL"] == "http://172.17.0.1:5011" and env["AWS_ENDPOINT_URL_S3"] == "http://s3.local"
    assert set(env) == {ENV_FULL_URI, ENV_TOKEN, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"}


# ---- needs_refresh --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("left", "before", "expected"), [
    (3600, 1200, False),
    (1201, 1200, False),
    (1200, 1200, False),  # exactly the margin left: still good
    (1199, 1200, True),
    (0, 1200, True),
    (-5, 0, True),  # expired
    (3600, 7200, True),  # a margin longer than the life (SMCTL_CREDENTIALS_REFRESH_BEFORE in tests)
])
def test_credentials_are_fetched_again_when_less_than_the_margin_is_left(left, before, expected):
    assert needs_refresh(NOW + dt.timedelta(seconds=left), NOW, before) is expected


def test_credentials_without_an_expiration_are_always_fetched_again():
    assert needs_refresh(None, NOW, 0) is True


# ---- the request and the role ARN -----------------------------------------------------------------------------

def test_a_request_describes_its_source_never_a_secret():
    role = CredentialsRequest(mode=CredentialsMode.ROLE, role_arn="arn:aws:iam::123456789012:role/R",
                              session_name="job-1")
    assert role.describe()["source"] == "role" and role.describe()["session_name"] == "job-1"
    assert role.summary() == "role arn:aws:iam::123456789012:role/R (session job-1), refreshed before expiry"
    caller = CredentialsRequest(profile="dev")
    assert caller.describe()["source"] == "caller" and "profile dev" in caller.summary()
    assert CredentialsRequest(mode=CredentialsMode.NONE).describe() == {"source": "none",
                                                                         "summary": "none (--no-credentials)"}


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::123456789012:role/SageMakerRole",
    "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20261202T120000",
    "arn:aws-cn:iam::123456789012:role/R",
    "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f_g-h",
])
def test_role_arns_iam_accepts_are_accepted(arn):
    assert ROLE_ARN.fullmatch(arn)


@pytest.mark.parametrize("arn", [
    "SageMakerRole",
    "arn:aws:iam::123456789012:user/dev",
    "arn:aws:iam::12345678901:role/R",  # 11 digits
    "arn:aws:sts::123456789012:assumed-role/R/session",
    "arn:aws:iam::123456789012:role/",
    "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/R",  # digits, but not ASCII ones
    "arn:aws:iam::123456789012:role/rôle",
])
def test_anything_but_a_role_arn_is_refused(arn):
    assert not ROLE_ARN.fullmatch(arn)
