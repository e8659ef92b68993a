"""Processing jobs as data (CreateProcessingJob; DG build-your-own-processing-container): paths, limits, config."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from smctl.contract import layout
from smctl.errors import UsageError

PROCESSING = layout.OPT_ML / "processing"
CONFIG = layout.OPT_ML / "config"
CODE_INPUT = "code"  # the input the SDK's ScriptProcessor stages the script as
PROCESSINGJOBCONFIG_JSON = "processingjobconfig.json"
MESSAGE = layout.OUTPUT / "message"
EXIT_MESSAGE_LIMIT = 1024

MAX_INPUTS = 10  # ProcessingInputs: at most 10
MAX_OUTPUTS = 10
MAX_ENVIRONMENT = layout.MAX_ENVIRONMENT
MAX_ENV_VALUE = 256  # CreateProcessingJob's Environment: keys and values up to 256 characters
MAX_ENV_KEY = 256
MAX_RUNTIME = 7 * 24 * 3600  # StoppingCondition.MaxRuntimeInSeconds: 1 .. 604800
DEFAULT_MAX_RUNTIME = 24 * 3600
VOLUME_SIZE_GB = 30
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # ProcessingInput.InputName / OutputName (we add the length)

INPUT_MODES = ("File", "Pipe")
UPLOAD_MODES = ("EndOfJob", "Continuous")


@dataclass(frozen=True)
class InputConfig:
    """One ProcessingInput's S3Input, less the S3Uri (the job description holds the source)."""

    name: str
    local_path: PurePosixPath
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    compression: str = "None"


@dataclass(frozen=True)
class OutputConfig:
    name: str
    local_path: PurePosixPath
    upload_mode: str = "EndOfJob"


def default_input_path(name: str) -> PurePosixPath:
    return PROCESSING / "input" / name


def default_output_path(name: str) -> PurePosixPath:
    return PROCESSING / "output" / name


def validate_io(inputs: Sequence[InputConfig], outputs: Sequence[OutputConfig]) -> None:
    """Every rule CreateProcessingJob puts on inputs and outputs, before anything runs.

    Raises:
        UsageError: a bad name, mode or LocalPath, a name or path given twice, too many of either.
    """
    for what, items, limit in (("inputs", inputs, MAX_INPUTS), ("outputs", outputs, MAX_OUTPUTS)):
        if len(items) > limit:
            raise UsageError(f"{len(items)} {what} given; SageMaker's processing jobs take at most {limit}",
                             f"merge {what} into fewer folders")
    seen: dict[PurePosixPath, str] = {}
    names: set[tuple[str, str]] = set()
    every: list[tuple[str, str, InputConfig | OutputConfig]] = [
        *(("input", "--input", i) for i in inputs), *(("output", "--output", o) for o in outputs)]
    for kind, flag, item in every:
        if not NAME.match(item.name) or len(item.name) > 63:
            raise UsageError(f"{kind} name {item.name!r} is not valid",
                             "use 1-63 letters, digits and hyphens, starting with a letter or digit")
        if (kind, item.name) in names:
            raise UsageError(f"{kind} {item.name!r} is given twice", f"give each {kind} once ({flag})")
        names.add((kind, item.name))
        path = item.local_path
        if not path.is_absolute() or ".." in path.parts or PROCESSING not in path.parents:
            example = default_input_path(item.name) if kind == "input" else default_output_path(item.name)
            raise UsageError(f"{kind} {item.name!r}: local_path {str(path)!r} is not under {PROCESSING}/ "
                             "(SageMaker refuses any other LocalPath)",
                             f"use a path such as {example}: {flag} {item.name}=PATH,local_path={example}")
        for other, owner in seen.items():
            if other == path or other in path.parents or path in other.parents:
                raise UsageError(f"{kind} {item.name!r}: local_path {path} overlaps {owner}'s {other}",
                                 "give each input and output its own folder under /opt/ml/processing/")
        seen[path] = f"{kind} {item.name!r}"
    for i in inputs:
        for label, value, allowed in (("mode", i.input_mode, INPUT_MODES),
                                      ("distribution", i.distribution, layout.DISTRIBUTIONS),
                                      ("compression", i.compression, layout.COMPRESSIONS)):
            if value not in allowed:
                raise UsageError(f"input {i.name!r}: {label} {value!r} is not valid",
                                 f"use one of: {', '.join(allowed)}")
        if i.compression == "Gzip" and i.input_mode != "Pipe":
            raise UsageError(f"input {i.name!r}: compression Gzip needs mode=Pipe (S3CompressionType applies to "
                             "Pipe mode only)", f"--input {i.name}=PATH,mode=Pipe,compression=Gzip, or store it "
                             "uncompressed")
    for o in outputs:
        if o.upload_mode not in UPLOAD_MODES:
            raise UsageError(f"output {o.name!r}: upload {o.upload_mode!r} is not valid",
                             f"use one of: {', '.join(UPLOAD_MODES)}")


