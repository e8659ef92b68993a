"""Pure judges for the containers' credentials: the execution role and the endpoint's address. No I/O here."""

from __future__ import annotations

import json
import shlex
from typing import Any

from smctl.aws.roles import RoleFacts, Simulated
from smctl.contract.credentials import ECS_HOST
from smctl.contract.execution_role import SAGEMAKER_PRINCIPAL, TRUST_STATEMENT, Need, caller_statement, trusts
from smctl.doctor.judges import ENGINE_DOWN
from smctl.doctor.model import CheckResult, fail, ok, warn
from smctl.doctor.role_checks import EndpointFacts

DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403")
CALLER_PLACEHOLDER = "arn:aws:iam::ACCOUNT:user/YOU"
POLICY_NAME = "smctl-sagemaker-access"


def judge_role(role_arn: str, source: str, online: bool) -> CheckResult:
    """Which role the containers of local runs get; offline that is all doctor says about it."""
    later = "" if online else "; `smctl doctor --online` checks that you can assume it, its trust and its permissions"
    return ok("aws.role", "execution role", f"{role_arn} (from {source}): local runs' containers get its "
              f"credentials{later}", role_arn=role_arn, source=source)


def judge_role_assume(f: RoleFacts, caller_arn: str | None) -> CheckResult:
    cid, title, name = "aws.role.assume", "execution role: AssumeRole", _name(f.role_arn)
    if f.assumed_arn:
        return ok(cid, title, f"you can assume it ({f.assumed_arn})", assumed_arn=f.assumed_arn)
    data = {"error": f.assume_error, "code": f.assume_code}
    if f.assume_code in DENIED_CODES:
        statement = _json(caller_statement(caller_arn or CALLER_PLACEHOLDER))
        return fail(cid, title, f"you cannot assume {f.role_arn}: {f.assume_error}",
                    f"let your identity assume it: add {statement} to the role's trust policy, next to "
                    f"{SAGEMAKER_PRINCIPAL}'s statement (aws iam update-assume-role-policy --role-name {name} "
                    f"--policy-document file://trust.json, the whole document); your own policy must allow "
                    f"sts:AssumeRole on {f.role_arn} too. Or run without the role (your own credentials): "
                    f"leave out --role and [aws] role", **data)
    return fail(cid, title, f"AssumeRole on {f.role_arn} failed: {f.assume_error}",
                "check your credentials (aws sts get-caller-identity) and the network, then rerun "
                "`smctl doctor --online`", **data)


def judge_role_trust(f: RoleFacts) -> CheckResult:
    cid, title, name = "aws.role.trust", "execution role: trust policy", _name(f.role_arn)
    if f.trust_document is not None:
        data: dict[str, Any] = {"trust_policy": f.trust_document, "trusts_sagemaker": trusts(f.trust_document)}
        if data["trusts_sagemaker"]:
            return ok(cid, title, f"trusts {SAGEMAKER_PRINCIPAL}", **data)
        return warn(cid, title, f"does not trust {SAGEMAKER_PRINCIPAL}: SageMaker jobs cannot use this role "
                    "(local runs can)",
                    f"add {_json(TRUST_STATEMENT)} to its trust policy's Statement list (aws iam "
                    f"update-assume-role-policy --role-name {name} --policy-document file://trust.json, the whole "
                    f"document, your statements kept)", **data)
    data = {"error": f.trust_error, "code": f.trust_code}
    if f.trust_code == "NoSuchEntity":
        return fail(cid, title, f"the role {name} does not exist: {f.trust_error}",
                    f"fix the ARN (aws iam list-roles), or create the role: aws iam create-role --role-name {name} "
                    f"--assume-role-policy-document '{_json(_document(TRUST_STATEMENT))}'", **data)
    if f.trust_code in DENIED_CODES:
        return warn(cid, title, f"not checked: you may not read the role ({f.trust_error})",
                    f"allow iam:GetRole on {f.role_arn} for your identity, or look at the role's trust "
                    f"relationships in the IAM console: they must name {SAGEMAKER_PRINCIPAL}", **data)
    return warn(cid, title, f"not checked: GetRole failed: {f.trust_error}",
                "check the network and your credentials, then rerun `smctl doctor --online`", **data)


