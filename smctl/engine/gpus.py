"""GPU requests: `--gpus` parsed against the instance type, and the engine's device requests for them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smctl.errors import UsageError

if TYPE_CHECKING:
    from smctl.contract.instances import InstanceType


@dataclass(frozen=True)
class GpuRequest:
    """`--gpus`: count -1 is all; device_ids picks specific GPUs; None means no GPU."""

    count: int | None = None
    device_ids: tuple[str, ...] = ()

    def device_requests(self) -> list[Any]:
        from docker.types import DeviceRequest

        if self.device_ids:
            return [DeviceRequest(device_ids=list(self.device_ids), capabilities=[["gpu"]])]
        if self.count:
            return [DeviceRequest(count=self.count, capabilities=[["gpu"]])]
        return []

    def describe(self) -> str:
        if self.device_ids:
            return "devices " + ",".join(self.device_ids)
        if self.count == -1:
            return "all"
        return str(self.count) if self.count else "none"


def parse_gpus(value: str, instance: InstanceType, engine_has_gpus: bool | None) -> GpuRequest:
    """`all`, `none`, a count, comma-separated ids, or `auto` (the instance's GPUs when the engine has them)."""
    value = value.strip().lower()
    if value in ("none", "0", ""):
        return GpuRequest()
    if value == "all":
        return GpuRequest(count=-1)
    if value == "auto":
        if instance.gpus and engine_has_gpus:
            return GpuRequest(count=instance.gpus if instance.gpus > 0 else -1)
        return GpuRequest()
    if value.isdigit():
        return GpuRequest(count=int(value))
    ids = tuple(p.strip() for p in value.split(",") if p.strip())
    if not ids or not all(re.fullmatch(r"[0-9]+|GPU-[0-9a-f-]+", i, re.I) for i in ids):
        raise UsageError(f"--gpus {value!r} is not valid", "use all, none, auto, a count (2) or device ids (0,1)")
    return GpuRequest(device_ids=ids)
