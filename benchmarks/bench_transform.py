"""local-transform throughput on the generated `python` preset: SingleRecord vs MultiRecord, and MultiRecord at
concurrency 4 vs 1, in records/s; then a CPU-bound model at the default concurrency (the worker count, from
/execution-parameters), on the generated stack and on the same image without nginx (granian's own workers on the
port, where each of the transform's kept-open connections stays on the worker that accepted it).

    python benchmarks/bench_transform.py [--lines 200000] [--single-lines 5000] [--runs 3] [--cpu-us 20]

The image is what `smctl init --preset python` scaffolds (nginx in front of granian workers, inference.py: each CSV
row's distance to the column means), built and trained once in a temporary folder (benchmarks/preset.py) on 1,000
rows of the same 11-column shape as the input, so that 200,000 lines make about 20 MB. SingleRecord sends one HTTP
request per record, so it is measured over the first --single-lines lines and its records/s extrapolated (the rate
does not depend on the file's length). Rates count the transform phase only (the container start and /ping wait are
in the wall column). Every output is checked: one answer line per input line. Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preset import Preset, cpu_bound_model, trained_preset, without_nginx  # noqa: E402

COLUMNS = 11


def make_csv(path: Path, lines: int, seed: int = 42) -> int:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for _ in range(lines):
            fh.write(",".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(COLUMNS)) + "\n")
    return path.stat().st_size


def train_csv(rows: int = 1000) -> str:
    rng = random.Random(7)
    return "".join(",".join(f"{rng.uniform(-1, 1):.6f}" for _ in range(COLUMNS)) + "\n" for _ in range(rows))


def transform(preset: Preset, data: Path, lines: int, name: str, *flags: str, image: str | None = None,
              model: Path | None = None) -> dict:
    out = preset.project / "out" / name
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "smctl", "--json", "local-transform", "--image", image or preset.image,
         "--input", str(data), "--output", str(out), "--model", str(model or preset.model_dir), "--split-type", "Line",
         "--content-type", "text/csv", "--accept", "text/csv", "--assemble-with", "Line", *flags],
        cwd=preset.project, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    with (out / "data.csv.out").open("rb") as fh:  # Line assembly adds "\n" after each (newline-ended) answer
        answered = sum(1 for line in fh if line.strip())
    if answered != lines:
        raise SystemExit(f"{name}: {answered} output lines for {lines} input lines")
    shutil.rmtree(out, ignore_errors=True)
    result = json.loads(proc.stdout)["result"]
    result["wall_seconds"] = wall
    return result


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--single-lines", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cpu-us", type=float, default=20, help="CPU per row (microseconds) of the CPU-bound model")
    args = ap.parse_args()
    t_start = time.perf_counter()
    load_before = loadavg()
    with trained_preset("transform", train_csv=train_csv()) as preset, without_nginx(preset.image) as plain:
        full = preset.project / "bench-full"
        subset = preset.project / "bench-subset"
        full.mkdir()
        subset.mkdir()
        size = make_csv(full / "data.csv", args.lines)
        with (full / "data.csv").open() as src, (subset / "data.csv").open("w") as dst:
            for _ in range(args.single_lines):
                dst.write(src.readline())
        multi, mb1 = ("--strategy", "MultiRecord"), ("--max-payload", "1")
        configs = {
            f"SingleRecord, concurrency 1 (first {args.single_lines:,} lines)":
                (subset, args.single_lines, ("--strategy", "SingleRecord", "--max-concurrent", "1")),
            "MultiRecord 6 MB, concurrency 1": (full, args.lines, (*multi, "--max-concurrent", "1")),
            "MultiRecord 6 MB, concurrency 4": (full, args.lines, (*multi, "--max-concurrent", "4")),
            "MultiRecord 1 MB, concurrency 1": (full, args.lines, (*multi, *mb1, "--max-concurrent", "1")),
            "MultiRecord 1 MB, concurrency 4": (full, args.lines, (*multi, *mb1, "--max-concurrent", "4")),
        }
        cpu_model = cpu_bound_model(preset.project / "cpu-bound-model", args.cpu_us)
        # The same image with and without nginx, on the preset's model and on a CPU-bound one
        pairs: dict[str, dict[str, Path | str]] = {}
        for model_label, model in (("the preset's model", preset.model_dir),
                                   (f"CPU-bound model ({args.cpu_us:g} µs a row)", cpu_model)):
            for stack, image in (("generated stack (nginx + granian workers)", preset.image),
                                 ("granian alone (no nginx, the stack before)", plain)):
                label = f"{model_label}, MultiRecord 1 MB, default concurrency: {stack}"
                pairs[label] = {"image": image, "model": model}
                configs[label] = (full, args.lines, (*multi, *mb1))
        runs: dict[str, list[dict]] = {label: [] for label in configs}
        for _ in range(args.runs):  # round-robin, so drift on a shared machine hits every configuration alike
            for i, (label, (data, lines, flags)) in enumerate(configs.items()):
                on = pairs.get(label, {})
                runs[label].append(transform(preset, data, lines, f"run-{i}", *flags, **on))  # type: ignore[arg-type]
    rates = [[r["records_per_second"] for r in rs] for rs in runs.values()]  # in run order
    results = {label: sorted(rs, key=lambda r: r["records_per_second"])[len(rs) // 2] for label, rs in runs.items()}
    rate = [r["records_per_second"] for r in results.values()]
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, input {args.lines:,} CSV lines of "
          f"{COLUMNS} numbers ({size / 1e6:.1f} MB), median of {args.runs} runs; load average before {load_before}, "
          f"after {loadavg()}; {time.perf_counter() - t_start:.0f} s in all\n")
    print("| run | records | requests | transform s | records/s (median) | every run, in order | wall s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, r), every in zip(results.items(), rates, strict=True):
        print(f"| {label} | {r['records']:,} | {r['requests']:,} | {r['seconds']:.2f} | "
              f"{r['records_per_second']:,.0f} | {', '.join(f'{x:,.0f}' for x in every)} | {r['wall_seconds']:.2f} |")
    print(f"\nSingleRecord over all {args.lines:,} lines, extrapolated: "
          f"{args.lines / rate[0]:.0f} s at {rate[0]:,.0f} records/s")
    print(f"MultiRecord / SingleRecord: {rate[1] / rate[0]:.1f}x (target >= 20x)")
    for what, one, four in (("6 MB", rates[1], rates[2]), ("1 MB", rates[3], rates[4])):
        paired = sorted(f / o for o, f in zip(one, four, strict=True))  # the same round, so the same machine load
        print(f"MultiRecord concurrency 4 / 1 ({what}): {statistics.median(four) / statistics.median(one):.2f}x "
              f"of the medians; per round {', '.join(f'{x:.2f}' for x in paired)} (median "
              f"{statistics.median(paired):.2f}x); best {max(four) / max(one):.2f}x (target >= 1.5x)")
    for what, (balanced, alone) in (("the preset's model", rates[-4:-2]), ("CPU-bound model", rates[-2:])):
        paired = [b / a for b, a in zip(balanced, alone, strict=True)]
        ratio = statistics.median(balanced) / statistics.median(alone)
        print(f"{what}, generated stack / granian alone: {ratio:.2f}x of the medians; per round "
              f"{', '.join(f'{x:.2f}' for x in paired)}")

if __name__ == "__main__":
    main()
