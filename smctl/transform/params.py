"""MaxConcurrentTransforms, BatchStrategy and MaxPayloadInMB: the user's values, then the container's
(/execution-parameters), then SageMaker's defaults 1 / MultiRecord / 6; SageMaker's limits checked."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smctl.contract.transform import MAX_CONCURRENT_X_PAYLOAD, MAX_PAYLOAD_MB
from smctl.errors import UsageError
from smctl.transform.batching import MB
from smctl.transform.dataproc import DataProcessing

DEFAULT_MAX_CONCURRENT = 1
DEFAULT_STRATEGY = "MultiRecord"
DEFAULT_MAX_PAYLOAD_MB = 6
_STRATEGIES = {"SingleRecord": "SingleRecord", "SINGLE_RECORD": "SingleRecord",
               "MultiRecord": "MultiRecord", "MULTI_RECORD": "MultiRecord"}
ENV_NAMES = {"max_payload_mb": "SAGEMAKER_MAX_PAYLOAD_IN_MB", "strategy": "SAGEMAKER_BATCH_STRATEGY",
             "max_concurrent": "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"}
API_NAMES = {"max_payload_mb": "MaxPayloadInMB", "strategy": "BatchStrategy",
             "max_concurrent": "MaxConcurrentTransforms"}
FLAGS = {"max_payload_mb": "--max-payload", "strategy": "--strategy", "max_concurrent": "--max-concurrent"}


def normalize_strategy(value: Any) -> str | None:
    """'MultiRecord' or 'MULTI_RECORD' -> 'MultiRecord'; None when not a strategy."""
    return _STRATEGIES.get(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class UserLimits:
    """What the user set (flags over smctl.toml); None means not set, so the container or the default decides."""

    max_payload_mb: int | None = None
    strategy: str | None = None
    max_concurrent: int | None = None


def check_user_limits(max_payload_mb: int | None, strategy: str | None, max_concurrent: int | None) -> UserLimits:
    """Raises: UsageError for a value CreateTransformJob would refuse, naming the flag."""
    if max_payload_mb is not None and not 0 <= max_payload_mb <= MAX_PAYLOAD_MB:
        raise UsageError(f"--max-payload {max_payload_mb} is outside SageMaker's range of 0-{MAX_PAYLOAD_MB} MB",
                         f"use --max-payload 1-{MAX_PAYLOAD_MB} (MB), or 0 for no limit (chunked streaming)")
    if max_concurrent is not None and max_concurrent < 0:
        raise UsageError(f"--max-concurrent {max_concurrent} is negative",
                         "use --max-concurrent N with N >= 1 (0 or leaving it out lets the container decide)")
    norm = None
    if strategy is not None:
        norm = normalize_strategy(strategy)
        if norm is None:
            raise UsageError(f"--strategy {strategy!r} is not a batch strategy",
                             "use --strategy SingleRecord or MultiRecord (SINGLE_RECORD / MULTI_RECORD work too)")
    concurrent = max_concurrent or None  # SageMaker: 0 is the same as unset
    if concurrent and max_payload_mb and concurrent * max_payload_mb > MAX_CONCURRENT_X_PAYLOAD:
        raise UsageError(f"--max-concurrent {concurrent} x --max-payload {max_payload_mb} = "
                         f"{concurrent * max_payload_mb} MB is over SageMaker's limit of {MAX_CONCURRENT_X_PAYLOAD}",
                         "lower --max-concurrent or --max-payload so that their product is at most "
                         f"{MAX_CONCURRENT_X_PAYLOAD}")
    return UserLimits(max_payload_mb, norm, concurrent)


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # user | container | default


@dataclass(frozen=True)
class Resolved:
    max_payload_mb: Setting
    strategy: Setting
    max_concurrent: Setting

    @property
    def payload_limit(self) -> int | None:
        """The payload limit in bytes; None when MaxPayloadInMB is 0 (no limit, chunked streaming)."""
        return self.max_payload_mb.value * MB if self.max_payload_mb.value else None

    def as_dict(self) -> dict[str, Any]:
        return {API_NAMES[k]: {"value": getattr(self, k).value, "source": getattr(self, k).source}
                for k in API_NAMES}


def parse_execution_parameters(body: bytes) -> tuple[dict[str, Any], list[str]]:
    """The container's answer to GET /execution-parameters as {field: value}, plus a warning per value ignored."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, [f"/execution-parameters did not answer JSON ({exc}); its answer is ignored"]
    if not isinstance(doc, dict):
        return {}, ["/execution-parameters did not answer a JSON object; its answer is ignored"]
    found: dict[str, Any] = {}
    problems: list[str] = []
    raw = doc.get("MaxConcurrentTransforms")
    if raw is not None:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
            found["max_concurrent"] = raw
        elif raw != 0:
            problems.append(f"/execution-parameters: MaxConcurrentTransforms {raw!r} is not an integer >= 1; ignored")
    raw = doc.get("BatchStrategy")
    if raw is not None:
        if normalize_strategy(raw):
            found["strategy"] = normalize_strategy(raw)
        else:
            problems.append(f"/execution-parameters: BatchStrategy {raw!r} is not SINGLE_RECORD or MULTI_RECORD; "
                            "ignored")
    raw = doc.get("MaxPayloadInMB")
    if raw is not None:
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_PAYLOAD_MB:
            found["max_payload_mb"] = raw
        else:
            problems.append(f"/execution-parameters: MaxPayloadInMB {raw!r} is not an integer from 0 to "
                            f"{MAX_PAYLOAD_MB}; ignored")
    return found, problems


