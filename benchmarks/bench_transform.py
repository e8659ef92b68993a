"""local-transform throughput: SingleRecord vs MultiRecord, and MultiRecord at concurrency 4 vs 1, in records/s.

    python benchmarks/bench_transform.py [--lines 200000] [--single-lines 5000] [--runs 3]

The serving image is tests/images/transform-recorder in `predict` mode (a fixed 11-8-1 MLP per CSV line in pure
Python, about 10 us per record: a stand-in for a small model) with RECORDER_WORKERS=4: four single-connection
server processes, so four requests in flight can use both cores. SingleRecord sends one HTTP request per record,
so it is measured over the first --single-lines lines and its records/s extrapolated (the rate does not depend on
the file's length). Rates count the transform phase only (the container start and /ping wait are reported apart).
Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "smctl-bench-transform:latest"
DOCKERFILE = """FROM python:3.11-slim
COPY serve /usr/local/bin/serve
RUN chmod +x /usr/local/bin/serve
LABEL smctl.bench=1
"""


def build_image(work: Path) -> None:
    """The recorder without its smctl.test label, so no test reaper removes the benchmark's containers."""
    ctx = work / "image"
    ctx.mkdir()
    shutil.copy(ROOT / "tests" / "images" / "transform-recorder" / "serve", ctx / "serve")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(ctx)], check=True, capture_output=True)


def make_csv(path: Path, lines: int) -> int:
    rng = random.Random(42)
    with path.open("w") as fh:
        for _ in range(lines):
            fh.write(",".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(11)) + "\n")
    return path.stat().st_size


def transform(work: Path, data: Path, name: str, *flags: str) -> dict:
    out = work / "out" / name
    shutil.rmtree(out, ignore_errors=True)
    (work / "model").mkdir(exist_ok=True)
    (work / "model" / "requests.jsonl").unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "smctl", "--json", "local-transform", "--image", IMAGE, "--input", str(data),
         "--output", str(out), "--model", str(work / "model"), "--split-type", "Line", "--content-type", "text/csv",
         "--assemble-with", "Line", "--env", "RECORDER_MODE=predict", "--env", "RECORDER_WORKERS=4",
         "--env", f"RECORDER_LOG={'/dev/null'}", *flags],
        cwd=work, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout)["result"]
    result["wall_seconds"] = wall
    return result


def median_run(runs: int, fn) -> dict:
    results = [fn() for _ in range(runs)]
    results.sort(key=lambda r: r["records_per_second"])
    return results[len(results) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--single-lines", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-transform-"))
    try:
        build_image(work)
        full = work / "full"
        subset = work / "subset"
        full.mkdir()
        subset.mkdir()
        size = make_csv(full / "data.csv", args.lines)
        with (full / "data.csv").open() as src, (subset / "data.csv").open("w") as dst:
            for _ in range(args.single_lines):
                dst.write(src.readline())
        single = median_run(args.runs, lambda: transform(work, subset, "single", "--strategy", "SingleRecord"))
        multi = median_run(args.runs, lambda: transform(work, full, "multi", "--strategy", "MultiRecord"))
        multi4 = median_run(args.runs, lambda: transform(work, full, "multi4", "--strategy", "MultiRecord",
                                                         "--max-concurrent", "4"))
        multi1mb = median_run(args.runs, lambda: transform(work, full, "multi1mb", "--strategy", "MultiRecord",
                                                           "--max-payload", "1"))
        multi4_1mb = median_run(args.runs, lambda: transform(work, full, "multi4-1mb", "--strategy", "MultiRecord",
                                                             "--max-payload", "1", "--max-concurrent", "4"))
        rate = {k: r["records_per_second"] for k, r in (("single", single), ("multi", multi), ("multi4", multi4),
                                                         ("multi1mb", multi1mb), ("multi4_1mb", multi4_1mb))}
        print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, input {args.lines:,} CSV lines "
              f"({size / 1e6:.1f} MB), median of {args.runs} runs\n")
        print("| run | records | requests | transform s | records/s | wall s (with container start) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        rows = ((f"SingleRecord, concurrency 1 (first {args.single_lines:,} lines)", single),
                ("MultiRecord 6 MB, concurrency 1", multi), ("MultiRecord 6 MB, concurrency 4", multi4),
                ("MultiRecord 1 MB, concurrency 1", multi1mb), ("MultiRecord 1 MB, concurrency 4", multi4_1mb))
        for label, r in rows:
            print(f"| {label} | {r['records']:,} | {r['requests']:,} | {r['seconds']:.2f} | "
                  f"{r['records_per_second']:,.0f} | {r['wall_seconds']:.2f} |")
        print(f"\nSingleRecord over all {args.lines:,} lines, extrapolated: "
              f"{args.lines / rate['single']:.0f} s at {rate['single']:,.0f} records/s")
        print(f"MultiRecord / SingleRecord: {rate['multi'] / rate['single']:.1f}x (target >= 20x)")
        print(f"MultiRecord concurrency 4 / 1 (6 MB): {rate['multi4'] / rate['multi']:.2f}x; "
              f"(1 MB): {rate['multi4_1mb'] / rate['multi1mb']:.2f}x (target >= 1.5x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
