"""local-train overhead, set-up time vs channel size, and Pipe-mode throughput, each against a baseline.

    python benchmarks/bench_train.py [--runs 7] [--big-gib 2]

Prints a markdown table of ratios; absolute times on shared machines are noise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from installed import compile_smctl  # noqa: E402

IMAGE = "smctl-bench-train:latest"
DOCKERFILE = """FROM python:3.11-slim
COPY train /usr/local/bin/train
RUN chmod +x /usr/local/bin/train
LABEL smctl.bench=1
"""
TRAIN = r"""#!/usr/bin/env python3
import json, os, sys, time
hps = json.load(open("/opt/ml/input/config/hyperparameters.json"))
mode = hps.get("read", "none")
if mode == "none":
    sys.exit(0)
path = {"pipe": "/opt/ml/input/data/bench_0", "file": "/opt/ml/input/data/bench/blob.bin"}[mode]
t0 = time.perf_counter(); n = 0
with open(path, "rb", buffering=0) as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        n += len(b)
dt = time.perf_counter() - t0
os.makedirs("/opt/ml/model", exist_ok=True)
json.dump({"bytes": n, "seconds": dt}, open("/opt/ml/model/read.json", "w"))
"""


def sh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def build_image(work: Path) -> None:
    ctx = work / "image"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "train").write_text(TRAIN)
    sh("docker", "build", "-q", "-t", IMAGE, str(ctx))


def smctl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return sh(sys.executable, "-m", "smctl", *args, cwd=cwd)


def overhead(work: Path, runs: int) -> tuple[float, float]:
    """Median seconds: smctl local-train vs a plain docker run with the same mounts."""
    proj = work / "proj"
    proj.mkdir()
    (proj / "data").mkdir()
    (proj / "data" / "x.csv").write_text("1\n")
    smctl("local-train", "--image", IMAGE, "--job-name", "warm", "--channel", "train=data", cwd=proj)
    opt = proj / ".smctl" / "runs" / "warm" / "algo-1"
    for sub in ("model", "output/data"):
        (opt / sub).mkdir(parents=True, exist_ok=True)
    docker_args = ["docker", "run", "--rm", "-v", f"{opt}/input/config:/opt/ml/input/config:ro",
                   "-v", f"{opt}/input/data:/opt/ml/input/data", "-v", f"{proj}/data:/opt/ml/input/data/train:ro",
                   "-v", f"{opt}/model:/opt/ml/model", "-v", f"{opt}/output:/opt/ml/output", IMAGE, "train"]
    ours, base = [], []
    for i in range(runs):
        ours.append(timed(lambda i=i: smctl("local-train", "--image", IMAGE, "--job-name", f"ovh-{i}",
                                            "--channel", "train=data", cwd=proj)))
        base.append(timed(lambda: sh(*docker_args)))
    return statistics.median(ours), statistics.median(base)


def setup_scaling(work: Path, runs: int, big_gib: float) -> tuple[float, float]:
    """Median seconds of local-train with a big channel vs a 1 MiB channel (set-up must not copy data)."""
    proj = work / "scale"
    (proj / "small").mkdir(parents=True)
    (proj / "big").mkdir()
    (proj / "small" / "blob.bin").write_bytes(os.urandom(1 << 20))
    with open(proj / "big" / "blob.bin", "wb") as f:
        chunk = os.urandom(64 << 20)
        for _ in range(int(big_gib * 16)):
            f.write(chunk)
    small, big = [], []
    for i in range(runs):
        small.append(timed(lambda i=i: smctl("local-train", "--image", IMAGE, "--job-name", f"s-{i}",
                                             "--channel", "bench=small", cwd=proj)))
        big.append(timed(lambda i=i: smctl("local-train", "--image", IMAGE, "--job-name", f"b-{i}",
                                           "--channel", "bench=big", cwd=proj)))
    return statistics.median(big), statistics.median(small)


def drop_caches() -> bool:
    """Empty the page cache (root only) so both readers start from the disk, as on a fresh instance."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def pipe_throughput(work: Path, cold: bool, runs: int) -> list[tuple[float, float]] | None:
    """MB/s read inside the container, Pipe mode vs the same file from a read-only bind mount, alternating.

    One pair per run: the disk of a shared VM swings by 2x from minute to minute, so a single pair says little;
    the ratio of each pair (measured seconds apart) is steadier than either rate. The order flips every pair
    (ABBA): these VM disks are rate-limited with a burst budget, which favours whichever reads first.
    """
    proj = work / "scale"
    pairs = []
    for i in range(runs):
        rates = {}
        order = (("pipe", "bench=big,mode=Pipe"), ("file", "bench=big"))  # File: read-only bind (below)
        for mode, channel in (order if i % 2 == 0 else order[::-1]):
            if cold and not drop_caches():
                return None
            if not cold:  # warm the cache for both readers the same way
                with open(proj / "big" / "blob.bin", "rb") as f:
                    while f.read(16 << 20):
                        pass
            proc = subprocess.run([sys.executable, "-m", "smctl", "--json", "local-train", "--image", IMAGE,
                                   "--job-name", f"tp-{mode}-{'cold' if cold else 'hot'}-{i}", "--hp",
                                   f"read={mode}", "--channel", channel, "--keep", "--read-only-channels"],
                                  cwd=proj, check=True, capture_output=True, text=True)
            run_dir = Path(json.loads(proc.stdout)["result"]["run_dir"])
            stats = json.loads((run_dir / "algo-1" / "model" / "read.json").read_text())
            rates[mode] = stats["bytes"] / stats["seconds"] / 1e6
        pairs.append((rates["pipe"], rates["file"]))
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--big-gib", type=float, default=2.0)
    ap.add_argument("--pipe-runs", type=int, default=5, help="Pipe/bind-mount read pairs per cache state")
    a = ap.parse_args()
    compile_smctl()
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-train-", dir=Path(__file__).parent / ".work"
                                 if (Path(__file__).parent / ".work").is_dir() else None))
    try:
        build_image(work)
        ours, base = overhead(work, a.runs)
        big, small = setup_scaling(work, a.runs, a.big_gib)
        hot = pipe_throughput(work, cold=False, runs=a.pipe_runs)
        cold = pipe_throughput(work, cold=True, runs=a.pipe_runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
    print("| measure | smctl | baseline | result | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| local-train of a train that exits at once vs `docker run` (median of {a.runs}) | {ours:.2f} s | "
          f"{base:.2f} s | +{ours - base:.2f} s | <= +0.5 s |")
    print(f"| local-train with a {a.big_gib:g} GiB channel vs a 1 MiB channel (median of {a.runs}) | {big:.2f} s | "
          f"{small:.2f} s | {big / small:.2f}x | <= 1.1x |")
    for label, pairs in (("page cache cold", cold), ("page cache hot", hot)):
        if pairs is None:
            continue
        ratios = sorted(p / f for p, f in pairs)
        pipe = statistics.median(p for p, _ in pairs)
        file = statistics.median(f for _, f in pairs)
        print(f"| Pipe-mode read vs bind-mount read inside the container ({a.big_gib:g} GiB, {label}; median of "
              f"{len(pairs)} pairs) | {pipe:.0f} MB/s | {file:.0f} MB/s | {statistics.median(ratios):.2f}x "
              f"(pairs {ratios[0]:.2f}-{ratios[-1]:.2f}x) | >= 0.5x |")

if __name__ == "__main__":
    main()
