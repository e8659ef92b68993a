"""Render a SageMaker-ready project from templates/: plan every file in memory (smctl.project.scaffold writes it)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

import smctl
from smctl.errors import SmctlError, UsageError
from smctl.project import presets
from smctl.project.presets import CudaVariant, Preset

# A valid image, ECR repository (2 characters at least) and job-name prefix.
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")
EXECUTABLES = frozenset({"program/train", "program/serve"})


@dataclass(frozen=True)
class ScaffoldOptions:
    preset: str = presets.DEFAULT_PRESET
    name: str | None = None  # default: from the folder's name
    python: str | None = None  # default: the preset's (3.11; 3.10 on the CUDA images)
    gpu: bool = False
    cuda: str | None = None  # implies gpu
    base_image: str | None = None
    separate_images: bool = False
    region: str = presets.DEFAULT_REGION
    dlc_version: str = presets.DEFAULT_DLC_VERSION


@dataclass(frozen=True)
class PlannedFile:
    path: str  # POSIX path relative to the project folder
    content: bytes
    executable: bool = False


@dataclass(frozen=True)
class ScaffoldPlan:
    preset: str
    name: str
    variant: str
    files: tuple[PlannedFile, ...]

    def file(self, path: str) -> PlannedFile:
        return next(f for f in self.files if f.path == path)

    def with_content(self, path: str, content: bytes) -> ScaffoldPlan:
        return replace(self, files=tuple(replace(f, content=content) if f.path == path else f for f in self.files))


def templates_dir() -> Path:
    """templates/ inside an installed wheel (smctl/templates), else at the top of the source tree."""
    here = Path(smctl.__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise SmctlError(f"smctl's templates are missing (looked in {here / 'templates'} and {here.parent / 'templates'})",
                     "reinstall smctl: pip install --force-reinstall smctl")


def dockerfile_quote(value: object) -> str:
    """A Dockerfile ENV/LABEL value in double quotes: backslash, quote and `$` (substitution) escaped."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise UsageError(f"{text!r} cannot go into a Dockerfile ENV value: it holds a line break",
                         "put the value on one line")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def toml_value(value: object) -> str:
    """A TOML literal for a str, bool, int, float or list (json's string escapes are valid TOML too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def template_environment(root: Path | None = None) -> Any:
    """A strict jinja2 environment: an undefined or misspelled variable is an error, never empty text."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["dockerquote"] = dockerfile_quote
    env.filters["toml"] = toml_value
    return env


def project_name(folder: Path, name: str | None) -> str:
    """--name, or the folder's name made valid. Raises: UsageError when --name is not a valid name."""
    if name is not None:
        if not NAME.match(name):
            raise UsageError(f"project name {name!r} is not valid: 2-63 lowercase letters, digits and inner "
                             "hyphens (it names the image, the ECR repository and SageMaker jobs)",
                             "pass e.g. --name my-model")
        return name
    from smctl.project.checks import sanitise_name

    return sanitise_name(folder.resolve().name)


# ---- planning ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Variant:
    preset: Preset
    name: str
    python: str
    gpu: bool
    cuda: CudaVariant | None  # the nvidia/cuda base and torch wheels (not for the DLC, whose tag fixes CUDA)
    dlc_cuda_tag: str | None
    base_image: str
    serve_base_image: str
    separate: bool
    region: str
    dlc_version: str


