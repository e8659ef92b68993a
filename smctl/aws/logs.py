"""CloudWatch Logs of SageMaker jobs: every host's stream, in order, new events only on each poll."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smctl.aws.session import aws_errors

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass(frozen=True)
class LogEvent:
    stream: str
    host: str  # algo-N, from SageMaker's stream name JOB/algo-N-EPOCH
    timestamp: int
    message: str


class LogFollower:
    """The streams under GROUP/PREFIX/ as they appear; poll() returns what each has gained since the last poll."""

    def __init__(self, logs: Any, group: str, prefix: str) -> None:
        self._logs = logs
        self._group = group
        self._prefix = prefix
        self._tokens: dict[str, str | None] = {}

    def poll(self) -> list[LogEvent]:
        """Raises: AwsError (no permission, endpoint gone); a group that does not exist yet has nothing."""
        events: list[LogEvent] = []
        for stream in self._streams():
            events.extend(self._read(stream))
        return events

    def _streams(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": self._group}
        if self._prefix:  # none: every stream of the group (an endpoint's group is its own)
            kwargs["logStreamNamePrefix"] = f"{self._prefix}/"
        with aws_errors(f"listing the log streams of {self._prefix}"):
            try:
                while True:
                    page = self._logs.describe_log_streams(**kwargs)
                    names += [s["logStreamName"] for s in page.get("logStreams", [])]
                    if not page.get("nextToken"):
                        break
                    kwargs["nextToken"] = page["nextToken"]
            except self._logs.exceptions.ResourceNotFoundException:
                return []
        return sorted(names)

    def _read(self, stream: str) -> list[LogEvent]:
        out: list[LogEvent] = []
        host = host_of(stream, self._prefix)
        with aws_errors(f"reading the log stream {stream}"):
            while True:
                kwargs: dict[str, Any] = {"logGroupName": self._group, "logStreamName": stream, "startFromHead": True}
                token = self._tokens.get(stream)
                if token:
                    kwargs["nextToken"] = token
                page = self._logs.get_log_events(**kwargs)
                out += [LogEvent(stream, host, e["timestamp"], e["message"].rstrip("\n")) for e in page["events"]]
                nxt = page.get("nextForwardToken")
                if not page["events"] or nxt == token:
                    self._tokens[stream] = nxt or token
                    return out
                self._tokens[stream] = nxt


def host_of(stream: str, prefix: str) -> str:
    """algo-2 from JOB/algo-2-1700000000 (SageMaker's training stream names)."""
    rest = stream[len(prefix) + 1:] if prefix and stream.startswith(prefix + "/") else stream
    head, _, tail = rest.rpartition("-")
    return head if head and tail.isdigit() else rest
