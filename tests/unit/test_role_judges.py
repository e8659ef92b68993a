"""Doctor's execution-role and credentials-endpoint judges, and the execution role's contract, fed hand-made facts."""

from __future__ import annotations

import json

import pytest

from smctl.aws.roles import RoleFacts, Simulated
from smctl.contract.execution_role import (
    TRUST_STATEMENT,
    Need,
    RoleArn,
    caller_statement,
    role_needs,
    trust_principal,
    trusts,
)
from smctl.doctor import role_judges as rj
from smctl.doctor.model import Status
from smctl.doctor.role_checks import EndpointFacts

ROLE = "arn:aws:iam::123456789012:role/service-role/SageMakerRole"
CALLER = "arn:aws:iam::123456789012:user/dev"
SAGEMAKER_TRUST = {"Version": "2012-10-17", "Statement": [TRUST_STATEMENT]}
READ = Need(("s3:GetObject",), "arn:aws:s3:::data/train/*", "[train.channels.training]")
LIST = Need(("s3:ListBucket",), "arn:aws:s3:::data", "[train.channels.training]")
LOGS = Need(("logs:CreateLogStream", "logs:PutLogEvents"), "arn:aws:logs:us-east-1:123456789012:log-group:/x",
            "CloudWatch Logs", required=False)


def allowed(need: Need) -> Simulated:
    return Simulated(need, tuple((a, "allowed") for a in need.actions))


def refused(need: Need, decision: str = "implicitDeny") -> Simulated:
    return Simulated(need, tuple((a, decision) for a in need.actions))


# ---- the contract: trust policies, principals, needs -----------------------------------------------------------

@pytest.mark.parametrize("statement", [
    TRUST_STATEMENT,
    {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com", "sagemaker.amazonaws.com"]},
     "Action": ["sts:AssumeRole", "sts:TagSession"]},
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:*"},
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "STS:assumerole",
     "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}},
    {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
])
def test_a_trust_policy_naming_sagemaker_for_assume_role_trusts_it(statement):
    assert trusts({"Version": "2012-10-17", "Statement": [statement]})


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Deny", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRoleWithSAML"},
    {"Effect": "Allow", "Principal": {"AWS": CALLER}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "NotPrincipal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
])
def test_a_trust_policy_without_sagemaker_does_not_trust_it(statement):
    assert not trusts({"Version": "2012-10-17", "Statement": statement})


def test_no_trust_policy_trusts_nobody():
    assert not trusts(None) and not trusts({}) and not trusts({"Statement": "garbage"})


def test_an_assumed_role_caller_is_trusted_through_its_role():
    assert trust_principal("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com") == \
        "arn:aws:iam::123456789012:role/Admin"
    assert trust_principal(CALLER) == CALLER
    assert caller_statement("arn:aws-cn:sts::123456789012:assumed-role/Ops/bob") == {
        "Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::123456789012:role/Ops"}, "Action": "sts:AssumeRole"}


def test_a_role_arn_with_a_path_gives_the_name_get_role_takes():
    assert RoleArn.parse(ROLE) == RoleArn("aws", "123456789012", "SageMakerRole")
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        RoleArn.parse("arn:aws:iam::123456789012:user/dev")