def _resolve(options: ScaffoldOptions, folder: Path) -> _Variant:
    """Options -> one consistent variant. Raises: UsageError for a combination that cannot work."""
    preset = presets.get_preset(options.preset)
    name = project_name(folder, options.name)
    gpu = options.gpu or options.cuda is not None
    if gpu and not preset.gpu:
        gpu_presets = ", ".join(p.name for p in presets.PRESETS.values() if p.gpu)
        raise UsageError(f"preset {preset.name!r} has no GPU variant", f"drop --gpu/--cuda, or use --preset "
                         f"{gpu_presets.replace(', ', ' | ')}")
    if preset.processing and options.separate_images:
        raise UsageError(f"preset {preset.name!r} builds one image (a processing job neither trains nor serves)",
                         "drop --separate-images")
    cuda = presets.resolve_cuda(options.cuda or presets.DEFAULT_CUDA) if gpu else None
    if options.python is not None and not re.fullmatch(r"3\.\d{1,2}", options.python):
        raise UsageError(f"--python {options.python!r} is not a Python version", "write it as major.minor, e.g. 3.11")
    dlc_cuda_tag = None
    if preset.script_mode:
        if not re.fullmatch(r"\d+\.\d+\.\d+", options.dlc_version):
            raise UsageError(f"--framework-version {options.dlc_version!r} is not a PyTorch version",
                             f"e.g. --framework-version {presets.DEFAULT_DLC_VERSION}")
        known_python, known_cuda = presets.DLC_VERSIONS.get(options.dlc_version, (presets.DEFAULT_PYTHON, None))
        python = options.python or known_python
        if cuda is not None:
            dlc_cuda_tag = cuda.torch_tag if options.cuda or known_cuda is None else known_cuda
        base = presets.dlc_image(options.region, options.dlc_version, python, dlc_cuda_tag)
        cuda = None
    elif cuda is not None:
        python = options.python or presets.GPU_PYTHON
        if python != presets.GPU_PYTHON and options.base_image is None:
            raise UsageError(f"{cuda.base_image} ships Python {presets.GPU_PYTHON}, not {python}",
                             f"drop --python (or pass --python {presets.GPU_PYTHON}), or --base-image IMAGE "
                             f"with Python {python}")
        base = cuda.base_image
    else:
        python = options.python or presets.DEFAULT_PYTHON
        base = f"python:{python}-slim"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", options.region):
        raise UsageError(f"--region {options.region!r} is not an AWS region", "e.g. --region us-east-1")
    return _Variant(
        preset=preset, name=name, python=python, gpu=gpu, cuda=cuda, dlc_cuda_tag=dlc_cuda_tag,
        base_image=options.base_image or base,
        serve_base_image=options.base_image or f"python:{python}-slim",
        separate=options.separate_images, region=options.region, dlc_version=options.dlc_version,
    )


def _image(v: _Variant, role: str) -> dict[str, Any]:
    """What one Dockerfile builds: role is "train and serve", "train" or "serve"."""
    train, serve = "train" in role, "serve" in role
    # In separate mode the serving image is the small one: python-slim and CPU wheels.
    on_serve_image = serve and not train
    base = v.serve_base_image if on_serve_image else v.base_image
    on_dlc = v.preset.script_mode and not on_serve_image
    cuda = None if on_serve_image else v.cuda
    default_cuda_base = cuda is not None and not on_dlc and base == cuda.base_image
    program = [f"program/{n}" for n in (["train"] if train and not on_dlc else [])]
    if serve:
        program += ["program/serve", "program/serving.py", "program/inference.py"]
    copies = [{"sources": ["program/"] if train and serve and not on_dlc else program, "target": "/opt/program/"}]
    if on_dlc:
        copies.append({"sources": ["code/train.py"], "target": "/opt/ml/code/train.py"})
    words = [n for n in ("train", "serve") if n in role]
    on_path = "on PATH (/opt/program)"
    if train and on_dlc:
        commands_note = "`train` is the DLC's sagemaker-training toolkit, which runs SAGEMAKER_PROGRAM" + (
            f"; `serve` is an executable {on_path}." if serve else ".")
    elif train and serve:
        commands_note = f"`train` and `serve` are executables {on_path}."
    else:
        commands_note = f"`{words[0]}` is an executable {on_path}."
    device = f"CUDA {cuda.version}" if cuda else (f"GPU ({v.dlc_cuda_tag})" if on_dlc and v.gpu else "CPU")
    return {
        "role": role,
        "summary": f"{role} image, {device}",
        "notes": [
            "SageMaker runs " + " and ".join(f"`docker run IMAGE {w}`" for w in words) + ".",
            commands_note,
            "No ENTRYPOINT of ours and no init process (SageMaker forbids tini): the word arrives as the command.",
        ],
        "base_image": base,
        "install_system_python": default_cuda_base,
        "system_packages": (["python3", "python3-venv"] if default_cuda_base else []) + (["nginx"] if serve else []),
        "venv_flags": "--system-site-packages " if on_dlc else "",
        "pythonpath": f"/opt/venv/lib/python{v.python}/site-packages" if on_dlc else None,
        "requirements_file": "requirements-serve.txt" if on_serve_image else "requirements.txt",
        "requirements": presets.requirements_for(v.preset, train=train, serve=serve, cuda=cuda, on_dlc=on_dlc),
        "copies": [c for c in copies if c["sources"]],
        "sagemaker_program": "train.py" if on_dlc and train else None,
        "executables": [f"/opt/{p}" for p in program if p in EXECUTABLES],
        "serves": serve,
        "workdir": "/opt/ml/code" if on_dlc and not serve else "/opt/program",
        "commands_note": commands_note,
        "entrypoint": None,
    }