def judge_role_permissions(f: RoleFacts, needs: list[Need], unchecked: list[str]) -> CheckResult:
    """What SimulatePrincipalPolicy says the role may not do; what it could not say is reported, never assumed."""
    cid, title, name = "aws.role.permissions", "execution role: permissions", _name(f.role_arn)
    done = {s.need.resource: s for s in f.simulated}
    details = [_line(n, done.get(n.resource)) for n in needs] + [f"not checked: {u}" for u in unchecked]
    data: dict[str, Any] = {"needs": [{"actions": list(n.actions), "resource": n.resource, "why": n.why,
                                       "required": n.required} for n in needs],
                            "denied": [{"actions": list(s.denied), "resource": s.need.resource, "why": s.need.why}
                                       for s in f.simulated if s.denied],
                            "not_checked": list(unchecked)}
    if f.simulate_error:
        why = (f"the IAM endpoint {f.iam_endpoint} does not serve SimulatePrincipalPolicy" if
               f.simulate_unsupported else
               f"you may not call iam:SimulatePrincipalPolicy ({f.simulate_error})" if f.simulate_code in DENIED_CODES
               else f"SimulatePrincipalPolicy failed ({f.simulate_error})")
        left = [n for n in needs if n.resource not in done] or needs
        return warn(cid, title, f"not checked: {why}", "check each line above by hand, e.g. "
                    + _simulate_cli(f.role_arn, left[0]), *details, **data, error=f.simulate_error)
    denied = [s for s in f.simulated if s.denied]
    if not denied:
        summary = f"allowed: {sum(len(n.actions) for n in needs)} actions on {len(needs)} resources"
        if unchecked:
            return warn(cid, title, f"{summary}; {len(unchecked)} not checked (no region)",
                        "set a region ([aws] region, AWS_REGION or --region), then rerun", *details, **data)
        return ok(cid, title, summary, *details, **data)
    missing = "; ".join(f"{', '.join(s.denied)} on {s.need.resource} (for {s.need.why})" for s in denied)
    explicit = [a for s in denied for a, d in s.decisions if d == "explicitDeny"]
    remedy = (f"attach a policy that allows them: aws iam put-role-policy --role-name {name} --policy-name "
              f"{POLICY_NAME} --policy-document '{_json(_allow(denied))}'")
    if explicit:
        remedy += f"; an explicit Deny refuses {', '.join(explicit)}: remove it from the role's policies first"
    status = fail if any(s.need.required for s in denied) else warn
    return status(cid, title, f"the role may not: {missing}", remedy, *details, **data)


def judge_credentials_endpoint(e: EndpointFacts, gives_credentials: bool) -> CheckResult:
    """Whether containers can reach smctl's credentials endpoint; a failure matters when a run would give some."""
    cid, title = "credentials.endpoint", "credentials for containers"
    if not e.engine_reachable:
        return warn(cid, title, ENGINE_DOWN, None)
    if e.error is None:
        how = "a run is serving credentials now" if e.already_owned else "the engine runs on this host, rootful"
        return ok(cid, title, f"containers can reach smctl's credentials endpoint at {ECS_HOST} ({how})",
                  address=ECS_HOST, already_owned=e.already_owned)
    remedy = f"{e.hint}; meanwhile local runs work with --no-credentials" if e.hint else \
        "run the local-run commands with --no-credentials"
    if gives_credentials:
        return fail(cid, title, e.error, remedy, address=ECS_HOST, error=e.error)
    return warn(cid, title, f"{e.error} (no AWS credentials found, so runs go on without any)", remedy,
                address=ECS_HOST, error=e.error)


def _line(need: Need, result: Simulated | None) -> str:
    if result is None:
        return f"not checked: {', '.join(need.actions)} on {need.resource} (for {need.why})"
    if not result.denied:
        return f"allowed: {', '.join(need.actions)} on {need.resource} (for {need.why})"
    return f"denied: {', '.join(result.denied)} on {need.resource} (for {need.why})"


def _simulate_cli(role_arn: str, need: Need) -> str:
    return (f"aws iam simulate-principal-policy --policy-source-arn {role_arn} --action-names "
            f"{' '.join(need.actions)} --resource-arns {shlex.quote(need.resource)} --query "
            "'EvaluationResults[].[EvalActionName,EvalDecision]' --output text")


def _allow(denied: list[Simulated]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(s.denied) if len(s.denied) > 1 else s.denied[0],
         "Resource": s.need.resource} for s in denied]}


def _document(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _name(role_arn: str) -> str:
    return role_arn.rsplit("/", 1)[-1]
