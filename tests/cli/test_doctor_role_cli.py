"""`smctl doctor --role`: the execution role through the real CLI, against roles created in moto's server."""

from __future__ import annotations

import json
import uuid

import pytest

from smctl.contract.execution_role import TRUST_STATEMENT
from tests.cli.test_doctor_cli import checks
from tests.helpers import WORKER, WORKER_LABEL

ACCOUNT = "123456789012"
OTHERS = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}


def create_role(*statements: dict) -> str:
    import boto3

    name = f"smctl-test-{uuid.uuid4().hex[:10]}"
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]


@pytest.fixture
def no_engine(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")


def test_offline_role_is_named_and_no_aws_call_is_made(smctl, aws_env, monkeypatch, no_engine, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: a call would fail the check
    role = f"arn:aws:iam::{ACCOUNT}:role/Nowhere"
    got = checks(smctl("doctor", "--role", role, "--json", cwd=tmp_path))
    assert got["aws.role"]["status"] == "ok"
    assert got["aws.role"]["data"] == {"role_arn": role, "source": "--role"}
    assert "smctl doctor --online" in got["aws.role"]["summary"]
    assert not {"aws.role.assume", "aws.role.trust", "aws.role.permissions"} & set(got)


def test_a_role_that_trusts_sagemaker_passes_assume_and_trust(smctl, aws_env, no_engine, tmp_path):
    role = create_role(TRUST_STATEMENT, OTHERS)
    got = checks(smctl("doctor", "--online", "--role", role, "--json", cwd=tmp_path))
    assert got["aws.role"]["summary"].startswith(f"{role} (from --role)")
    assert got["aws.role.assume"]["status"] == "ok"
    assert got["aws.role.assume"]["data"]["assumed_arn"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/smctl-doctor"
    assert got["aws.role.trust"]["status"] == "ok"
    assert got["aws.role.trust"]["data"]["trusts_sagemaker"] is True


def test_a_role_without_sagemaker_in_its_trust_policy_warns_with_the_statement(smctl, aws_env, no_engine, tmp_path):
    role = create_role(OTHERS)
    res = smctl("doctor", "--online", "--role", role, cwd=tmp_path)
    lines = res.stdout.splitlines()
    [trust] = [i for i, line in enumerate(lines) if line.startswith("WARN  execution role: trust policy:")]
    assert lines[trust] == ("WARN  execution role: trust policy: does not trust sagemaker.amazonaws.com: SageMaker "
                            "jobs cannot use this role (local runs can)")
    assert lines[trust + 1] == (
        '      fix: add {"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}'
        f" to its trust policy's Statement list (aws iam update-assume-role-policy --role-name "
        f"{role.rsplit('/', 1)[1]} --policy-document file://trust.json, the whole document, your statements kept)")
    assert "OK    execution role: AssumeRole: you can assume it" in res.stdout


def test_permissions_moto_cannot_simulate_are_reported_as_not_checked(smctl, aws_env, no_engine, tmp_path):
    role = create_role(TRUST_STATEMENT)
    (tmp_path / "smctl.toml").write_text(
        '[aws]\necr_repository = "team/model"\n'
        '[train.channels]\ntraining = "s3://in-bucket/train/"\n'
        '[transform]\ninput = "s3://in-bucket/batch/"\noutput = "s3://out-bucket/predictions/"\n')
    got = checks(smctl("doctor", "--online", "--role", role, "--json", cwd=tmp_path))
    perms = got["aws.role.permissions"]
    assert perms["status"] == "warn"
    assert perms["summary"] == f"not checked: the IAM endpoint {aws_env} does not serve SimulatePrincipalPolicy"
    needs = {n["resource"]: n["actions"] for n in perms["data"]["needs"]}
    assert needs == {
        "arn:aws:s3:::in-bucket/train/*": ["s3:GetObject"],
        "arn:aws:s3:::in-bucket": ["s3:ListBucket"],
        "arn:aws:s3:::in-bucket/batch/*": ["s3:GetObject"],
        "arn:aws:s3:::out-bucket/predictions/*": ["s3:PutObject"],
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/model": [
            "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        "*": ["ecr:GetAuthorizationToken"],
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/*": ["logs:CreateLogStream",
                                                                         "logs:PutLogEvents"],
    }
    assert all(line.startswith("not checked: ") for line in perms["details"])
    assert perms["data"]["denied"] == []  # nothing claimed either way
    assert "aws iam simulate-principal-policy" in perms["remedy"]


def test_the_role_in_smctl_toml_is_checked_when_no_flag_is_given(smctl, aws_env, no_engine, tmp_path):
    role = create_role(TRUST_STATEMENT)
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "{role}"\n')
    got = checks(smctl("doctor", "--online", "--json", cwd=tmp_path))
    assert got["aws.role"]["data"] == {"role_arn": role, "source": "smctl.toml [aws] role"}
    assert got["aws.role.assume"]["status"] == "ok" and got["aws.role.trust"]["status"] == "ok"


def test_the_role_flag_wins_over_smctl_toml(smctl, aws_env, no_engine, tmp_path):
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "arn:aws:iam::{ACCOUNT}:role/FromFile"\n')
    flag = f"arn:aws:iam::{ACCOUNT}:role/FromFlag"
    got = checks(smctl("doctor", "--role", flag, "--json", cwd=tmp_path))
    assert got["aws.role"]["data"] == {"role_arn": flag, "source": "--role"}


def test_without_a_role_doctor_shows_no_role_check(smctl, aws_env, no_engine, tmp_path):
    got = checks(smctl("doctor", "--online", "--json", cwd=tmp_path))
    assert not [cid for cid in got if cid.startswith("aws.role")]


def test_a_missing_role_fails_naming_the_create_role_command(smctl, aws_env, no_engine, tmp_path):
    role = f"arn:aws:iam::{ACCOUNT}:role/smctl-test-missing-{uuid.uuid4().hex[:8]}"
    res = smctl("doctor", "--online", "--role", role, "--json", cwd=tmp_path)
    assert res.exit_code == 6
    trust = checks(res)["aws.role.trust"]
    assert trust["status"] == "fail" and trust["data"]["code"] == "NoSuchEntity"
    assert f"aws iam create-role --role-name {role.rsplit('/', 1)[1]}" in trust["remedy"]
    assert "aws.role.trust" in res.json["error"]["message"]


def test_a_malformed_role_flag_is_a_usage_error_naming_the_flag(smctl, no_aws_env, tmp_path):
    res = smctl("doctor", "--role", "SageMakerRole", cwd=tmp_path)
    assert res.exit_code == 2
    assert res.stderr == ("Error: --role must be an IAM role ARN, got 'SageMakerRole' (str)\n"
                          "Hint: e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole\n")


# ---- AccessDenied from STS, with moto's IAM authorization switched on ------------------------------------------

def test_access_denied_on_assume_role_fails_naming_the_trust_policy_fix(smctl, aws_env, caller_denied_assume_role,
                                                                         no_engine, tmp_path):
    role = f"arn:aws:iam::{ACCOUNT}:role/smctl-test-denied"  # the caller's own policy refuses: the role is not asked
    res = smctl("doctor", "--online", "--role", role, "--json", cwd=tmp_path)
    assert res.exit_code == 6
    got = checks(res)
    assert got["aws.identity"]["data"]["arn"] == caller_denied_assume_role
    assume = got["aws.role.assume"]
    assert assume["status"] == "fail"
    assert assume["data"]["code"] == "AccessDenied"
    assert assume["summary"].startswith(f"you cannot assume {role}: AccessDenied: User: {caller_denied_assume_role}"
                                        " is not authorized to perform: sts:AssumeRole")
    statement = {"Effect": "Allow", "Principal": {"AWS": caller_denied_assume_role}, "Action": "sts:AssumeRole"}
    assert json.dumps(statement, separators=(",", ":")) in assume["remedy"]
    assert "aws iam update-assume-role-policy --role-name smctl-test-denied" in assume["remedy"]


# ---- credentials.endpoint ---------------------------------------------------------------------------------------

def test_the_endpoint_check_cannot_tell_without_the_engine(smctl, no_aws_env, no_engine, tmp_path):
    got = checks(smctl("doctor", "--json", cwd=tmp_path))
    assert got["credentials.endpoint"]["status"] == "warn"
    assert "unreachable" in got["credentials.endpoint"]["summary"]


@pytest.mark.docker
def test_the_endpoint_check_passes_on_a_local_rootful_engine_and_leaves_no_network(smctl, docker_client, aws_env,
                                                                                  tmp_path):
    got = checks(smctl("doctor", "--json", cwd=tmp_path))
    endpoint = got["credentials.endpoint"]
    assert endpoint["status"] == "ok", endpoint
    assert endpoint["data"]["address"] == "169.254.170.2"
    mine = docker_client.networks.list(names=["smctl-credentials"], filters={"label": f"{WORKER_LABEL}={WORKER}"})
    assert mine == []  # the network the probe made (labelled with this worker's labels) is gone again