def validate_environment(env: Mapping[str, str]) -> dict[str, str]:
    """CreateProcessingJob's Environment limits: 100 entries, keys and values up to 256 characters.

    Raises:
        UsageError: too many entries, a bad or long key, or a long value.
    """
    return layout.validate_environment(env, max_value=MAX_ENV_VALUE, max_key=MAX_ENV_KEY)


def check_max_runtime(seconds: int) -> int:
    """Raises: UsageError unless 1 <= seconds <= 604800 (MaxRuntimeInSeconds)."""
    if not 1 <= seconds <= MAX_RUNTIME:
        raise UsageError(f"--max-runtime {seconds} is out of range; SageMaker's processing jobs take 1 to "
                         f"{MAX_RUNTIME} seconds (7 days)", "use --max-runtime 3600 (an hour), for example")
    return seconds


def exit_message(texts: Sequence[bytes]) -> tuple[str | None, str | None]:
    """(ExitMessage, ClientError): every host's /opt/ml/output/message concatenated, its first 1 KB; a message
    that is not UTF-8 gives no ExitMessage but the FailureReason SageMaker fails the job with."""
    if not texts:
        return None, None
    try:
        text = "".join(raw.decode("utf-8") for raw in texts)
    except UnicodeDecodeError:
        return None, f"ClientError: {MESSAGE} is not UTF-8 text"
    return text.encode("utf-8")[:EXIT_MESSAGE_LIMIT].decode("utf-8", errors="ignore"), None


def processing_job_config(*, job_name: str, arn: str, image: str, entrypoint: Sequence[str] | None,
                          arguments: Sequence[str] | None, inputs: Sequence[tuple[InputConfig, str]],
                          outputs: Sequence[tuple[OutputConfig, str]], instance_type: str, instance_count: int,
                          environment: Mapping[str, str], max_runtime: int, role_arn: str | None) -> dict[str, Any]:
    """processingjobconfig.json: the CreateProcessingJob request as the container sees it (URIs given per item)."""
    app: dict[str, Any] = {"ImageUri": image}
    if entrypoint:
        app["ContainerEntrypoint"] = list(entrypoint)
    if arguments:
        app["ContainerArguments"] = list(arguments)
    return {
        "ProcessingJobArn": arn,
        "ProcessingJobName": job_name,
        "AppSpecification": app,
        "Environment": dict(environment),
        "NetworkConfig": {"EnableInterContainerTrafficEncryption": False, "EnableNetworkIsolation": False},
        "ProcessingInputs": [
            {"InputName": i.name, "AppManaged": False,
             "S3Input": {"LocalPath": str(i.local_path), "S3Uri": uri, "S3DataDistributionType": i.distribution,
                         "S3DataType": "S3Prefix", "S3InputMode": i.input_mode, "S3CompressionType": i.compression}}
            for i, uri in inputs
        ],
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": o.name, "AppManaged": False,
             "S3Output": {"LocalPath": str(o.local_path), "S3Uri": uri, "S3UploadMode": o.upload_mode}}
            for o, uri in outputs
        ]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": instance_count, "InstanceType": instance_type,
                                                  "VolumeSizeInGB": VOLUME_SIZE_GB}},
        "RoleArn": role_arn,
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def resource_config(current_host: str, hosts: Sequence[str]) -> dict[str, Any]:
    """A processing job's resourceconfig.json: the current host and every host."""
    return {"current_host": current_host, "hosts": list(hosts)}
