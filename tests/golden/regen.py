"""Golden files of every `smctl init` variant: `python -m tests.golden.regen` rewrites them; review the git diff."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from smctl.project.render import ScaffoldOptions, plan_scaffold

GOLDEN = Path(__file__).resolve().parent
VARIANTS: dict[str, ScaffoldOptions] = {
    "python": ScaffoldOptions(preset="python", name="demo"),
    "python-separate": ScaffoldOptions(preset="python", name="demo", separate_images=True),
    "sklearn": ScaffoldOptions(preset="sklearn", name="demo"),
    "xgboost": ScaffoldOptions(preset="xgboost", name="demo"),
    "xgboost-gpu": ScaffoldOptions(preset="xgboost", name="demo", gpu=True),
    "pytorch": ScaffoldOptions(preset="pytorch", name="demo"),
    "pytorch-gpu": ScaffoldOptions(preset="pytorch", name="demo", gpu=True),
    "pytorch-cuda12.6": ScaffoldOptions(preset="pytorch", name="demo", cuda="12.6"),
    "pytorch-gpu-separate": ScaffoldOptions(preset="pytorch", name="demo", gpu=True, separate_images=True),
    "dlc": ScaffoldOptions(preset="dlc", name="demo"),
    "dlc-gpu": ScaffoldOptions(preset="dlc", name="demo", gpu=True),
    "dlc-separate": ScaffoldOptions(preset="dlc", name="demo", separate_images=True),
    "processing": ScaffoldOptions(preset="processing", name="demo"),
}


def rendered(variant: str) -> dict[str, bytes]:
    """The variant's files as `smctl init` would write them: relative path -> content."""
    plan = plan_scaffold(VARIANTS[variant], GOLDEN / variant)
    return {f.path: f.content for f in plan.files}


def on_disk(variant: str) -> dict[str, bytes]:
    root = GOLDEN / variant
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> int:
    for variant in VARIANTS:
        root = GOLDEN / variant
        shutil.rmtree(root, ignore_errors=True)
        for path, content in rendered(variant).items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if path.startswith("program/") and "." not in path.rsplit("/", 1)[-1]:
                target.chmod(0o755)
        print(f"wrote {root.relative_to(Path.cwd()) if root.is_relative_to(Path.cwd()) else root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
