"""NVIDIA driver, the engine's GPU plumbing, and the CUDA version a project's image asks for."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

CUDA_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*\S*nvidia/cuda:(\d+)\.(\d+)", re.I | re.M)
SMI_DRIVER = re.compile(r"Driver Version:\s*([\d.]+)")
SMI_CUDA = re.compile(r"CUDA Version:\s*([\d.]+)")
TOOLKIT_BINARIES = ("nvidia-container-runtime-hook", "nvidia-container-toolkit", "nvidia-container-runtime")
CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


@dataclass(frozen=True)
class GpuFacts:
    smi_path: str | None = None
    smi_error: str | None = None
    driver_version: str | None = None
    driver_cuda: str | None = None  # the highest CUDA the driver supports ("CUDA Version" in nvidia-smi's header)
    gpu_count: int = 0
    engine_runtimes: tuple[str, ...] = ()
    toolkit: str | None = None  # an NVIDIA container toolkit binary found on PATH
    cdi_specs: tuple[str, ...] = ()
    needs_gpu: str | None = None  # why the project needs GPUs, None when it does not
    image_cuda: str | None = None  # the CUDA version the project's Dockerfile builds on


def parse_nvidia_smi(text: str) -> tuple[str | None, str | None, int]:
    """(driver version, highest CUDA version, GPU count) from `nvidia-smi`'s default output."""
    driver = SMI_DRIVER.search(text)
    cuda = SMI_CUDA.search(text)
    count = len(re.findall(r"^\|\s+\d+\s+.*\s(?:On|Off)\s+\|", text, re.M))
    return (driver.group(1) if driver else None), (cuda.group(1) if cuda else None), count


def dockerfile_cuda(text: str) -> str | None:
    """The X.Y of the first `FROM nvidia/cuda:X.Y...` line, if any."""
    m = CUDA_FROM.search(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)[:3])


def probe_gpu(runtimes: tuple[str, ...] = (), cdi_spec_dirs: tuple[str, ...] = (), dockerfile: Path | None = None,
              needs_gpu: str | None = None) -> GpuFacts:
    """Run nvidia-smi (if any), look for the container toolkit and CDI specs, read the Dockerfile's CUDA."""
    image_cuda = None
    if dockerfile is not None:
        try:
            image_cuda = dockerfile_cuda(dockerfile.read_text(errors="replace"))
        except OSError:
            image_cuda = None
    if image_cuda and not needs_gpu:
        needs_gpu = f"{dockerfile} builds on nvidia/cuda:{image_cuda}"
    toolkit = next((p for p in map(shutil.which, TOOLKIT_BINARIES) if p), None)
    cdi: list[str] = []
    for d in (*cdi_spec_dirs, *CDI_DIRS):
        folder = Path(d)
        if folder.is_dir():
            cdi += sorted(str(p) for p in folder.iterdir() if "nvidia" in p.name.lower())
    smi = shutil.which("nvidia-smi")
    base = GpuFacts(engine_runtimes=runtimes, toolkit=toolkit, cdi_specs=tuple(dict.fromkeys(cdi)),
                    needs_gpu=needs_gpu, image_cuda=image_cuda)
    if smi is None:
        return base
    try:
        proc = subprocess.run([smi], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return replace(base, smi_path=smi, smi_error=str(exc))
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).strip().splitlines()
        return replace(base, smi_path=smi, smi_error=text[0] if text else f"exit code {proc.returncode}")
    driver, cuda, count = parse_nvidia_smi(proc.stdout)
    return replace(base, smi_path=smi, driver_version=driver, driver_cuda=cuda, gpu_count=count)
