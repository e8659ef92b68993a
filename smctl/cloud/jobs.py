"""`smctl jobs` and `smctl stop`: the project's SageMaker jobs and endpoints with their state, and stopping a job.

What the project created comes from its ledger (cloud/ledger.py); what each one is now is asked from SageMaker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from smctl.cloud.ledger import Entry
from smctl.errors import UsageError
from smctl.events import OnEvent

GONE = "Deleted"  # SageMaker no longer knows the name (an undeployed endpoint)
STOPPING = "Stopping"
TERMINAL = ("Completed", "Failed", "Stopped")
_STATUS = {"training job": "TrainingJobStatus", "transform job": "TransformJobStatus",
           "processing job": "ProcessingJobStatus", "endpoint": "EndpointStatus"}
_ENDED = {"training job": "TrainingEndTime", "transform job": "TransformEndTime", "processing job": "ProcessingEndTime",
          "endpoint": "LastModifiedTime"}
_INSTANCE = {"training job": ("ResourceConfig", "InstanceType"), "transform job": ("TransformResources",
                                                                                    "InstanceType")}


@dataclass(frozen=True)
class JobRow:
    kind: str
    name: str
    region: str
    created: str
    status: str
    detail: str | None = None  # FailureReason, or the secondary status of a running training job
    ended: str | None = None
    instance_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "region": self.region, "created": self.created,
                "status": self.status, "detail": self.detail, "ended": self.ended,
                "instance_type": self.instance_type}


def job_rows(entries: Sequence[Entry], *, profile: str | None = None, workers: int = 8) -> list[JobRow]:
    """Each recorded job or endpoint with what SageMaker says of it now (in parallel; one client per region).

    Raises: AwsError (credentials, network: the first one met).
    """
    from smctl.aws import sagemaker

    clients: dict[str, Any] = {}
    for entry in entries:
        if entry.region not in clients:
            clients[entry.region] = sagemaker.client(entry.region, profile)

    def row(entry: Entry) -> JobRow:
        return row_of(entry, sagemaker.describe_named(clients[entry.region], entry.kind, entry.name))

    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(entries))) as pool:
        return list(pool.map(row, entries))


def row_of(entry: Entry, described: dict[str, Any] | None) -> JobRow:
    """A row from a Describe* answer (None: SageMaker does not know the name any more)."""
    if described is None:
        return JobRow(entry.kind, entry.name, entry.region, entry.created, GONE)
    status = str(described.get(_STATUS[entry.kind], "?"))
    detail = described.get("FailureReason")
    if detail is None and entry.kind == "training job" and status == "InProgress":
        detail = described.get("SecondaryStatus")
    ended = described.get(_ENDED[entry.kind]) if status in TERMINAL or entry.kind == "endpoint" else None
    section, key = _INSTANCE.get(entry.kind, ("", ""))
    if entry.kind == "processing job":
        instance = ((described.get("ProcessingResources") or {}).get("ClusterConfig") or {}).get("InstanceType")
    else:
        instance = (described.get(section) or {}).get(key) if section else _endpoint_instance(described)
    when = ended.isoformat(timespec="seconds") if ended is not None and hasattr(ended, "isoformat") else ended
    return JobRow(entry.kind, entry.name, entry.region, entry.created, status, detail, when, instance)


def _endpoint_instance(described: dict[str, Any]) -> str | None:
    variants = described.get("ProductionVariants") or []
    current = (variants[0].get("CurrentInstanceCount") if variants else None)
    return f"{current} instance(s)" if current is not None else None


@dataclass(frozen=True)
class StopResult:
    kind: str
    name: str
    status: str  # the status after the stop was asked (Stopping), or the final one with wait


def what_to_stop(sm: Any, name: str) -> tuple[str, str]:
    """(kind, status) of the training, transform or processing job called `name`, checked to be one that can be stopped.

    Raises: UsageError naming the fix: an endpoint (undeploy), a job already ended, a name SageMaker does not know.
    """
    from smctl.aws.sagemaker import find_named

    found = find_named(sm, name)
    if found is None:
        raise UsageError(f"SageMaker has no training, transform or processing job or endpoint named {name}",
                         "list this project's jobs: smctl jobs (and check --region); a local endpoint stops with "
                         f"smctl local-stop {name}")
    kind, described = found
    status = str(described.get(_STATUS[kind], "?"))
    if kind == "endpoint":
        raise UsageError(f"{name} is a SageMaker endpoint ({status}): endpoints are not stopped but deleted",
                         f"delete it (endpoint, config and model): smctl undeploy {name}")
    if status in TERMINAL:
        raise UsageError(f"the {kind} {name} has already ended: {status}",
                         f"nothing to stop; its logs: smctl logs {name} --cloud")
    return kind, status


def stop(sm: Any, kind: str, name: str, status: str, on_event: OnEvent, *, wait: bool = False,
         sleep: Callable[[float], None] = time.sleep, poll: float = 5.0) -> StopResult:
    """Ask SageMaker to stop the job (unless it is stopping already); with `wait`, until it has ended.

    Raises: UsageError (it ended meanwhile), AwsError.
    """
    from smctl.aws.sagemaker import describe_named, stop_job

    if status != STOPPING:
        stop_job(sm, kind, name)
        on_event("stopping", {"message": f"{kind} {name}: stop requested", "status": STOPPING})
    else:
        on_event("stopping", {"message": f"{kind} {name} is stopping already", "status": STOPPING})
    status = STOPPING
    delay = 1.0
    while wait:
        described = describe_named(sm, kind, name)
        now = str((described or {}).get(_STATUS[kind], GONE))
        if now != status:
            on_event("status", {"message": f"{kind} {name}: {now}", "status": now})
            status = now
        if now in TERMINAL or now == GONE:
            break
        sleep(delay)
        delay = min(poll, delay * 2)  # SageMaker gives a job up to 2 minutes to end after SIGTERM
    return StopResult(kind, name, status)
