"""The `smctl init` presets as data: template layers, base images, CUDA variants and pinned requirements."""

from __future__ import annotations

import re
from dataclasses import dataclass

from smctl.errors import UsageError

DEFAULT_PRESET = "python"
DEFAULT_PYTHON = "3.11"
DEFAULT_CUDA = "12.4"
DEFAULT_REGION = "us-east-1"
DEFAULT_DLC_VERSION = "2.5.1"
DLC_ACCOUNT = "763104351884"
GPU_PYTHON = "3.10"  # what Ubuntu 22.04 (the nvidia/cuda runtime images) ships as python3

GRANIAN = "granian==2.8.9"  # the HTTP server of the generated `serve` (process workers, keep-alive)
NUMPY = "numpy==2.2.6"
SKLEARN = "scikit-learn==1.6.1"
JOBLIB = "joblib==1.4.2"  # scikit-learn brings it too; named because the generated code imports it
XGBOOST_VERSION = "2.1.4"
SERVING = (GRANIAN,)
TORCH_INDEX = "https://download.pytorch.org/whl/{tag}"
TORCH_CPU_VERSION = "2.6.0"


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    layers: tuple[str, ...]  # template folders under templates/, later ones win
    hyperparameters: tuple[tuple[str, int | float | str], ...] = ()  # smctl.toml's [train.hyperparameters]
    gpu: bool = False  # has a CUDA variant
    script_mode: bool = False  # training runs through AWS's sagemaker-training toolkit (SAGEMAKER_PROGRAM)
    processing: bool = False  # a processing job's image (ENTRYPOINT runs the script): no train, no serve
    omit: tuple[str, ...] = ()  # files of the lower layers this preset leaves out
    next_commands: tuple[str, ...] = ("smctl local-train", "smctl local-serve")  # after `smctl build`


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("python", "no ML framework, quickest to build: the column means of a CSV", ("common", "python"),
               (("precision", 4),)),
        Preset("sklearn", "a scikit-learn decision tree on iris (AWS's canonical bring-your-own-container example)",
               ("common", "iris", "sklearn"), (("max_leaf_nodes", 5),)),
        Preset("xgboost", "an XGBoost classifier on iris", ("common", "iris", "xgboost"),
               (("num_round", 20), ("max_depth", 3), ("eta", 0.3)), gpu=True),
        Preset("pytorch", "a PyTorch MLP on iris, on CPU or CUDA (--gpu)", ("common", "iris", "pytorch"),
               (("epochs", 100), ("lr", 0.05)), gpu=True),
        Preset("dlc", "AWS's PyTorch Deep Learning Container extended in script mode (SAGEMAKER_PROGRAM)",
               ("common", "iris", "dlc"), (("epochs", 100), ("lr", 0.05)), gpu=True, script_mode=True),
        Preset("processing", "a SageMaker Processing job, no train or serve: iris split into standardised "
               "train/test CSVs", ("common", "processing"), processing=True,
               omit=("program/serve", "program/serving.py"), next_commands=("smctl local-process",)),
    )
}


@dataclass(frozen=True)
class CudaVariant:
    version: str  # major.minor, as users type it
    base_image: str  # an nvidia/cuda *runtime* image: CUDA libraries, no driver (the host provides it)
    torch_tag: str  # the PyTorch wheel index matching this CUDA: https://download.pytorch.org/whl/<tag>
    torch_version: str


CUDA_VARIANTS: dict[str, CudaVariant] = {
    v.version: v
    for v in (
        CudaVariant("12.1", "nvidia/cuda:12.1.1-runtime-ubuntu22.04", "cu121", "2.5.1"),
        CudaVariant("12.4", "nvidia/cuda:12.4.1-runtime-ubuntu22.04", "cu124", "2.6.0"),
        CudaVariant("12.6", "nvidia/cuda:12.6.3-runtime-ubuntu22.04", "cu126", "2.6.0"),
    )
}

# PyTorch DLC version -> (python, CUDA tag of its GPU image), from AWS's available_images.md.
DLC_VERSIONS: dict[str, tuple[str, str]] = {
    "2.4.0": ("3.11", "cu124"),
    "2.5.1": ("3.11", "cu124"),
    "2.6.0": ("3.12", "cu126"),
}


@dataclass(frozen=True)
class Requirements:
    index_urls: tuple[str, ...]
    lines: tuple[str, ...]


def get_preset(name: str) -> Preset:
    """Raises: UsageError naming the unknown preset, suggesting a close one and listing the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        from smctl.project.checks import did_you_mean

        listing = f"choose one of: {', '.join(PRESETS)} (--preset NAME)"
        close = did_you_mean(name, PRESETS, "--preset {}")
        raise UsageError(f"unknown preset {name!r}", f"{close} Or {listing}" if close else listing) from None


def resolve_cuda(value: str) -> CudaVariant:
    """`12.4`, `12.4.1` or `cu124` -> the CUDA variant. Raises: UsageError listing the supported versions."""
    text = value.strip().lower()
    m = re.fullmatch(r"cu(\d+)(\d)", text)
    key = f"{m.group(1)}.{m.group(2)}" if m else ".".join(text.split(".")[:2])
    if key not in CUDA_VARIANTS:
        from smctl.project.checks import did_you_mean

        listing = f"use --cuda {' | '.join(CUDA_VARIANTS)}, or --base-image IMAGE for another base"
        # a well-formed version smctl lacks (11.8) is no typo: a guess among its neighbours would mislead
        close = None if re.fullmatch(r"\d{1,2}(\.\d+)?", key) else did_you_mean(text, CUDA_VARIANTS, "--cuda {}")
        raise UsageError(f"CUDA {value!r} has no matching PyTorch wheel index in smctl's table",
                         f"{close} Or {listing}" if close else listing)
    return CUDA_VARIANTS[key]


def dlc_image(region: str, version: str, python: str, cuda_tag: str | None) -> str:
    """The PyTorch training DLC in AWS's ECR (needs `docker login` to that registry before a build)."""
    py = "py" + python.replace(".", "")
    device = f"gpu-{py}-{cuda_tag}" if cuda_tag else f"cpu-{py}"
    return f"{DLC_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/pytorch-training:{version}-{device}-ubuntu22.04-sagemaker"


def requirements_for(preset: Preset, *, train: bool, serve: bool, cuda: CudaVariant | None,
                     on_dlc: bool) -> Requirements:
    """The pinned requirements of one image: what its training code and/or serving stack import."""
    lines: list[str] = []
    index_urls: list[str] = []

    def add(*items: str) -> None:
        lines.extend(i for i in items if i not in lines)

    if preset.name == "sklearn":
        add(SKLEARN, JOBLIB)
    elif preset.name == "xgboost":
        add(f"xgboost=={XGBOOST_VERSION}" if cuda else f"xgboost-cpu=={XGBOOST_VERSION}", NUMPY)
    elif preset.name in ("pytorch", "dlc") and not on_dlc:
        tag = cuda.torch_tag if cuda else "cpu"
        index_urls.append(TORCH_INDEX.format(tag=tag))
        add(f"torch=={cuda.torch_version if cuda else TORCH_CPU_VERSION}+{tag}")
    if serve:
        add(*SERVING)
        if not on_dlc:  # the DLC has numpy already; pinning another one would shadow the one torch was built with
            add(NUMPY)
    return Requirements(tuple(index_urls), tuple(lines))
