"""Asynchronous inference as data: AsyncInferenceConfig's fields and limits, InvokeEndpointAsync's headers, and
where SageMaker writes an answer (S3OutputPath/<InferenceId>.out) or an error (S3FailurePath/<InferenceId>-error.out).

Limits from botocore's sagemaker and sagemaker-runtime models (2017-05-13 / 2017-07-24)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from smctl.contract.location import Location
from smctl.errors import AsyncConfigError, LocationError, UsageError

MAX_CONCURRENT = 1000  # ClientConfig.MaxConcurrentInvocationsPerInstance: 1-1000 (unset: SageMaker picks)
DEFAULT_MAX_CONCURRENT = 4  # what smctl picks when it is unset
INVOCATION_TIMEOUT = 900  # InvocationTimeoutSeconds: 1-3600, default 15 minutes
MAX_INVOCATION_TIMEOUT = 3600
REQUEST_TTL = 21600  # RequestTTLSeconds: 60-21600, default 6 hours
MIN_REQUEST_TTL = 60
MAX_INLINE_BODY = 128_000  # Body: inline payload instead of InputLocation
MAX_INPUT = 1 << 30  # an InputLocation object: up to 1 GB
MAX_PATH = 512  # S3OutputPath / S3FailurePath
INFERENCE_ID = re.compile(r"\S[\x20-\x7e]{0,63}")  # 1-64 printable characters, not starting with a space
FILENAME = re.compile(r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}")
PATH_EXTENSION = re.compile(r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]{1,512}")

# InvokeEndpointAsync's request headers (the wire names, from botocore's model)
H_INPUT = "X-Amzn-SageMaker-InputLocation"
H_CONTENT_TYPE = "X-Amzn-SageMaker-Content-Type"
H_ACCEPT = "X-Amzn-SageMaker-Accept"
H_CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
H_INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
H_TTL = "X-Amzn-SageMaker-RequestTTLSeconds"
H_TIMEOUT = "X-Amzn-SageMaker-InvocationTimeoutSeconds"
H_EXTENSION = "X-Amzn-SageMaker-S3OutputPathExtension"
H_FILENAME = "X-Amzn-SageMaker-Filename"
# ... and its answer (HTTP 202; InferenceId travels in the JSON body)
H_OUTPUT = "X-Amzn-SageMaker-OutputLocation"
H_FAILURE = "X-Amzn-SageMaker-FailureLocation"


@dataclass(frozen=True)
class AsyncConfig:
    """An endpoint's AsyncInferenceConfig (OutputConfig and ClientConfig) plus the local default invocation
    timeout (SageMaker takes that per request only: InvocationTimeoutSeconds)."""

    output_path: Location
    failure_path: Location | None = None
    max_concurrent_invocations: int | None = None
    invocation_timeout: int = INVOCATION_TIMEOUT

    @property
    def concurrency(self) -> int:
        return self.max_concurrent_invocations or DEFAULT_MAX_CONCURRENT

    def output_location(self, inference_id: str, filename: str | None = None, extension: str | None = None) -> str:
        return _join(self.output_path, extension, filename or f"{inference_id}.out")

    def failure_location(self, inference_id: str, extension: str | None = None) -> str:
        """Where the error goes: S3FailurePath, or S3OutputPath when no failure path is set."""
        return _join(self.failure_path or self.output_path, extension, f"{inference_id}-error.out")

    def as_dict(self) -> dict[str, object]:
        return {"output_path": str(self.output_path),
                "failure_path": str(self.failure_path) if self.failure_path else None,
                "max_concurrent_invocations": self.max_concurrent_invocations,
                "invocation_timeout": self.invocation_timeout}

    def to_label(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_label(cls, text: str | None) -> AsyncConfig | None:
        """The config an endpoint's container label holds (None: no label, or not one smctl wrote)."""
        if not text:
            return None
        try:
            d = json.loads(text)
            return build_async_config(d["output_path"], d.get("failure_path"), d.get("max_concurrent_invocations"),
                                      d.get("invocation_timeout"))
        except (ValueError, KeyError, TypeError, UsageError):
            return None

    def cloud_request(self) -> dict[str, object]:
        """CreateEndpointConfig's AsyncInferenceConfig."""
        output: dict[str, object] = {"S3OutputPath": str(self.output_path)}
        if self.failure_path is not None:
            output["S3FailurePath"] = str(self.failure_path)
        doc: dict[str, object] = {"OutputConfig": output}
        if self.max_concurrent_invocations is not None:
            doc["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": self.max_concurrent_invocations}
        return doc


