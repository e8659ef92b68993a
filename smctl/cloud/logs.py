"""`smctl logs NAME --cloud`: the CloudWatch logs of a SageMaker training job, transform job or endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smctl.errors import EndpointNotFoundError
from smctl.events import OnEvent

POLL_SECONDS = 5.0


@dataclass(frozen=True)
class CloudLogSource:
    kind: str  # training job | transform job | endpoint
    group: str
    prefix: str
    done: Callable[[], bool]  # whether more lines can still come


def find_source(sm: Any, name: str) -> CloudLogSource:
    """What NAME is in SageMaker, and where its logs are. Raises: EndpointNotFoundError when nothing has that name."""
    from botocore.exceptions import ClientError

    from smctl.aws.session import aws_errors

    def probe(call: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        with aws_errors(f"looking for {name} in SageMaker"):
            try:
                return call()
            except ClientError as exc:
                text = str(exc.response.get("Error", {}).get("Message", "")).lower()
                if "not found" in text or "could not find" in text or "does not exist" in text:
                    return None
                raise

    def status_done(call: Callable[[], dict[str, Any]], key: str, terminal: tuple[str, ...]) -> Callable[[], bool]:
        return lambda: str((probe(call) or {}).get(key)) in terminal

    def training() -> dict[str, Any]:
        return dict(sm.describe_training_job(TrainingJobName=name))

    def transform() -> dict[str, Any]:
        return dict(sm.describe_transform_job(TransformJobName=name))

    def endpoint() -> dict[str, Any]:
        return dict(sm.describe_endpoint(EndpointName=name))

    if probe(training) is not None:
        return CloudLogSource("training job", "/aws/sagemaker/TrainingJobs", name,
                              status_done(training, "TrainingJobStatus", ("Completed", "Failed", "Stopped")))
    if probe(transform) is not None:
        return CloudLogSource("transform job", "/aws/sagemaker/TransformJobs", name,
                              status_done(transform, "TransformJobStatus", ("Completed", "Failed", "Stopped")))
    if probe(endpoint) is not None:
        return CloudLogSource("endpoint", f"/aws/sagemaker/Endpoints/{name}", "", lambda: False)
    raise EndpointNotFoundError(f"SageMaker has no training job, transform job or endpoint named {name} in this "
                                "region", "check the name and the region (--region); local endpoints: drop --cloud")


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
