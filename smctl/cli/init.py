"""`smctl init`: scaffold a SageMaker-ready container project from a preset."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.output import Output
from smctl.errors import UsageError
from smctl.project import presets

HELP = ("Create a SageMaker-ready container project (Dockerfile, train and serve or a processing script, sample data, "
        "smctl.toml).")
PRESET_HELP = "; ".join(f"{p.name}: {p.summary}" for p in presets.PRESETS.values())


def init_cmd(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in (default: here).")] = Path("."),
    preset: Annotated[str, typer.Option("--preset", "-p", help=f"One of: {PRESET_HELP}.")] = presets.DEFAULT_PRESET,
    name: Annotated[str | None, typer.Option("--name", help="Project and image name (default: the folder's).")] = None,
    python: Annotated[str | None, typer.Option(
        "--python", help=f"Python version (default {presets.DEFAULT_PYTHON}; {presets.GPU_PYTHON} on CUDA).")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="CUDA variant (pytorch, xgboost, dlc).")] = False,
    cuda: Annotated[str | None, typer.Option(
        "--cuda", help=f"CUDA version, implies --gpu: {' | '.join(presets.CUDA_VARIANTS)} "
        f"(default {presets.DEFAULT_CUDA}).")] = None,
    base_image: Annotated[str | None, typer.Option("--base-image", help="Build FROM this image instead.")] = None,
    separate_images: Annotated[bool, typer.Option(
        "--separate-images", help="One image to train, a smaller one (Dockerfile.serve) to serve.")] = False,
    region: Annotated[str, typer.Option("--region", help="AWS region (smctl.toml; the dlc base image).")]
    = presets.DEFAULT_REGION,
    framework_version: Annotated[str, typer.Option(
        "--framework-version", help="PyTorch version of the dlc preset's base image.")] = presets.DEFAULT_DLC_VERSION,
    capture_deps: Annotated[bool, typer.Option(
        "--capture-deps", help="Also pin what the folder's Python code imports into requirements.txt.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder, overwriting.")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Ask for the options (a TTY only).")]
    = False,
) -> None:
    from smctl.project import render, scaffold

    out: Output = ctx.obj.out
    if interactive:
        preset, name, python = _ask(out, directory, preset, name, python)
    options = render.ScaffoldOptions(preset=preset, name=name, python=python, gpu=gpu, cuda=cuda,
                                     base_image=base_image, separate_images=separate_images, region=region,
                                     dlc_version=framework_version)
    folder = directory.expanduser().absolute()
    plan = render.plan_scaffold(options, folder)
    captured = None
    if capture_deps:
        plan, captured = _capture(folder, plan)
    result = scaffold.write_scaffold(folder, plan, force=force,
                                     on_event=lambda kind, data: out.debug(f"{kind} {data['path']}"))
    if captured is not None and captured.unmapped:
        out.warn(f"not installed here, so not pinned: {', '.join(captured.unmapped)} (add them to requirements.txt)")
    payload = {**result.as_dict(), "preset": plan.preset, "name": plan.name, "variant": plan.variant,
               "next_steps": _next_steps(directory, plan.preset)}
    if captured is not None:
        payload["captured"] = [p.line for p in captured.missing]
    out.result(payload, lambda console: _render(console, payload))


def _ask(out: Output, directory: Path, preset: str, name: str | None, python: str | None) -> tuple[str, Any, Any]:
    """Prompt on a terminal only: a pipe or CI must never hang on a question."""
    if not sys.stdin.isatty() or out.json_mode:
        raise UsageError("--interactive needs a terminal (stdin is not a TTY, or --json is on)",
                         "drop --interactive and pass --preset/--name/--python instead")
    preset = typer.prompt(f"Preset ({', '.join(presets.PRESETS)})", default=preset, err=True)
    from smctl.project.render import project_name

    name = typer.prompt("Project name", default=name or project_name(directory, None), err=True)
    python = typer.prompt("Python version (empty: the preset's default)", default=python or "", err=True,
                          show_default=False) or None
    return preset, name, python


def _capture(folder: Path, plan: Any) -> tuple[Any, Any]:
    """Pin the imports of the folder's existing code and of the generated code into the planned requirements.txt."""
    from smctl.project import deps

    sources = deps.read_sources(folder) if folder.is_dir() else {}
    for f in plan.files:
        if f.path.endswith(".py") or f.path in ("program/train", "program/serve"):
            sources[f.path] = f.content.decode()
    report = deps.analyse(sources, folder / "requirements.txt", plan.file("requirements.txt").content.decode())
    return plan.with_content("requirements.txt", report.text.encode()), report


def _next_steps(directory: Path, preset: str) -> list[str]:
    steps = [] if directory == Path(".") else [f"cd {directory}"]
    return [*steps, "smctl build", *presets.PRESETS[preset].next_commands]


def _render(console: Any, payload: dict[str, Any]) -> None:
    console.print(f"Created {payload['preset']} project {payload['name']} ({payload['variant']}) in "
                  f"{payload['directory']}", markup=False)
    for path in payload["created"]:
        console.print(f"  + {path}", markup=False)
    for path in payload["overwritten"]:
        console.print(f"  ~ {path} (overwritten)", markup=False)
    for line in payload.get("captured", []):
        console.print(f"  pinned {line}", markup=False)
    console.print("Next: " + " && ".join(payload["next_steps"]), markup=False)


def register(app: typer.Typer) -> None:
    app.command("init", help=HELP)(init_cmd)
