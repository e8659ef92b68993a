"""An IAM role as the caller sees it: can we assume it, whom does it trust, what may it do (facts, never a secret).

Three calls: STS AssumeRole (the credentials are dropped at once), IAM GetRole (the trust policy) and IAM
SimulatePrincipalPolicy (one call per resource). A call that fails is recorded; none raises.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smctl.contract.execution_role import DOCTOR_DURATION, DOCTOR_SESSION, Need, RoleArn

TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15, "retries": {"max_attempts": 2}}
# What an IAM endpoint answers for an action it does not implement (moto's server, some stand-ins).
UNSUPPORTED_CODES = ("404", "501", "NotImplemented", "InvalidAction", "UnknownOperationException")


@dataclass(frozen=True)
class Simulated:
    """SimulatePrincipalPolicy's decision for each action of one need: allowed, implicitDeny or explicitDeny."""

    need: Need
    decisions: tuple[tuple[str, str], ...]

    @property
    def denied(self) -> tuple[str, ...]:
        return tuple(action for action, decision in self.decisions if decision != "allowed")


@dataclass(frozen=True)
class RoleFacts:
    role_arn: str
    assumed_arn: str | None = None  # AssumeRole worked: the session's ARN
    assume_code: str | None = None  # AssumeRole failed: AWS's error code, and its message below
    assume_error: str | None = None
    trust_document: dict[str, Any] | None = None
    trust_code: str | None = None
    trust_error: str | None = None
    simulated: tuple[Simulated, ...] = ()
    simulate_code: str | None = None
    simulate_error: str | None = None  # not checked: why (unsupported by the endpoint, denied to the caller...)
    simulate_unsupported: bool = False
    iam_endpoint: str | None = None


def role_facts(role_arn: str, needs: Sequence[Need], *, region: str | None = None,
               profile: str | None = None) -> RoleFacts:
    """AssumeRole, GetRole and SimulatePrincipalPolicy for `needs`, with the caller's credentials."""
    import botocore.session
    from botocore.config import Config

    config = Config(**TIMEOUTS)
    facts: dict[str, Any] = {"role_arn": role_arn}
    try:
        bs = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
        sts = bs.create_client("sts", region_name=region or "us-east-1", config=config)
        iam = bs.create_client("iam", region_name=region or "us-east-1", config=config)
    except Exception as exc:  # noqa: BLE001 - a broken configuration: the aws.credentials check says which
        code, text = _error(exc)
        return RoleFacts(role_arn, assume_code=code, assume_error=text, trust_code=code, trust_error=text,
                         simulate_code=code, simulate_error=text)
    facts["iam_endpoint"] = iam.meta.endpoint_url
    try:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=DOCTOR_SESSION, DurationSeconds=DOCTOR_DURATION)
        facts["assumed_arn"] = answer.get("AssumedRoleUser", {}).get("Arn")
    except Exception as exc:  # noqa: BLE001 - every failure is a fact to judge
        facts["assume_code"], facts["assume_error"] = _error(exc)
    try:
        role = iam.get_role(RoleName=RoleArn.parse(role_arn).name)["Role"]
        facts["trust_document"] = _document(role.get("AssumeRolePolicyDocument"))
    except Exception as exc:  # noqa: BLE001
        facts["trust_code"], facts["trust_error"] = _error(exc)
    facts.update(_simulate(iam, role_arn, needs))
    return RoleFacts(**facts)


def _simulate(iam: Any, role_arn: str, needs: Sequence[Need]) -> dict[str, Any]:
    """One call per need; the first failure stops them (it would be the same for the others)."""
    from botocore.parsers import ResponseParserError

    results: list[Simulated] = []
    for need in needs:
        try:
            answer = iam.simulate_principal_policy(PolicySourceArn=role_arn, ActionNames=list(need.actions),
                                                   ResourceArns=[need.resource])
        except Exception as exc:  # noqa: BLE001
            code, text = _error(exc)
            unsupported = isinstance(exc, ResponseParserError) or code in UNSUPPORTED_CODES
            return {"simulate_code": code, "simulate_error": text, "simulate_unsupported": unsupported,
                    "simulated": tuple(results)}
        got = {r.get("EvalActionName", "").lower(): r.get("EvalDecision", "implicitDeny")
               for r in answer.get("EvaluationResults", [])}
        results.append(Simulated(need, tuple((a, got.get(a.lower(), "implicitDeny")) for a in need.actions)))
    return {"simulated": tuple(results)}


def _document(value: Any) -> dict[str, Any] | None:
    """botocore decodes IAM's URL-encoded policy JSON into a dict; a stand-in may send the text."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        from urllib.parse import unquote

        try:
            loaded = json.loads(unquote(value))
        except ValueError:
            return None
        return loaded if isinstance(loaded, dict) else None
    return None


def _error(exc: Exception) -> tuple[str, str]:
    """(code, `Code: message`) of an AWS error; never the request, which carries signatures."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        code = str(err.get("Code") or type(exc).__name__)
        return code, f"{code}: {err.get('Message') or ''}".strip().rstrip(":")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 200:
        text = text[:197] + "..."
    return type(exc).__name__, f"{type(exc).__name__}: {text}".rstrip(": ")


def trust_policy(role_arn: str, *, region: str | None = None,
                 profile: str | None = None) -> tuple[bool, dict[str, Any] | None]:
    """(exists, trust policy) of the role, from IAM GetRole; (True, None) when IAM does not tell (no iam:GetRole,
    unsupported, unreachable): a preflight skips what it cannot see rather than refusing a role that may be fine."""
    import botocore.session
    from botocore.config import Config

    try:
        bs = botocore.session.Session(profile=profile) if profile else botocore.session.Session()
        iam = bs.create_client("iam", region_name=region or "us-east-1", config=Config(**TIMEOUTS))
        role = iam.get_role(RoleName=RoleArn.parse(role_arn).name)["Role"]
    except Exception as exc:  # noqa: BLE001 - only "no such role" is a finding
        return _error(exc)[0] != "NoSuchEntity", None
    return True, _document(role.get("AssumeRolePolicyDocument"))