def resolve(user: UserLimits, container: Mapping[str, Any]) -> Resolved:
    """Apply the precedence rule; Raises: UsageError when the values in force break concurrency x payload <= 100."""
    defaults = {"max_payload_mb": DEFAULT_MAX_PAYLOAD_MB, "strategy": DEFAULT_STRATEGY,
                "max_concurrent": DEFAULT_MAX_CONCURRENT}
    settings = {}
    for key, default in defaults.items():
        mine = getattr(user, key)
        if mine is not None:
            settings[key] = Setting(mine, "user")
        elif container.get(key) is not None:
            settings[key] = Setting(container[key], "container")
        else:
            settings[key] = Setting(default, "default")
    resolved = Resolved(**settings)
    payload, concurrent = resolved.max_payload_mb, resolved.max_concurrent
    if payload.value and concurrent.value * payload.value > MAX_CONCURRENT_X_PAYLOAD:
        raise UsageError(
            f"MaxConcurrentTransforms {concurrent.value} ({concurrent.source}) x MaxPayloadInMB {payload.value} "
            f"({payload.source}) = {concurrent.value * payload.value} MB is over SageMaker's limit of "
            f"{MAX_CONCURRENT_X_PAYLOAD}",
            "set --max-concurrent and/or --max-payload so that their product is at most "
            f"{MAX_CONCURRENT_X_PAYLOAD}")
    return resolved


def batch_environment(user: UserLimits) -> dict[str, str]:
    """SAGEMAKER_BATCH=true always; the other three only for values the user set (CONTRACT.md §3)."""
    env = {"SAGEMAKER_BATCH": "true"}
    if user.max_payload_mb is not None:
        env[ENV_NAMES["max_payload_mb"]] = str(user.max_payload_mb)
    if user.strategy is not None:
        env[ENV_NAMES["strategy"]] = "SINGLE_RECORD" if user.strategy == "SingleRecord" else "MULTI_RECORD"
    if user.max_concurrent is not None:
        env[ENV_NAMES["max_concurrent"]] = str(user.max_concurrent)
    return env


@dataclass(frozen=True)
class RunSettings:
    split_type: str = "None"
    strategy: str = "MultiRecord"
    payload_limit: int | None = 6 * MB  # bytes; None: no limit, requests are streamed chunked
    max_concurrent: int = 1
    content_type: str | None = None
    accept: str | None = None
    assemble_with: str = "None"
    compression: str = "None"
    timeout: float = 600
    retries: int = 3
    resume: bool = False
    processing: DataProcessing | None = None
