"""Time smctl as users run it: installed by pip, which compiles every module to bytecode at install time.

A checkout whose .pyc files are stale (or a shell with PYTHONDONTWRITEBYTECODE=1, as on these machines) would
recompile every changed module on every `python -m smctl` and charge that to smctl's start-up.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import smctl


def compile_smctl() -> None:
    compileall.compile_dir(str(Path(smctl.__file__).parent), quiet=1)