def test_role_needs_cover_inputs_outputs_the_repository_and_logs_once_per_resource():
    needs, unchecked = role_needs(
        RoleArn.parse(ROLE), "eu-west-1",
        reads=[("[train.channels.a]", "data", "a/"), ("[train.channels.b]", "data", "b/")],
        writes=[("[transform] output", "out", "pred/")], ecr_repository="team/model", account="210987654321")
    by_resource = {n.resource: n for n in needs}
    assert by_resource["arn:aws:s3:::data/a/*"].actions == ("s3:GetObject",)
    assert by_resource["arn:aws:s3:::data"].actions == ("s3:ListBucket",)
    assert by_resource["arn:aws:s3:::data"].why == "[train.channels.a]; [train.channels.b]"
    assert by_resource["arn:aws:s3:::out/pred/*"].actions == ("s3:PutObject",)
    assert by_resource["arn:aws:ecr:eu-west-1:210987654321:repository/team/model"].actions == (
        "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
    assert by_resource["*"].actions == ("ecr:GetAuthorizationToken",)
    logs = by_resource["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/sagemaker/*"]
    assert logs.actions == ("logs:CreateLogStream", "logs:PutLogEvents") and not logs.required
    assert unchecked == []


def test_without_a_region_the_regional_needs_are_reported_as_not_checked():
    needs, unchecked = role_needs(RoleArn.parse(ROLE), None, ecr_repository="model")
    assert [n.resource for n in needs] == ["*"]
    assert len(unchecked) == 2
    assert "ECR repository model: no region set" in unchecked[0]
    assert "/aws/sagemaker/*: no region set" in unchecked[1]


# ---- aws.role (offline) and aws.role.assume ---------------------------------------------------------------------

def test_offline_the_role_is_named_with_its_source_and_how_to_check_it():
    r = rj.judge_role(ROLE, "smctl.toml [aws] role", online=False)
    assert r.status is Status.OK
    assert r.summary.startswith(f"{ROLE} (from smctl.toml [aws] role): local runs' containers get its credentials")
    assert "smctl doctor --online" in r.summary
    assert "--online" not in rj.judge_role(ROLE, "--role", online=True).summary


def test_an_assumable_role_passes_naming_the_session():
    r = rj.judge_role_assume(RoleFacts(ROLE, assumed_arn="arn:aws:sts::123456789012:assumed-role/R/smctl-doctor"),
                             CALLER)
    assert r.status is Status.OK and "assumed-role/R/smctl-doctor" in r.summary


def test_access_denied_on_assume_role_fails_with_the_trust_statement_naming_the_caller():
    facts = RoleFacts(ROLE, assume_code="AccessDenied",
                      assume_error=f"AccessDenied: User: {CALLER} is not authorized to perform: sts:AssumeRole")
    r = rj.judge_role_assume(facts, CALLER)
    assert r.status is Status.FAIL
    assert r.summary == f"you cannot assume {ROLE}: {facts.assume_error}"
    statement = json.dumps(caller_statement(CALLER), separators=(",", ":"))
    assert statement in r.remedy
    assert "aws iam update-assume-role-policy --role-name SageMakerRole" in r.remedy
    assert f"sts:AssumeRole on {ROLE}" in r.remedy


def test_access_denied_without_a_known_caller_shows_a_placeholder_principal():
    r = rj.judge_role_assume(RoleFacts(ROLE, assume_code="AccessDenied", assume_error="AccessDenied: no"), None)
    assert '"AWS":"arn:aws:iam::ACCOUNT:user/YOU"' in r.remedy


def test_another_assume_role_failure_points_at_credentials_and_network():
    r = rj.judge_role_assume(RoleFacts(ROLE, assume_code="EndpointConnectionError",
                                       assume_error="EndpointConnectionError: could not connect"), CALLER)
    assert r.status is Status.FAIL and r.summary.startswith(f"AssumeRole on {ROLE} failed")
    assert "aws sts get-caller-identity" in r.remedy


# ---- aws.role.trust ---------------------------------------------------------------------------------------------

def test_a_role_trusting_sagemaker_passes():
    r = rj.judge_role_trust(RoleFacts(ROLE, trust_document=SAGEMAKER_TRUST))
    assert r.status is Status.OK and r.data["trusts_sagemaker"] is True


def test_a_role_not_trusting_sagemaker_warns_with_the_statement_to_add():
    doc = {"Version": "2012-10-17", "Statement": [caller_statement(CALLER)]}
    r = rj.judge_role_trust(RoleFacts(ROLE, trust_document=doc))
    assert r.status is Status.WARN
    assert "does not trust sagemaker.amazonaws.com" in r.summary
    assert '{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}' in \
        r.remedy
    assert r.data["trust_policy"] == doc


def test_a_missing_role_fails_with_the_create_role_command():
    r = rj.judge_role_trust(RoleFacts(ROLE, trust_code="NoSuchEntity", trust_error="NoSuchEntity: not found"))
    assert r.status is Status.FAIL
    assert "aws iam create-role --role-name SageMakerRole --assume-role-policy-document" in r.remedy


def test_a_trust_policy_we_may_not_read_is_reported_as_not_checked():
    r = rj.judge_role_trust(RoleFacts(ROLE, trust_code="AccessDenied", trust_error="AccessDenied: iam:GetRole"))
    assert r.status is Status.WARN and r.summary.startswith("not checked")
    assert f"allow iam:GetRole on {ROLE}" in r.remedy


# ---- aws.role.permissions ---------------------------------------------------------------------------------------

def test_every_action_allowed_passes_and_lists_them():
    r = rj.judge_role_permissions(RoleFacts(ROLE, simulated=(allowed(READ), allowed(LIST))), [READ, LIST], [])
    assert r.status is Status.OK
    assert r.summary == "allowed: 2 actions on 2 resources"
    assert r.details == (f"allowed: s3:GetObject on {READ.resource} (for [train.channels.training])",
                         f"allowed: s3:ListBucket on {LIST.resource} (for [train.channels.training])")


def test_a_missing_s3_permission_fails_with_the_policy_that_grants_it():
    r = rj.judge_role_permissions(RoleFacts(ROLE, simulated=(refused(READ), allowed(LIST))), [READ, LIST], [])
    assert r.status is Status.FAIL
    assert r.summary == f"the role may not: s3:GetObject on {READ.resource} (for [train.channels.training])"
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": READ.resource}]}
    assert r.remedy == ("attach a policy that allows them: aws iam put-role-policy --role-name SageMakerRole "
                        f"--policy-name smctl-sagemaker-access --policy-document "
                        f"'{json.dumps(policy, separators=(',', ':'))}'")
    assert r.data["denied"] == [{"actions": ["s3:GetObject"], "resource": READ.resource,
                                 "why": "[train.channels.training]"}]


def test_an_explicit_deny_is_named_as_what_to_remove():
    r = rj.judge_role_permissions(RoleFacts(ROLE, simulated=(refused(READ, "explicitDeny"),)), [READ], [])
    assert "an explicit Deny refuses s3:GetObject" in r.remedy


def test_missing_only_optional_logs_permissions_warns():
    r = rj.judge_role_permissions(RoleFacts(ROLE, simulated=(allowed(READ), refused(LOGS))), [READ, LOGS], [])
    assert r.status is Status.WARN
    assert "logs:CreateLogStream, logs:PutLogEvents" in r.summary


def test_an_endpoint_without_simulate_principal_policy_is_reported_never_passed():
    facts = RoleFacts(ROLE, simulate_code="ResponseParserError", simulate_error="ResponseParserError: invalid XML",
                      simulate_unsupported=True, iam_endpoint="http://127.0.0.1:5001")
    r = rj.judge_role_permissions(facts, [READ, LIST], [])
    assert r.status is Status.WARN
    assert r.summary == "not checked: the IAM endpoint http://127.0.0.1:5001 does not serve SimulatePrincipalPolicy"
    assert r.details[0] == f"not checked: s3:GetObject on {READ.resource} (for [train.channels.training])"
    assert r.remedy.startswith(f"check each line above by hand, e.g. aws iam simulate-principal-policy "
                               f"--policy-source-arn {ROLE} --action-names s3:GetObject --resource-arns "
                               f"'{READ.resource}'")


def test_a_caller_denied_simulate_principal_policy_is_told_so():
    facts = RoleFacts(ROLE, simulate_code="AccessDenied", simulate_error="AccessDenied: iam:SimulatePrincipalPolicy")
    r = rj.judge_role_permissions(facts, [READ], [])
    assert r.status is Status.WARN and "you may not call iam:SimulatePrincipalPolicy" in r.summary


def test_what_has_no_region_is_a_warning_even_when_the_rest_is_allowed():
    r = rj.judge_role_permissions(RoleFacts(ROLE, simulated=(allowed(READ),)), [READ], ["ECR: no region set"])
    assert r.status is Status.WARN
    assert r.details[-1] == "not checked: ECR: no region set"
    assert r.data["not_checked"] == ["ECR: no region set"]


# ---- credentials.endpoint ---------------------------------------------------------------------------------------

def test_the_endpoint_check_passes_when_the_host_can_own_the_address():
    r = rj.judge_credentials_endpoint(EndpointFacts(engine_reachable=True), gives_credentials=True)
    assert r.status is Status.OK and "169.254.170.2" in r.summary and "rootful" in r.summary
    r = rj.judge_credentials_endpoint(EndpointFacts(engine_reachable=True, already_owned=True), True)
    assert r.status is Status.OK and "a run is serving credentials now" in r.summary


def test_a_remote_or_rootless_engine_fails_the_endpoint_check_when_runs_would_get_credentials():
    facts = EndpointFacts(engine_reachable=True, error="the Docker engine does not run on this host",
                          hint="run smctl on the engine's host")
    r = rj.judge_credentials_endpoint(facts, gives_credentials=True)
    assert r.status is Status.FAIL and r.summary == facts.error
    assert r.remedy == "run smctl on the engine's host; meanwhile local runs work with --no-credentials"
    quiet = rj.judge_credentials_endpoint(facts, gives_credentials=False)
    assert quiet.status is Status.WARN and "runs go on without any" in quiet.summary


def test_the_endpoint_check_cannot_tell_without_the_engine():
    r = rj.judge_credentials_endpoint(EndpointFacts(engine_reachable=False), True)
    assert r.status is Status.WARN and "unreachable" in r.summary
