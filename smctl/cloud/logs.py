"""`smctl logs NAME --cloud`: the CloudWatch logs of a SageMaker training, transform or processing job or endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smctl.errors import EndpointNotFoundError
from smctl.events import OnEvent

POLL_SECONDS = 5.0
TERMINAL = ("Completed", "Failed", "Stopped")
GROUPS = {"training job": "/aws/sagemaker/TrainingJobs", "transform job": "/aws/sagemaker/TransformJobs",
          "processing job": "/aws/sagemaker/ProcessingJobs"}


@dataclass(frozen=True)
class CloudLogSource:
    kind: str  # training job | transform job | processing job | endpoint
    group: str
    prefix: str
    done: Callable[[], bool]  # whether more lines can still come


def find_source(sm: Any, name: str) -> CloudLogSource:
    """What NAME is in SageMaker, and where its logs are. Raises: EndpointNotFoundError when nothing has that name."""
    from smctl.aws.sagemaker import find_named, status_named

    found = find_named(sm, name)
    if found is None:
        raise EndpointNotFoundError(f"SageMaker has no training, transform or processing job or endpoint named "
                                    f"{name} in this region", "check the name and the region (--region); local "
                                    "endpoints: drop --cloud")
    kind = found[0]
    if kind == "endpoint":
        return CloudLogSource(kind, f"/aws/sagemaker/Endpoints/{name}", "", lambda: False)
    group = GROUPS[kind]
    return CloudLogSource(kind, group, name, lambda: status_named(sm, kind, name) in TERMINAL)


def print_logs(source: CloudLogSource, logs_client: Any, on_event: OnEvent, *, follow: bool,
               poll: float = POLL_SECONDS, sleep: Callable[[float], None] = time.sleep) -> int:
    """Every line so far (host-prefixed); with `follow`, new ones until the job ends (an endpoint: until Ctrl-C).
    The number of lines printed."""
    from smctl.aws.logs import LogFollower

    follower = LogFollower(logs_client, source.group, source.prefix)
    count = 0
    while True:
        done = source.done() if follow else True  # asked before reading: lines written before the end are kept
        for event in follower.poll():
            on_event("log", {"host": event.host, "line": f"{event.host} | {event.message}"})
            count += 1
        if done:
            return count
        sleep(poll)
