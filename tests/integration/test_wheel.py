"""The wheel is what users install: it must carry templates/ and run without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_wheel_installs_into_a_fresh_venv_and_reads_templates_from_itself(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True)
    wheels = list(dist.glob("smctl-*.whl"))
    assert len(wheels) == 1
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], check=True, capture_output=True,
                   text=True, timeout=600)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    where = subprocess.run([str(py), "-c", "import smctl.project.render as r; print(r.templates_dir())"], cwd=outside,
                           env=clean_env, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    assert (Path(where) / "common").is_dir()
    proc = subprocess.run([str(env_dir / "bin" / "smctl"), "init", "demo", "--preset", "python"], cwd=outside,
                          env=clean_env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    dockerfile = (outside / "demo" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert (outside / "demo" / "smctl.toml").exists()
    version = subprocess.run([str(env_dir / "bin" / "smctl"), "--version"], capture_output=True, text=True,
                             env=clean_env, check=True).stdout
    assert version.startswith("smctl ")