PROCESS_SCRIPT = "program/process.py"


def _processing_image(v: _Variant) -> dict[str, Any]:
    """A processing job's image: the script is the ENTRYPOINT, so `docker run IMAGE ARGS...` runs it."""
    script = f"/opt/{PROCESS_SCRIPT}"
    note = f"ENTRYPOINT runs {script}; ContainerArguments (smctl.toml [process] arguments) are its arguments."
    return {
        "role": "processing",
        "summary": "processing image, CPU",
        "notes": [
            "SageMaker Processing runs `docker run IMAGE [ContainerArguments...]`; a ContainerEntrypoint replaces "
            "the ENTRYPOINT.",
            "Inputs are under /opt/ml/processing/input/NAME; what the script writes under "
            "/opt/ml/processing/output/NAME is uploaded.",
            "Exec-form ENTRYPOINT and no init process: the script is PID 1, so it gets SIGTERM at "
            "MaxRuntimeInSeconds.",
        ],
        "base_image": v.base_image,
        "install_system_python": False,
        "system_packages": [],
        "venv_flags": "",
        "pythonpath": None,
        "requirements_file": "requirements.txt",
        "requirements": presets.requirements_for(v.preset, train=False, serve=False, cuda=None, on_dlc=False),
        "copies": [{"sources": [PROCESS_SCRIPT], "target": "/opt/program/"}],
        "sagemaker_program": None,
        "executables": [],
        "serves": False,
        "workdir": "/opt/program",
        "commands_note": note,
        "entrypoint": ["python3", script],
    }


def _model_layout(v: _Variant) -> list[tuple[str, str]]:
    layout = [("Dockerfile", "the image SageMaker runs" if not v.separate else "the training image"),
              *([("Dockerfile.serve", "the serving image (smaller: python-slim, CPU wheels)")] if v.separate else []),
              ("requirements.txt", "Python packages, installed into /opt/venv at build time")]
    if v.preset.script_mode:
        layout.append(("code/train.py", "your training script, run by the DLC's toolkit (script mode)"))
    else:
        layout.append(("program/train", "`train`: reads /opt/ml as SageMaker lays it out; your code is `fit()`"))
    layout += [("program/inference.py", "your inference handlers: model_fn, predict_fn (input_fn, output_fn)"),
               ("program/serving.py", "the HTTP server: /ping, /invocations, /execution-parameters"),
               ("program/serve", "`serve`: nginx in front of granian workers (keep-alive, an idle worker per request)"),
               ("data/", "sample data: train/ (a channel), payload.csv (for invoke), batch/ (for transform)")]
    return layout


def _processing_layout() -> list[tuple[str, str]]:
    return [("Dockerfile", "the processing image: its ENTRYPOINT runs program/process.py"),
            ("requirements.txt", "Python packages, installed into /opt/venv at build time (none yet: the script "
             "uses the standard library)"),
            (PROCESS_SCRIPT, "your processing script: reads the inputs under /opt/ml/processing/input/, writes the "
             "outputs under /opt/ml/processing/output/"),
            ("data/raw/", "sample input: iris measurements, one header row")]