def _join(prefix: Location, extension: str | None, name: str) -> str:
    parts = [prefix.key.strip("/"), (extension or "").strip("/"), name]
    return f"s3://{prefix.bucket}/" + "/".join(p for p in parts if p)


def build_async_config(output_path: object, failure_path: object = None, max_concurrent: object = None,
                       invocation_timeout: object = None) -> AsyncConfig:
    """Check each setting against SageMaker's bounds.

    Raises:
        AsyncConfigError: naming the setting (its `key`) and the range.
    """
    output = _s3_path("output_path", output_path)
    if output is None:
        raise AsyncConfigError("output_path", "asynchronous inference needs an output path",
                               "give the S3 prefix answers go to: --async-output s3://BUCKET/PREFIX")
    failure = _s3_path("failure_path", failure_path)
    concurrency = _integer("max_concurrent_invocations", max_concurrent, 1, MAX_CONCURRENT,
                           "SageMaker's MaxConcurrentInvocationsPerInstance")
    timeout = _integer("invocation_timeout", invocation_timeout, 1, MAX_INVOCATION_TIMEOUT,
                       "SageMaker's InvocationTimeoutSeconds (default 900)")
    return AsyncConfig(output, failure, concurrency, INVOCATION_TIMEOUT if timeout is None else timeout)


def _s3_path(key: str, value: object) -> Location | None:
    if value is None:
        return None
    if isinstance(value, Location):
        value = str(value)
    if not isinstance(value, str) or len(value) > MAX_PATH:
        raise AsyncConfigError(key, f"{key} must be an s3://BUCKET/PREFIX URI of at most {MAX_PATH} characters",
                               "e.g. s3://my-bucket/async-output")
    try:
        return Location.parse_s3(value)
    except LocationError as err:
        raise AsyncConfigError(key, f"{key} {value!r} is not an s3://BUCKET/PREFIX URI: {err.message}",
                               err.hint or "e.g. s3://my-bucket/async-output") from None


def _integer(key: str, value: object, lo: int, hi: int, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise AsyncConfigError(key, f"{key} must be a whole number from {lo} to {hi}, got {value!r}",
                               f"{what} is {lo}-{hi}")
    return value


def request_problem(headers: dict[str, str], body_size: int) -> str | None:
    """What InvokeEndpointAsync refuses (a ValidationError message), or None."""
    has_input = bool(headers.get(H_INPUT))
    if has_input == (body_size > 0):
        return ("Exactly one of InputLocation or Body must be provided." if not has_input else
                "Body and InputLocation are mutually exclusive. Provide exactly one of them.")
    if body_size > MAX_INLINE_BODY:
        return (f"1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have "
                f"length less than or equal to {MAX_INLINE_BODY}")
    if has_input and not headers[H_INPUT].startswith("s3://"):
        return f"InputLocation {headers[H_INPUT]!r} is not an s3:// URI (smctl reads only s3:// inputs)."
    checks = ((H_INFERENCE_ID, "inferenceId", INFERENCE_ID), (H_FILENAME, "filename", FILENAME),
              (H_EXTENSION, "s3OutputPathExtension", PATH_EXTENSION))
    for header, member, pattern in checks:
        value = headers.get(header)
        if value is not None and not pattern.fullmatch(value):
            return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {pattern.pattern}")
    for header, member, lo, hi in ((H_TTL, "requestTTLSeconds", MIN_REQUEST_TTL, REQUEST_TTL),
                                   (H_TIMEOUT, "invocationTimeoutSeconds", 1, MAX_INVOCATION_TIMEOUT)):
        value = headers.get(header)
        if value is None:
            continue
        if not value.strip().isdigit() or not lo <= int(value) <= hi:
            return (f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                    f"Member must have value between {lo} and {hi}")
    return None
