"""/opt/ml as data: the container paths SageMaker uses and the config files it writes, byte for byte."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from smctl.errors import UsageError

OPT_ML = PurePosixPath("/opt/ml")
INPUT = OPT_ML / "input"
INPUT_CONFIG = INPUT / "config"
INPUT_DATA = INPUT / "data"
MODEL = OPT_ML / "model"
OUTPUT = OPT_ML / "output"
OUTPUT_DATA = OUTPUT / "data"
FAILURE = OUTPUT / "failure"
CHECKPOINTS = OPT_ML / "checkpoints"
CODE = OPT_ML / "code"

HYPERPARAMETERS_JSON = "hyperparameters.json"
INPUTDATACONFIG_JSON = "inputdataconfig.json"
RESOURCECONFIG_JSON = "resourceconfig.json"
CHECKPOINTCONFIG_JSON = "checkpointconfig.json"

GROUP_NAME = "homogeneousCluster"
NETWORK_INTERFACE = "eth0"

# SageMaker API limits (CreateTrainingJob).
MAX_ENVIRONMENT = 100
MAX_ENV_VALUE = 512
MAX_CHANNELS = 20
CHANNEL_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

INPUT_MODES = ("File", "FastFile", "Pipe")
DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")
RECORD_WRAPPERS = ("None", "RecordIO")
COMPRESSIONS = ("None", "Gzip")


@dataclass(frozen=True)
class ChannelConfig:
    """What inputdataconfig.json says about one channel."""

    name: str
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    record_wrapper: str = "None"
    content_type: str | None = None
    compression: str = "None"
    shuffle_seed: int | None = None  # ShuffleConfig.Seed: the object order is shuffled (per epoch in Pipe mode)


def host_names(count: int) -> list[str]:
    """SageMaker's host names: algo-1 .. algo-N."""
    return [f"algo-{i}" for i in range(1, count + 1)]


def validate_environment(env: Mapping[str, str], *, max_value: int = MAX_ENV_VALUE,
                         max_key: int | None = None) -> dict[str, str]:
    """Check the user's container environment against CreateTrainingJob's limits (others' through the bounds).

    Raises:
        UsageError: too many entries, a bad or long key, or a value over `max_value` characters.
    """
    if len(env) > MAX_ENVIRONMENT:
        raise UsageError(f"{len(env)} environment variables given; SageMaker accepts at most {MAX_ENVIRONMENT}",
                         "pass fewer --env values (or environment entries in smctl.toml)")
    for key, value in env.items():
        if not ENV_KEY.match(key):
            raise UsageError(
                f"environment variable name {key!r} is not valid",
                "names match [a-zA-Z_][a-zA-Z0-9_]*",
            )
        if max_key is not None and len(key) > max_key:
            raise UsageError(f"environment variable name {key[:40]}... is {len(key)} characters; SageMaker allows "
                             f"{max_key}", "use a shorter name")
        if len(str(value)) > max_value:
            raise UsageError(
                f"environment variable {key} is {len(str(value))} characters; SageMaker allows {max_value}",
                f"shorten {key}'s value, or ship long settings as a file in the model or a channel instead",
            )
    return {k: str(v) for k, v in env.items()}


def validate_channel(channel: ChannelConfig) -> None:
    """Every rule a channel must meet, whether it came from a flag, smctl.toml or code.

    Raises:
        UsageError: naming the channel, the value and the allowed ones.
    """
    if not CHANNEL_NAME.match(channel.name):
        raise UsageError(
            f"channel name {channel.name!r} is not valid",
            "channel names are 1-64 characters of letters, digits, '.', '-' and '_'",
        )
    for label, value, allowed in (
        ("input mode", channel.input_mode, INPUT_MODES),
        ("distribution", channel.distribution, DISTRIBUTIONS),
        ("record wrapper", channel.record_wrapper, RECORD_WRAPPERS),
        ("compression", channel.compression, COMPRESSIONS),
    ):
        if value not in allowed:
            raise UsageError(
                f"channel {channel.name!r}: {label} {value!r} is not valid",
                f"use one of: {', '.join(allowed)}",
            )
    if channel.compression == "Gzip" and channel.input_mode != "Pipe":
        raise UsageError(f"channel {channel.name!r}: compression Gzip needs input_mode = \"Pipe\" (SageMaker uses "
                         "CompressionType only in Pipe mode)",
                         f"make it a Pipe channel (--channel {channel.name}=PATH,mode=Pipe,compression=Gzip, or "
                         f"input_mode = \"Pipe\" under [train.channels.{channel.name}]), or store the data "
                         "uncompressed")
    if channel.shuffle_seed is not None and not 0 <= channel.shuffle_seed < 2**63:
        raise UsageError(f"channel {channel.name!r}: shuffle seed {channel.shuffle_seed} is not valid",
                         "use a whole number from 0 (ShuffleConfig.Seed): shuffle_seed=42")


def input_data_config(channels: Sequence[ChannelConfig]) -> dict[str, dict[str, str]]:
    """inputdataconfig.json: the four keys per channel, ContentType only when given; {} with no channels."""
    if len(channels) > MAX_CHANNELS:
        raise UsageError(f"{len(channels)} channels given; SageMaker accepts at most {MAX_CHANNELS}",
                         "merge channels (--channel or [train.channels] in smctl.toml) into fewer folders")
    config: dict[str, dict[str, str]] = {}
    for ch in channels:
        validate_channel(ch)
        if ch.name in config:
            raise UsageError(f"channel {ch.name!r} is given twice", "give each channel once")
        entry: dict[str, str] = {}
        if ch.content_type:
            entry["ContentType"] = ch.content_type
        entry["TrainingInputMode"] = ch.input_mode
        entry["S3DistributionType"] = ch.distribution
        entry["RecordWrapperType"] = ch.record_wrapper
        config[ch.name] = entry
    return config


def resource_config(current_host: str, hosts: Sequence[str], instance_type: str) -> dict[str, Any]:
    """resourceconfig.json with every key a real training job writes."""
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": GROUP_NAME,
        "hosts": list(hosts),
        "instance_groups": [
            {"instance_group_name": GROUP_NAME, "instance_type": instance_type, "hosts": list(hosts)}
        ],
        "network_interface_name": NETWORK_INTERFACE,
    }


def checkpoint_config() -> dict[str, str]:
    return {"LocalPath": str(CHECKPOINTS)}


def dump_config(data: Mapping[str, Any]) -> str:
    """The exact text written to a config file (compact JSON, as SageMaker writes it)."""
    return json.dumps(data)
