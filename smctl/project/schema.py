"""The smctl.toml schema as data: every key with its check and default, and the SageMaker limits behind them.

The checks themselves are in checks.py; a flag goes through the same field as its key (Section.with_overrides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from smctl.contract import hyperparameters as hps
from smctl.contract import layout, processing
from smctl.contract.credentials import ROLE_ARN
from smctl.contract.transform import MAX_PAYLOAD_MB
from smctl.project import pipeline_keys
from smctl.project.async_checks import async_table
from smctl.project.checks import (
    ENVIRONMENT,
    INSTANCE_TYPE,
    JOB_NAME,
    JSONPATH,
    MIME,
    TAG,
    Bad,
    Ctx,
    Field,
    Integer,
    Problem,
    boolean,
    choice,
    did_you_mean,
    ecr_repository,
    gpus,
    host_address,
    hyperparameters,
    image_ref,
    integer,
    local_or_s3,
    path,
    problems_for,
    project_name,
    repository,
    str_list,
    str_table,
    text,
)

# --- the tables ------------------------------------------------------------------------------------------------

SECTIONS: dict[str, tuple[Field, ...]] = {
    "project": (
        Field("name", project_name),
        Field("image", repository),
        Field("tag", text(TAG, "a Docker tag: letters, digits, '_', '.', '-' (max 128, not starting with . or -)",
                          128), "latest"),
    ),
    "build": (
        Field("dockerfile", path, "Dockerfile"),
        Field("context", path, "."),
        Field("platform", text(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?", "an OS/ARCH platform such as linux/amd64",
                               64), "linux/amd64"),
        Field("build_args", str_table(r"[A-Za-z_][A-Za-z0-9_]*", "[A-Za-z_][A-Za-z0-9_]*"), {}),
        Field("serve_dockerfile", path),
        Field("serve_image", repository),
    ),
    "aws": (
        Field("region", text(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", "an AWS region such as us-east-1", 32)),
        Field("profile", text(r"\S+", "a profile name from ~/.aws/config", 128)),
        Field("ecr_repository", ecr_repository),
        Field("account_id", text(r"[0-9]{12}", "a 12-digit AWS account id, as a string", 12,
                                 'quote it, leading zeros count: account_id = "012345678901"')),
        Field("registry", text(r"[A-Za-z0-9.-]+(?::[0-9]+)?", "a registry host[:port] without a scheme", 255,
                               "e.g. 127.0.0.1:5000 or 123456789012.dkr.ecr.us-east-1.amazonaws.com")),
        Field("role", text(ROLE_ARN.pattern, "an IAM role ARN", 2048,
                           "e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole")),
        Field("bucket", text(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (3-63 lowercase letters, "
                             "digits, dots and hyphens)", 63, 'the name alone, no s3://: bucket = "my-ml-bucket"')),
    ),
    "train": (
        Field("image", image_ref),
        Field("instance_type", INSTANCE_TYPE, "ml.m5.xlarge"),
        Field("instance_count", integer(1, hint="the number of hosts (algo-1..N): 1 or more"), 1),
        Field("input_mode", choice(*layout.INPUT_MODES), "File"),
        Field("hyperparameters", hyperparameters, {}),
        Field("hyperparameter_encoding", choice(*hps.HP_ENCODINGS), "json"),
        Field("environment", ENVIRONMENT, {}),
        Field("checkpoint_dir", path),
        Field("output_dir", path, ".smctl/output"),
        Field("job_name", JOB_NAME),
        Field("entrypoint", str_list),
        Field("arguments", str_list),
        Field("gpus", gpus, "auto"),
        Field("keep", boolean, False),
        Field("read_only_channels", boolean, False),
        Field("channels", lambda v, ctx: v),  # parsed by spec.py once input_mode is known
    ),
    "serve": (
        Field("image", image_ref),
        Field("model", local_or_s3),
        Field("port", integer(0, 65535), 8080),
        Field("host", host_address, "127.0.0.1"),
        Field("instance_type", INSTANCE_TYPE, "ml.m5.xlarge"),
        Field("environment", ENVIRONMENT, {}),
        Field("gpus", gpus, "auto"),
        Field("startup_timeout", integer(60, 3600, "SageMaker's ContainerStartupHealthCheckTimeoutInSeconds is "
                                                   "60-3600 (default 240)"), 240),
        Field("read_only_model", boolean, False),
        Field("name", JOB_NAME),
        Field("async_inference", async_table),
        Field("containers", pipeline_keys.containers, []),  # [[serve.containers]]: an inference pipeline
        Field("execution_mode", choice("Serial", "Direct"), "Serial"),  # InferenceExecutionConfig.Mode
    ),
    "transform": (
        Field("image", image_ref),
        Field("model", local_or_s3),
        Field("input", local_or_s3),
        Field("output", local_or_s3, ".smctl/transform-output"),
        Field("content_type", MIME),
        Field("accept", MIME),
        Field("split_type", choice("None", "Line", "RecordIO", "TFRecord"), "None"),
        Field("strategy", choice("SingleRecord", "MultiRecord",
                                 aliases={"SINGLE_RECORD": "SingleRecord", "MULTI_RECORD": "MultiRecord"})),
        Field("max_payload_mb", integer(0, MAX_PAYLOAD_MB)),
        Field("max_concurrent", integer(0)),
        Field("assemble_with", choice("None", "Line"), "None"),
        Field("input_filter", JSONPATH),
        Field("output_filter", JSONPATH),
        Field("join_source", choice("None", "Input"), "None"),
        Field("compression", choice(*layout.COMPRESSIONS), "None"),
        Field("timeout", integer(1, 3600, "SageMaker's InvocationsTimeoutInSeconds is 1-3600 (default 600)"), 600),
        Field("retries", integer(0, 3, "SageMaker's InvocationsMaxRetries is 0-3 (default 3)"), 3),
        Field("environment", ENVIRONMENT, {}),
        Field("instance_type", INSTANCE_TYPE, "ml.m5.xlarge"),
        Field("gpus", gpus, "auto"),
    ),
    "process": (  # a processing job (smctl.processing); inputs/outputs: NAME = "PATH[,OPTION=VALUE...]" as the flags
        Field("image", image_ref),
        Field("instance_type", INSTANCE_TYPE, "ml.m5.xlarge"),
        Field("instance_count", integer(1, hint="the number of hosts (algo-1..N): 1 or more"), 1),
        Field("environment", str_table(layout.ENV_KEY.pattern, "[a-zA-Z_][a-zA-Z0-9_]*", processing.MAX_ENVIRONMENT,
                                       processing.MAX_ENV_VALUE), {}),
        Field("inputs", str_table(processing.NAME.pattern, "letters, digits and hyphens", processing.MAX_INPUTS), {}),
        Field("outputs", str_table(processing.NAME.pattern, "letters, digits and hyphens", processing.MAX_OUTPUTS),
              {}),
        Field("code", path),
        Field("max_runtime", integer(1, processing.MAX_RUNTIME, "MaxRuntimeInSeconds is 1-604800 (7 days)"),
              processing.DEFAULT_MAX_RUNTIME),
        Field("entrypoint", str_list),
        Field("arguments", str_list),
        Field("job_name", JOB_NAME),
        Field("gpus", gpus, "auto"),
    ),
}

CHANNEL: tuple[Field, ...] = (
    Field("path", local_or_s3),
    Field("content_type", MIME),
    Field("input_mode", choice(*layout.INPUT_MODES)),  # default: train.input_mode
    Field("distribution", choice(*layout.DISTRIBUTIONS), "FullyReplicated"),
    Field("record_wrapper", choice(*layout.RECORD_WRAPPERS), "None"),
    Field("compression", choice(*layout.COMPRESSIONS), "None"),
    Field("shuffle_seed", integer(0)),
)


def unknown_key(label: str, key: str, known: Iterable[str]) -> Problem:
    homes = [f"[{name}]" for name, fields in SECTIONS.items() if key in {f.name for f in fields}]
    hint = did_you_mean(key, known) or (f"{key} belongs under {' or '.join(homes)}" if homes else
                                        f"known keys: {', '.join(sorted(known))}")
    return Problem(f"{label}.{key}", f"[{label}] key {key!r} is not known", hint)


def read_table(table: Mapping[str, Any], fields: Sequence[Field], label: str, ctx: Ctx,
               problems: list[Problem]) -> dict[str, Any]:
    """Check every key of one table against its fields; unknown keys and bad values become problems."""
    known = {f.name: f for f in fields}
    problems.extend(unknown_key(label, key, known) for key in table if key not in known)
    out: dict[str, Any] = {}
    for f in fields:
        value = table.get(f.name, f.default)
        try:
            out[f.name] = None if value is None else f.check(value, ctx)
        except Bad as bad:
            problems.extend(problems_for(f"{label}.{f.name}", value, bad))
            out[f.name] = None if f.default is None else f.check(f.default, ctx)
    return out


def integer_bounds(section: str, key: str) -> tuple[int | None, int | None]:
    """The (lo, hi) range of the integer key [section] key, for the flag that sets it; Raises KeyError."""
    check = next(f.check for f in SECTIONS[section] if f.name == key)
    if not isinstance(check, Integer):
        raise KeyError(f"[{section}] {key} is not an integer key")
    return check.lo, check.hi
