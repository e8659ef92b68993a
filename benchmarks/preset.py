"""A generated preset (`python` unless told), built and trained once for a benchmark: what `smctl init` scaffolds.

    with trained_preset("serve") as preset:          # init, build, local-train, unpack model.tar.gz
        ... preset.image, preset.model_tar, preset.model_dir ...

Everything lives in a temporary folder and one image tagged smctl-bench-<what>-<pid>:latest (labelled
smctl.bench=1); both are removed on the way out, and so is the deps-stage cache image when this build created it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LABEL = "smctl.bench=1"


@dataclass(frozen=True)
class Preset:
    project: Path  # the generated folder (smctl.toml, Dockerfile, program/, data/)
    image: str
    model_tar: Path  # model.tar.gz written by `smctl local-train`
    model_dir: Path  # the same, unpacked: mount it at /opt/ml/model


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, check=False, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def smctl(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "smctl", *args, cwd=cwd, check=check)


def _image_ids() -> set[str]:
    return set(run("docker", "images", "-a", "-q", "--no-trunc").stdout.split())


def _remove_new_deps_images(before: set[str]) -> None:
    """The deps stage (pip install) stays behind as an untagged cache image: remove it if this build made it."""
    for image_id in _image_ids() - before:
        info = run("docker", "image", "inspect", image_id, check=False)
        if info.returncode != 0:
            continue
        (meta,) = json.loads(info.stdout)
        cmd = " ".join((meta.get("ContainerConfig") or {}).get("Cmd") or [])
        if "/tmp/build/requirements.txt" in cmd and not meta.get("RepoTags"):
            run("docker", "rmi", image_id, check=False)  # never --force: a concurrent build may use it


@contextmanager
def trained_preset(what: str, train_csv: str | None = None, preset: str = "python") -> Iterator[Preset]:
    """init + build + local-train a preset; `train_csv` replaces its sample training data."""
    tmp = Path(tempfile.mkdtemp(prefix=f"smctl-bench-{what}-"))
    name = f"smctl-bench-{what}-{os.getpid()}"
    image = f"{name}:latest"
    before = _image_ids()
    try:
        smctl("init", name, "--preset", preset, cwd=tmp)
        project = tmp / name
        if train_csv is not None:
            train = project / "data" / "train"
            for old in train.iterdir():
                old.unlink()
            (train / "train.csv").write_text(train_csv)
        smctl("build", "--label", LABEL, cwd=project)
        result = json.loads(smctl("--json", "local-train", "--job-name", f"{name}-train", cwd=project).stdout)
        model_tar = Path(result["result"]["model_artifact"])
        model_dir = tmp / "model"
        smctl("package", "unpack", str(model_tar), str(model_dir), cwd=project)
        model_dir.chmod(0o755)
        yield Preset(project=project, image=image, model_tar=model_tar, model_dir=model_dir)
    finally:
        run("docker", "rmi", "-f", image, check=False)
        _remove_new_deps_images(before)
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def without_nginx(image: str) -> Iterator[str]:
    """The same image with nginx removed: its `serve` then runs granian's own workers on the port, which is the
    generated stack before request balancing (a kept-open connection stays on the worker that accepted it)."""
    tag = image.replace(":latest", "-no-nginx:latest")
    proc = subprocess.run(["docker", "build", "-q", "-t", tag, "--label", LABEL, "-"], check=False,
                          input=f"FROM {image}\nRUN rm /usr/sbin/nginx\n", capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"building {tag} failed:\n{proc.stderr}")
    try:
        yield tag
    finally:
        run("docker", "rmi", "-f", tag, check=False)


CPU_BOUND_INFERENCE = '''\
"""A CPU-bound model: each row costs its worker {us} microseconds of pure-Python CPU (holding the GIL); the
answer is the input rows unchanged (serving.py's default CSV handlers)."""
import time


def model_fn(model_dir):
    return None


def predict_fn(data, model):
    end = time.thread_time() + {seconds} * max(1, len(data))
    while time.thread_time() < end:
        pass
    return data
'''


def cpu_bound_model(folder: Path, us_per_row: float) -> Path:
    """A model folder whose code/inference.py (which wins over the image's) is CPU_BOUND_INFERENCE."""
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(CPU_BOUND_INFERENCE.format(us=us_per_row,
                                                                            seconds=us_per_row / 1e6))
    folder.chmod(0o755)
    return folder
