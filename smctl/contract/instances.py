"""SageMaker instance types as data: vCPUs, memory and GPUs, so local runs get the same limits."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from smctl.errors import UsageError


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: float
    gpus: int = 0

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 1024**3)


def _family(prefix: str, sizes: Mapping[str, tuple[int, float, int]]) -> dict[str, InstanceType]:
    return {f"{prefix}.{s}": InstanceType(f"{prefix}.{s}", c, m, g) for s, (c, m, g) in sizes.items()}


_GENERAL = {"large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
            "8xlarge": (32, 128, 0), "12xlarge": (48, 192, 0), "16xlarge": (64, 256, 0), "24xlarge": (96, 384, 0)}
_COMPUTE_C5 = {"large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0), "4xlarge": (16, 32, 0),
               "9xlarge": (36, 72, 0), "18xlarge": (72, 144, 0)}
_COMPUTE_C6I = {"large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0), "4xlarge": (16, 32, 0),
                "8xlarge": (32, 64, 0), "12xlarge": (48, 96, 0), "16xlarge": (64, 128, 0)}
_MEMORY = {"large": (2, 16, 0), "xlarge": (4, 32, 0), "2xlarge": (8, 64, 0), "4xlarge": (16, 128, 0),
           "8xlarge": (32, 256, 0), "12xlarge": (48, 384, 0)}
_G4DN = {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1), "8xlarge": (32, 128, 1),
         "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1)}
_G5 = {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1), "8xlarge": (32, 128, 1),
       "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1), "24xlarge": (96, 384, 4), "48xlarge": (192, 768, 8)}

INSTANCE_TYPES: dict[str, InstanceType] = {
    **_family("ml.t3", {"medium": (2, 4, 0), "large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0)}),
    **_family("ml.m4", {"xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
                        "10xlarge": (40, 160, 0), "16xlarge": (64, 256, 0)}),
    **_family("ml.m5", _GENERAL),
    **_family("ml.m6i", _GENERAL),
    **_family("ml.c4", {"xlarge": (4, 7.5, 0), "2xlarge": (8, 15, 0), "4xlarge": (16, 30, 0), "8xlarge": (36, 60, 0)}),
    **_family("ml.c5", _COMPUTE_C5),
    **_family("ml.c6i", _COMPUTE_C6I),
    **_family("ml.r5", _MEMORY),
    **_family("ml.g4dn", _G4DN),
    **_family("ml.g5", _G5),
    **_family("ml.g6", _G5),
    **_family("ml.p3", {"2xlarge": (8, 61, 1), "8xlarge": (32, 244, 4), "16xlarge": (64, 488, 8)}),
    **_family("ml.p3dn", {"24xlarge": (96, 768, 8)}),
    **_family("ml.p4d", {"24xlarge": (96, 1152, 8)}),
    **_family("ml.p5", {"48xlarge": (192, 2048, 8)}),
}

# Types of the table each API refuses (botocore's TrainingInstanceType, ProductionVariantInstanceType and
# TransformInstanceType, ProcessingInstanceType enums): SageMaker rejects the job before it starts, so smctl does too.
NOT_OFFERED = {
    "training": frozenset({"ml.c5.large", "ml.c6i.large", "ml.m5.8xlarge", "ml.m5.16xlarge"}),
    "hosting": frozenset({"ml.m5.8xlarge", "ml.m5.16xlarge", "ml.p3dn.24xlarge", "ml.r5.8xlarge", "ml.t3.medium",
                          "ml.t3.large", "ml.t3.xlarge", "ml.t3.2xlarge"}),
    "transform": frozenset({"ml.c5.large", "ml.m5.8xlarge", "ml.m5.16xlarge", "ml.p3dn.24xlarge", "ml.p4d.24xlarge",
                            "ml.p5.48xlarge", "ml.r5.large", "ml.r5.xlarge", "ml.r5.2xlarge", "ml.r5.4xlarge",
                            "ml.r5.8xlarge", "ml.r5.12xlarge", "ml.t3.medium", "ml.t3.large", "ml.t3.xlarge",
                            "ml.t3.2xlarge"}),
    "processing": frozenset({"ml.c5.large", "ml.c6i.large", "ml.m5.8xlarge", "ml.m5.16xlarge", "ml.p3dn.24xlarge",
                             "ml.p4d.24xlarge", "ml.p5.48xlarge"}),
}
_API = {"training": "CreateTrainingJob", "hosting": "CreateEndpointConfig", "transform": "CreateTransformJob",
        "processing": "CreateProcessingJob"}

# SageMaker SDK local mode's pseudo types: no limits, with or without GPUs.
LOCAL_TYPES = {"local": InstanceType("local", 0, 0, 0), "local_gpu": InstanceType("local_gpu", 0, 0, -1)}


def lookup_instance_type(name: str, use: str | None = None, offered: Collection[str] = ()) -> InstanceType:
    """The type's limits; `use` (training, hosting, transform, processing) also refuses a type that API does not offer.
    `offered`: more types the API offers for `use` (botocore's list, for a cloud job): accepted, limits unknown (0).

    Raises: UsageError for an unknown type, suggesting the closest known ones, or one not offered for `use`.
    """
    if name in INSTANCE_TYPES:
        if use is not None and name in NOT_OFFERED[use]:
            offered = [n for n in INSTANCE_TYPES if n not in NOT_OFFERED[use]]
            family = name.rsplit(".", 1)[0] + "."
            close = [n for n in offered if n.startswith(family)][:3] or difflib.get_close_matches(name, offered, n=3)
            raise UsageError(f"{name} is not a SageMaker {use} instance type ({_API[use]} refuses it)",
                             f"use another type, such as {' or '.join(close or ['ml.m5.xlarge'])} (--instance-type)")
        return INSTANCE_TYPES[name]
    if name in LOCAL_TYPES:
        return LOCAL_TYPES[name]
    if name in offered:
        return InstanceType(name, 0, 0, 0)
    close = difflib.get_close_matches(name, list(INSTANCE_TYPES) + list(LOCAL_TYPES), n=3, cutoff=0.6)
    if f"ml.{name}" in INSTANCE_TYPES:  # `m5.large`: the ml. prefix was left out
        close = [f"ml.{name}", *[c for c in close if c != f"ml.{name}"]][:3]
    hint = f"did you mean {' or '.join(close)}?" if close else "use an ml.* type such as ml.m5.xlarge, or 'local'"
    raise UsageError(f"unknown instance type {name!r}", hint)