def build_context(v: _Variant) -> dict[str, Any]:
    """Every template variable, computed here (templates only substitute and loop)."""
    gpu = v.gpu
    if v.preset.processing:
        images = [_processing_image(v)]
    elif v.separate:
        images = [_image(v, "train"), _image(v, "serve")]
    else:
        images = [_image(v, "train and serve")]
    layout = _processing_layout() if v.preset.processing else _model_layout(v)
    variant_note = ""
    if gpu:
        variant_note = f" --cuda {v.cuda.version}" if v.cuda else " --gpu"
    if v.separate:
        variant_note += " --separate-images"
    return {
        "name": v.name,
        "preset": v.preset.name,
        "about": f"A SageMaker bring-your-own-container project: {v.preset.summary}.",
        "variant_note": variant_note,
        "python": v.python,
        "gpu": gpu,
        "separate_images": v.separate,
        "serve_image": f"{v.name}-serve",
        "serve_build_note": f" and {v.name}-serve:latest (Dockerfile.serve)" if v.separate else "",
        "region": v.region,
        "needs_ecr_login": any(img["base_image"].startswith(presets.DLC_ACCOUNT) for img in images),
        "dlc_registry": f"{presets.DLC_ACCOUNT}.dkr.ecr.{v.region}.amazonaws.com",
        "train_instance_type": "ml.g5.xlarge" if gpu else "ml.m5.xlarge",
        "serve_instance_type": "ml.g5.xlarge" if gpu and not v.separate else "ml.m5.xlarge",
        "hyperparameters": dict(v.preset.hyperparameters),
        "xgboost_device": "cuda" if gpu else "cpu",
        "layout": layout,
        "commands_note": images[0]["commands_note"] if not v.separate else
        f"training image: {images[0]['commands_note']} Serving image: {images[1]['commands_note']}",
        "images": images,
    }


def plan_scaffold(options: ScaffoldOptions, folder: Path) -> ScaffoldPlan:
    """Render every file of the project in memory; nothing touches the disk. Raises: UsageError for bad options."""
    import jinja2

    variant = _resolve(options, folder)
    context = build_context(variant)
    root = templates_dir()
    env = template_environment(root)
    sources: dict[str, str] = {}  # output path -> template name (later layers win)
    for layer in variant.preset.layers:
        for path in sorted((root / layer).rglob("*")):
            rel = path.relative_to(root / layer).as_posix()
            if path.is_dir() or path.name.startswith("_") or "__pycache__" in rel:
                continue
            out = rel.removesuffix(".j2")
            out = str(PurePosixPath(out).with_name(re.sub(r"^dot-", ".", PurePosixPath(out).name)))
            if out in variant.preset.omit:
                continue
            sources[out] = f"{layer}/{rel}"
    files: list[PlannedFile] = []
    try:
        for out, name in sorted(sources.items()):
            if out in ("Dockerfile", "requirements.txt"):
                continue  # one per image, below
            if name.endswith(".j2"):
                content = env.get_template(name).render(context).encode()
            else:
                content = (root / name).read_bytes()
            files.append(PlannedFile(out, content, out in EXECUTABLES))
        for image in context["images"]:
            suffix = ".serve" if image["requirements_file"] == "requirements-serve.txt" else ""
            image_context = {**context, "image": image, "requirements": image["requirements"]}
            files.append(PlannedFile(f"Dockerfile{suffix}",
                                     env.get_template(sources["Dockerfile"]).render(image_context).encode()))
            files.append(PlannedFile(image["requirements_file"],
                                     env.get_template(sources["requirements.txt"]).render(image_context).encode()))
    except jinja2.TemplateError as exc:  # a bug in smctl's templates, not the user's doing
        raise RuntimeError(f"template {getattr(exc, 'name', None) or ''} failed to render: {exc}") from exc
    device = "cpu"
    if variant.gpu:
        device = f"cuda {variant.cuda.version}" if variant.cuda else f"gpu {variant.dlc_cuda_tag}"
    return ScaffoldPlan(variant.preset.name, variant.name, device, tuple(sorted(files, key=lambda f: f.path)))
