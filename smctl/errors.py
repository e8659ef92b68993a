"""The exit-code table and the error tree every smctl failure goes through."""

from __future__ import annotations

import re
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code smctl uses; the README's table is generated from the same numbers."""

    OK = 0
    ERROR = 1
    USAGE = 2
    DOCKER = 3
    AWS = 4
    CONTAINER_FAILED = 5
    CHECKS_FAILED = 6
    INTERNAL = 70
    INTERRUPTED = 130


class SmctlError(Exception):
    """Base of every error a user can cause: a message naming the object, and a hint that fixes it."""

    exit_code: ExitCode = ExitCode.ERROR
    # The engine's own words, set by engine/ on errors it classified: for checks that report them verbatim.
    engine_message: str | None = None

    def __init__(self, message: str, hint: str | None = None, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}


class UsageError(SmctlError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """smctl.toml is missing, unreadable or invalid."""


class LocationError(UsageError):
    """A value that is neither a local path nor a well-formed s3:// URI; `expected` says what it must be."""

    def __init__(self, message: str, hint: str | None = None, *, expected: str) -> None:
        super().__init__(message, hint)
        self.expected = expected


class DockerError(SmctlError):
    exit_code = ExitCode.DOCKER


class AwsError(SmctlError):
    exit_code = ExitCode.AWS


class ContainerFailedError(SmctlError):
    exit_code = ExitCode.CONTAINER_FAILED


class ChecksFailedError(SmctlError):
    exit_code = ExitCode.CHECKS_FAILED


class ArchiveError(SmctlError):
    """A model archive could not be written, read or safely extracted."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the target folder or is a device, FIFO or unsafe link."""

    exit_code = ExitCode.CHECKS_FAILED


# Engine (engine/)


class GpuUnavailableError(DockerError):
    """The engine has no GPU runtime for a container that asked for GPUs."""


class OverlayUnavailableError(DockerError):
    """The engine could not mount an overlay volume (rootless engine, a file system overlayfs refuses...)."""


class ImageNotFoundError(UsageError):
    """An image the command line or smctl.toml names is not in the local engine: like a path that does not exist,
    a usage error (exit 2), not the engine's failure."""


class ContainerNameInUseError(DockerError):
    """The engine refused a container name another container already has."""


class PortAllocatedError(DockerError):
    """The engine could not publish a port: something else holds it on the host."""


class ContainerGoneError(DockerError):
    """A container smctl was using was removed by something else."""


class BuildFailedError(SmctlError):
    """The user's Dockerfile failed to build (a RUN step exited non-zero, a COPY source is missing, ...)."""


ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")


class RegistryError(SmctlError):
    """A registry could not be reached or refused a request: exit 4 (AWS) for an ECR registry, else 3 (DOCKER)."""

    def __init__(self, message: str, hint: str | None = None, *, registry: str | None = None,
                 details: dict | None = None) -> None:
        super().__init__(message, hint, details=details)
        self.registry = registry
        self.exit_code = ExitCode.AWS if registry and ECR_HOST.fullmatch(registry) else ExitCode.DOCKER


class PushFailedError(RegistryError):
    """The engine could not push: `reason` is auth, unreachable or other."""

    def __init__(self, message: str, hint: str | None = None, *, reason: str = "other", registry: str | None = None,
                 details: dict | None = None) -> None:
        super().__init__(message, hint, registry=registry, details=details)
        self.reason = reason


# Images and registries (image/)


class WrongPlatformError(ChecksFailedError):
    """The local image is not linux/amd64: SageMaker would not run it (a failed check of the image, exit 6)."""


class RegistryReadError(RegistryError):
    """The registry did not answer the manifest request."""


class NotSingleImageError(ChecksFailedError):
    """The registry holds an index / manifest list where SageMaker needs one image manifest (exit 6)."""


# Serving (serving/)


class PortInUseError(SmctlError):
    """The host port an endpoint should publish on is taken."""


class EndpointNotFoundError(SmctlError):
    """No local endpoint has the name asked for."""


class PayloadTooLargeError(UsageError):
    """A request body over the payload limit."""


class ModelError(ContainerFailedError):
    """The container answered 4xx/5xx: SageMaker's ModelError (HTTP 424) carrying the original status."""


class InvocationTimeoutError(ContainerFailedError):
    """The container did not answer within the timeout."""


class ModelStreamError(ContainerFailedError):
    """A streamed answer stopped midway; error_code is SageMaker's: StreamBroken | ModelInvocationTimeExceeded."""

    def __init__(self, message: str, hint: str | None = None, *, error_code: str, details: dict | None = None) -> None:
        super().__init__(message, hint, details={"error_code": error_code, **(details or {})})
        self.error_code = error_code
class TargetModelError(UsageError):
    """A TargetModel that is not a safe path under the endpoint's prefix, or one sent to a single-model endpoint."""


class ModelDataNotFoundError(UsageError):
    """A multi-model endpoint's TargetModel names no archive under its model prefix."""


class ModelNotReadyError(SmctlError):
    """The target model is still being fetched or loaded (SageMaker: ModelNotReadyException, HTTP 429)."""


class MultiModelContractError(ContainerFailedError):
    """The container broke SageMaker's multi-model API (/models): the message names the call and its answer."""


class RuntimeServerError(SmctlError):
    """The local runtime API could not start."""


class S3ObjectNotFoundError(UsageError):
    """An s3:// object named on the command line or in a request does not exist (an async inference's input)."""


class AsyncConfigError(UsageError):
    """One asynchronous-inference setting is out of SageMaker's bounds; `key` names it (output_path...)."""

    def __init__(self, key: str, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.key = key


# Batch transform (transform/)


class TransformDataError(UsageError):
    """Input objects (or responses) that do not fit the split type, the content type or the filters."""


# Doctor (doctor/)


class DataRootFixError(SmctlError):
    """--fix data-root cannot be applied safely right now."""


# Internal to batch transform: raised while reading records and answers, turned into TransformDataError or a
# per-record failure by transform/job.py; a user never sees them bare.


class InvocationError(Exception):
    """One POST /invocations did not succeed (status, timeout or connection)."""


class DataError(ValueError):
    """A record (1-based within its file) or a response does not fit the content type or the filters."""

    def __init__(self, message: str, record: int | None = None) -> None:
        super().__init__(f"record {record}: {message}" if record else message)
        self.record = record


class RecordTooLargeError(ValueError):
    """One record alone is over the payload limit; `record` is 1-based."""

    def __init__(self, record: int, size: int, limit: int) -> None:
        super().__init__(f"record {record} is {size:,} bytes, over the payload limit of {limit:,} bytes "
                         f"({limit / (1 << 20):g} MB)")
        self.record = record
        self.size = size
        self.limit = limit


class JsonPathError(ValueError):
    """The expression is outside SageMaker's subset (parse time) or does not match a record (apply time)."""


class SplitError(ValueError):
    """The bytes are not framed as the split type says; `record` is 1-based, `offset` the byte where it starts."""

    def __init__(self, reason: str, record: int, offset: int) -> None:
        super().__init__(f"record {record} (byte {offset}): {reason}")
        self.reason = reason
        self.record = record
        self.offset = offset


class RoleNotAssumableError(AwsError):
    """--role names a role the caller cannot assume (trust policy, permissions, or no such role)."""


class CredentialsEndpointError(DockerError):
    """The engine's containers cannot reach smctl's credentials endpoint on this host (a remote or rootless engine)."""


class CredentialsExpiredError(AwsError):
    """AWS refused credentials that have expired (ExpiredToken and its kin): refreshing them is the fix."""

    refresh = "refresh them (`aws sso login`, or new temporary credentials)"

    def while_waiting(self, what: str, resume: str) -> CredentialsExpiredError:
        """The same refusal met while following `what` (which goes on in SageMaker); `resume` says how to pick
        it up again."""
        return CredentialsExpiredError(f"your AWS credentials expired while following {what}; it goes on in "
                                       "SageMaker", f"{self.refresh}, then {resume}")


class CredentialsConfigError(AwsError):
    """The AWS configuration itself is broken (half a key pair, a missing profile): fixed by the user, never skipped."""
