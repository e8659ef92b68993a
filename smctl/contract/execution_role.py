"""SageMaker's execution role as data: whom its trust policy must name, and what it must be allowed to do.

The actions are those SageMaker uses on a job's behalf (AmazonSageMaker-ExecutionPolicy's core): read the inputs and
the model from S3, write the outputs, pull the image from ECR, write the logs. No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
ASSUME_ACTION = "sts:AssumeRole"
TRUST_STATEMENT: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": SAGEMAKER_PRINCIPAL},
                                   "Action": ASSUME_ACTION}
DOCTOR_SESSION = "smctl-doctor"  # RoleSessionName of doctor's AssumeRole: CloudTrail shows who asked
DOCTOR_DURATION = 900  # STS's minimum: doctor keeps no credentials, only the answer

S3_READ = ("s3:GetObject", "s3:ListBucket")  # ListBucket applies to the bucket, GetObject to the objects
S3_WRITE = ("s3:PutObject",)
ECR_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
ECR_LOGIN = ("ecr:GetAuthorizationToken",)
LOGS = ("logs:CreateLogStream", "logs:PutLogEvents")
LOG_GROUPS = "/aws/sagemaker/*"  # TrainingJobs, Endpoints/NAME, TransformJobs

ROLE = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[A-Za-z0-9_+=,.@/-]*/)?([A-Za-z0-9_+=,.@-]+)")
ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True)
class Need:
    """Actions the role must be allowed on one resource, and why (the smctl.toml key that asks for them)."""

    actions: tuple[str, ...]
    resource: str
    why: str
    required: bool = True  # False: a job runs without it (logs), so a gap is a warning


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account: str
    name: str  # the last segment of the path: what iam:GetRole takes

    @classmethod
    def parse(cls, arn: str) -> RoleArn:
        """Raises: ValueError for anything but arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME."""
        match = ROLE.fullmatch(arn)
        if not match:
            raise ValueError(f"{arn!r} is not an IAM role ARN")
        return cls(*match.groups())


def trusts(document: Mapping[str, Any] | None, service: str = SAGEMAKER_PRINCIPAL) -> bool:
    """Whether a trust policy lets `service` call sts:AssumeRole (an Allow statement naming it, or any principal)."""
    for statement in _statements(document):
        if statement.get("Effect") != "Allow" or "NotPrincipal" in statement or "NotAction" in statement:
            continue
        if not any(_action_matches(a, ASSUME_ACTION) for a in _as_list(statement.get("Action"))):
            continue
        principal = statement.get("Principal")
        if principal == "*" or (isinstance(principal, Mapping) and (
                service in _as_list(principal.get("Service")) or "*" in _as_list(principal.get("AWS")))):
            return True
    return False


def trust_principal(caller_arn: str) -> str:
    """The principal a trust policy names for a caller: an assumed-role session stands for its role."""
    match = ASSUMED_ROLE.fullmatch(caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def caller_statement(caller_arn: str) -> dict[str, Any]:
    """The trust policy statement that lets this caller assume the role."""
    return {"Effect": "Allow", "Principal": {"AWS": trust_principal(caller_arn)}, "Action": ASSUME_ACTION}


def role_needs(role: RoleArn, region: str | None, *, reads: Iterable[tuple[str, str, str]] = (),
               writes: Iterable[tuple[str, str, str]] = (), ecr_repository: str | None = None,
               account: str | None = None) -> tuple[list[Need], list[str]]:
    """What the role needs for these S3 locations ((why, bucket, key) each) and this ECR repository; and what cannot
    be checked (regional resources without a region). `account`: the repository's, default the role's."""
    p, acct = role.partition, account or role.account
    needs: list[Need] = []
    for why, bucket, key in reads:
        needs.append(Need(("s3:GetObject",), f"arn:{p}:s3:::{bucket}/{key}*", why))
        needs.append(Need(("s3:ListBucket",), f"arn:{p}:s3:::{bucket}", why))
    needs += [Need(S3_WRITE, f"arn:{p}:s3:::{bucket}/{key}*", why) for why, bucket, key in writes]
    unchecked: list[str] = []
    if region and ecr_repository:
        needs.append(Need(ECR_PULL, f"arn:{p}:ecr:{region}:{acct}:repository/{ecr_repository}",
                          "[aws] ecr_repository, the image SageMaker pulls"))
    elif ecr_repository:
        unchecked.append(f"{', '.join(ECR_PULL)} on the ECR repository {ecr_repository}: no region set")
    needs.append(Need(ECR_LOGIN, "*", "the ECR login before the pull"))
    if region:
        needs.append(Need(LOGS, f"arn:{p}:logs:{region}:{role.account}:log-group:{LOG_GROUPS}",
                          "CloudWatch Logs; optional: jobs run without", required=False))
    else:
        unchecked.append(f"{', '.join(LOGS)} on the log groups {LOG_GROUPS}: no region set")
    return _merged(needs), unchecked


def _merged(needs: list[Need]) -> list[Need]:
    """One Need per resource (two channels in one bucket ask ListBucket once)."""
    out: dict[tuple[str, bool], Need] = {}
    for need in needs:
        key = (need.resource, need.required)
        old = out.get(key)
        if old is None:
            out[key] = need
            continue
        actions = tuple(dict.fromkeys((*old.actions, *need.actions)))
        why = old.why if need.why in old.why.split("; ") else f"{old.why}; {need.why}"
        out[key] = Need(actions, need.resource, why, need.required)
    return list(out.values())


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _action_matches(pattern: Any, action: str) -> bool:
    """IAM's action match: case-insensitive, `*` and `?` wildcards."""
    if not isinstance(pattern, str):
        return False
    rx = re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(rx, action.lower()) is not None
