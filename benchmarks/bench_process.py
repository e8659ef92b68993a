"""local-process start-up overhead against a plain `docker run` of the same container with the same mounts.

    python benchmarks/bench_process.py [--runs 7]

Prints a markdown table; absolute times on shared machines are noise, the difference is the measure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import sh, timed  # noqa: E402
from installed import compile_smctl  # noqa: E402

IMAGE = "smctl-bench-process:latest"
DOCKERFILE = """FROM python:3.11-slim
COPY process.py /usr/local/bin/process.py
ENTRYPOINT ["python3", "/usr/local/bin/process.py"]
LABEL smctl.bench=1
"""
SCRIPT = """import os
names = os.listdir("/opt/ml/processing/input/raw")
open("/opt/ml/processing/output/out/count.txt", "w").write(str(len(names)))
"""


def overhead(work: Path, runs: int) -> tuple[float, float]:
    """Median seconds: local-process (one input, one output) vs docker run with the same mounts and config."""
    proj = work / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "x.csv").write_text("1\n")

    def ours(i: int) -> None:
        sh(sys.executable, "-m", "smctl", "local-process", "--image", IMAGE, "--job-name", f"ovh-{i}",
           "--no-credentials", "--input", "raw=data", "--output", f"out=results/{i}", cwd=proj)

    ours(0)  # warm: the image's layers and smctl's imports in the page cache
    run = proj / ".smctl" / "processing" / "ovh-0" / "algo-1"
    (run / "outputs" / "out").mkdir(parents=True, exist_ok=True)
    (run / "output").mkdir(exist_ok=True)
    docker = ["docker", "run", "--rm", "-v", f"{run}/config:/opt/ml/config:ro", "-v", f"{run}/output:/opt/ml/output",
              "-v", f"{proj}/data:/opt/ml/processing/input/raw:ro",
              "-v", f"{run}/outputs/out:/opt/ml/processing/output/out", IMAGE]
    mine, base = [], []
    for i in range(1, runs + 1):
        mine.append(timed(lambda i=i: ours(i)))
        base.append(timed(lambda: sh(*docker)))
    return statistics.median(mine), statistics.median(base)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        compile_smctl()
    here = Path(__file__).parent / ".work"
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-process-", dir=here if here.is_dir() else None))
    try:
        (work / "image").mkdir()
        (work / "image" / "Dockerfile").write_text(DOCKERFILE)
        (work / "image" / "process.py").write_text(SCRIPT)
        sh("docker", "build", "-q", "-t", IMAGE, str(work / "image"))
        mine, base = overhead(work, a.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
    print("| measure | smctl | baseline | result | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| local-process of a job that exits at once (1 input, 1 output) vs `docker run` with the same mounts "
          f"(median of {a.runs}) | {mine:.2f} s | {base:.2f} s | +{mine - base:.2f} s ({mine / base:.2f}x) | "
          "<= +0.5 s |")


if __name__ == "__main__":
    main()
