"""Doctor's AWS probe: credentials and region as smctl's commands will see them; STS and ECR only with --online."""

from __future__ import annotations

import datetime as dt

from smctl.aws.identity import AwsFacts, credential_facts

__all__ = ["AwsFacts", "probe_aws"]


def probe_aws(online: bool = False, now: dt.datetime | None = None, *, region: str | None = None,
              profile: str | None = None) -> AwsFacts:
    """smctl.aws.identity's facts; region and profile are smctl.toml's [aws] values, which win over the environment."""
    return credential_facts(online, now, region=region, profile=profile)
