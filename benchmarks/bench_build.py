"""smctl build per preset: first build, no-change rebuild, rebuild after editing only the inference module;
image size against the base image. Each smctl build runs beside `docker build` of the same folder (the classic
builder the docker CLI uses here) in the same run.

    python benchmarks/bench_build.py [--presets python,sklearn]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)


def smctl_build(project: Path, tag: str, *extra: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = run(sys.executable, "-m", "smctl", "--json", "build", "-t", tag, *extra, cwd=project)
    return time.perf_counter() - t0, json.loads(proc.stdout)["result"]


def docker_build(project: Path, tag: str, *extra: str) -> float:
    t0 = time.perf_counter()
    run("docker", "build", "-q", "-t", tag, *extra, ".", cwd=project)
    return time.perf_counter() - t0


def image_size(ref: str) -> int:
    return int(run("docker", "image", "inspect", "-f", "{{.Size}}", ref, cwd=Path.cwd()).stdout)


def bench_preset(preset: str, work: Path) -> list[str]:
    name = f"bench-build-{preset}"
    run(sys.executable, "-m", "smctl", "init", name, "--preset", preset, cwd=work)
    project = work / name
    ours, theirs = f"{name}:smctl", f"{name}:docker"
    inference = project / "program" / "inference.py"
    rows = []
    try:
        first, r_first = smctl_build(project, ours, "--no-cache")
        base_first = docker_build(project, theirs, "--no-cache")
        again, r_again = smctl_build(project, ours)
        base_again = docker_build(project, theirs)
        inference.write_text(inference.read_text() + "\n# edited\n")
        edit, r_edit = smctl_build(project, ours)
        inference.write_text(inference.read_text() + "# edited again\n")
        base_edit = docker_build(project, theirs)
        for label, t, b, r in (("first build (--no-cache)", first, base_first, r_first),
                               ("no-change rebuild", again, base_again, r_again),
                               ("rebuild after editing inference.py", edit, base_edit, r_edit)):
            rows.append(f"| {preset} | {label} | {t:.1f} s | {b:.1f} s | {t / b:.2f}x | "
                        f"{r['cache_hits']}/{r['steps']} |")
        size, base = image_size(ours), image_size("python:3.11-slim")
        rows.append(f"| {preset} | image size vs python:3.11-slim | {size / 1e6:.0f} MB | {base / 1e6:.0f} MB | "
                    f"{size / base:.2f}x | |")
    finally:
        subprocess.run(["docker", "rmi", "-f", ours, theirs], capture_output=True, check=False)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="python,sklearn")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-build-"))
    rows = []
    try:
        for preset in a.presets.split(","):
            rows += bench_preset(preset, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| preset | build | smctl build | docker build | ratio | smctl cache hits / steps |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
