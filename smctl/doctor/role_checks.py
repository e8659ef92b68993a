"""Doctor's probes for containers' credentials: the execution role (--role / [aws] role) and the endpoint's address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smctl.aws.roles import RoleFacts, role_facts
from smctl.contract.execution_role import Need, RoleArn, role_needs
from smctl.doctor.project import ProjectFacts

__all__ = ["EndpointFacts", "RoleFacts", "probe_endpoint", "probe_role", "needs_for"]


@dataclass(frozen=True)
class EndpointFacts:
    """Whether this host can own ECS's credentials address, so the run's containers reach smctl's endpoint."""

    engine_reachable: bool
    already_owned: bool = False  # a run is serving credentials right now
    error: str | None = None
    hint: str | None = None


def needs_for(role_arn: str, project: ProjectFacts | None, region: str | None) -> tuple[list[Need], list[str]]:
    """What the role needs for the project's S3 locations and ECR repository (its s3:// keys)."""
    p = project or ProjectFacts()
    return role_needs(RoleArn.parse(role_arn), region, reads=p.s3_reads, writes=p.s3_writes,
                      ecr_repository=p.ecr_repository, account=p.account_id)


def probe_role(role_arn: str, project: ProjectFacts | None, region: str | None,
               profile: str | None) -> tuple[RoleFacts, list[Need], list[str]]:
    """STS and IAM's answers about the role (aws/roles.py), what it needs, and what cannot be checked."""
    needs, unchecked = needs_for(role_arn, project, region)
    return role_facts(role_arn, needs, region=region, profile=profile), needs, unchecked


def probe_endpoint(client: Any) -> EndpointFacts:
    """Give this host 169.254.170.2 as a run would, then take it back (only when no run's agent holds it: the
    agents' shared lock counts the probe as one of them)."""
    from smctl.engine.linklocal import host_address, host_has_address
    from smctl.errors import SmctlError

    if client is None:
        return EndpointFacts(engine_reachable=False)
    if host_has_address():
        return EndpointFacts(engine_reachable=True, already_owned=True)
    try:
        with host_address(client):
            pass
    except SmctlError as exc:
        return EndpointFacts(engine_reachable=True, error=exc.message, hint=exc.hint)
    return EndpointFacts(engine_reachable=True)
