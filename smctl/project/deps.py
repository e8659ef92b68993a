"""Dependency capture: what a project's Python code imports, pinned to the versions installed here."""

from __future__ import annotations

import ast
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smctl.errors import SmctlError, UsageError

SKIPPED_DIRS = frozenset({"__pycache__", "venv", "env", "site-packages", "node_modules", "build", "dist"})
PYTHON_SHEBANG = re.compile(rb"^#!.*\bpython[0-9.]*\b")
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Import names that differ from the project that provides them: a requirement naming the project covers the import.
KNOWN_PROVIDERS = {
    "sklearn": ("scikit-learn",), "xgboost": ("xgboost", "xgboost-cpu"), "PIL": ("pillow",), "yaml": ("pyyaml",),
    "cv2": ("opencv-python", "opencv-python-headless"), "skimage": ("scikit-image",),
}
ADDED_HEADER = "# Added by `smctl deps`: imported by the code, versions from the environment smctl ran in."
NOTHING_TO_PIN = "# Written by `smctl deps`: the code imports no third-party package yet.\n"


@dataclass(frozen=True)
class Pin:
    module: str  # the top-level module the code imports
    distribution: str  # the installed distribution that provides it
    version: str

    @property
    def line(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class DepsReport:
    requirements: Path
    files: tuple[str, ...]  # the Python files read, relative to the project
    pins: tuple[Pin, ...]  # every third-party import that maps to an installed distribution
    missing: tuple[Pin, ...]  # the pins requirements.txt does not name yet
    unmapped: tuple[str, ...]  # third-party imports no installed distribution provides
    text: str  # requirements.txt with the missing pins added, the user's lines untouched
    exists: bool = True  # whether the requirements file was there when the project was read

    @property
    def up_to_date(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "requirements": str(self.requirements),
            "files": list(self.files),
            "pins": [{"module": p.module, "distribution": p.distribution, "version": p.version} for p in self.pins],
            "missing": [p.line for p in self.missing],
            "unmapped": list(self.unmapped),
            "up_to_date": self.up_to_date,
            "requirements_exists": self.exists,
        }


def canonical(name: str) -> str:
    """PEP 503 normalised name: `Scikit_Learn` and `scikit-learn` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_sources(folder: Path) -> dict[str, str]:
    """Every Python file under `folder` (*.py and scripts with a python shebang), by POSIX relative path."""
    sources: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            if not path.is_file():
                continue
            if not filename.endswith(".py"):
                if "." in filename:
                    continue
                with path.open("rb") as f:
                    if not PYTHON_SHEBANG.match(f.readline()):
                        continue
            sources[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return sources


def imported_modules(sources: Mapping[str, str]) -> set[str]:
    """Top-level names of every absolute import. Raises: UsageError naming a file that does not parse."""
    names: set[str] = set()
    for path, text in sources.items():
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError as exc:
            raise UsageError(f"{path} line {exc.lineno}: {exc.msg}, so its imports cannot be read",
                             f"fix the syntax error in {path}, then run smctl deps again") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def local_modules(sources: Mapping[str, str]) -> set[str]:
    """Modules and packages the project itself provides: importable from next to the code."""
    names: set[str] = set()
    for path in sources:
        parts = path.split("/")
        names.add(parts[-1].removesuffix(".py"))
        names.update(parts[:-1])  # folders holding code are packages (or namespace packages)
    return names


def resolve_pins(modules: set[str]) -> tuple[list[Pin], list[str]]:
    """Map modules to installed distributions (in the environment smctl runs in) and their versions."""
    from importlib import metadata

    providers = metadata.packages_distributions()
    pins: list[Pin] = []
    unmapped: list[str] = []
    for module in sorted(modules):
        dists = sorted(set(providers.get(module, [])), key=canonical)
        if not dists:
            unmapped.append(module)
        for dist in dists:
            meta = metadata.distribution(dist)
            pins.append(Pin(module, meta.metadata["Name"] or dist, meta.version))
    return pins, unmapped


def named_requirements(text: str) -> set[str]:
    """The canonical project names a requirements file lists (options such as --extra-index-url skipped)."""
    named = set()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = REQUIREMENT_NAME.match(line)
        if line and not line.startswith("-") and match:
            named.add(canonical(match.group(1)))
    return named


def merge_requirements(existing: str | None, pins: list[Pin]) -> tuple[str, list[Pin]]:
    """Add a pin for each distribution the file does not name yet; every line the user wrote stays as it was."""
    text = existing or ""
    named = named_requirements(text)
    missing, seen = [], set()
    for pin in pins:
        key = canonical(pin.distribution)
        if key not in named and key not in seen:
            missing.append(pin)
            seen.add(key)
    if not missing:
        return text, []
    if text and not text.endswith("\n"):
        text += "\n"
    if ADDED_HEADER not in text:
        text += ("\n" if text else "") + ADDED_HEADER + "\n"
    return text + "".join(p.line + "\n" for p in missing), missing


def analyse(sources: Mapping[str, str], requirements: Path, existing: str | None) -> DepsReport:
    """Imports of `sources` -> pins -> the requirements text with what is missing added."""
    modules = imported_modules(sources) - set(sys.stdlib_module_names) - local_modules(sources) - {"__future__"}
    pins, unmapped = resolve_pins(modules)
    named = named_requirements(existing or "")
    unmapped = [m for m in unmapped if not {canonical(m), *KNOWN_PROVIDERS.get(m, ())} & named]
    text, missing = merge_requirements(existing, pins)
    if existing is None and not text:
        text = NOTHING_TO_PIN  # --write still creates the file, so a build that copies it and --check both work
    return DepsReport(requirements, tuple(sorted(sources)), tuple(pins), tuple(missing), tuple(unmapped), text,
                      exists=existing is not None)


def scan_project(folder: Path, requirements: Path | None = None) -> DepsReport:
    """Read the project's code and its requirements file (absent is fine: see DepsReport.exists).

    Raises: UsageError when the folder does not exist, or the requirements path is a folder.
    """
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", "pass the project folder: smctl deps DIR")
    req = requirements if requirements is not None else folder / "requirements.txt"
    if req.exists() and not req.is_file():
        raise UsageError(f"{req} is not a file", "pass the requirements file: smctl deps DIR -r FILE")
    existing = req.read_text(encoding="utf-8") if req.is_file() else None
    return analyse(read_sources(folder), req, existing)


def write_requirements(report: DepsReport) -> bool:
    """Write the merged requirements file atomically; False when it exists and there was nothing to add.

    Raises: UsageError when its folder does not exist; SmctlError when it cannot be written.
    """
    if report.up_to_date and report.exists:
        return False
    target = report.requirements
    if not target.parent.is_dir():
        raise UsageError(f"cannot write {target}: the folder {target.parent} does not exist",
                         f"create it first (mkdir -p {target.parent}) or pass another file: -r FILE")
    name = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".smctl-tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(report.text)
        if target.exists():
            os.chmod(name, target.stat().st_mode & 0o7777)
        else:
            os.chmod(name, 0o644)
        os.replace(name, target)
    except BaseException as exc:
        if name is not None:
            Path(name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise SmctlError(f"cannot write {target}: {exc.strerror or exc}",
                             "check the folder's permissions and free space, or pass another file: -r FILE") from None
        raise
    return True
