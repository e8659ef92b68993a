"""Start-up time of `smctl --help` and `smctl --version`: this tree against another git ref, side by side.

    python benchmarks/bench_startup.py [--ref bc8e636] [--runs 30] [--train] [--json]

The ref (default: bc8e636, the last commit before the package reshaping) is exported with `git archive` into a
temporary folder, so nothing in the repository or its worktrees changes. Both trees are byte-compiled first, as
pip does at install time, then each command runs `python -m smctl` with PYTHONPATH set to one tree and a neutral
working directory, the two trees alternating run by run (and which goes first alternating too), so machine load
hits both alike. Prints medians and the ratio this tree / ref; ratios matter, absolute times on a shared machine
are noise. Two references run in the same rotation: `python -c "import typer"` (what any typer CLI pays; issue
18's target is `--help`/`--version` <= 1.5x it) and, with --train, a plain `docker run --rm` of a `train` that
exits at once, against `smctl local-train` of the same image (the engine's own work is in both).
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"smctl --help": ["--help"], "smctl --version": ["--version"]}
TYPER = "python -c 'import typer'"
TRAIN = "smctl local-train (train exits at once)"
DOCKER_RUN = "docker run --rm (the same image and train)"
IMAGE = "smctl-bench-startup:latest"
DOCKERFILE = """FROM python:3.11-slim
RUN printf '#!/bin/sh\\nexit 0\\n' > /usr/local/bin/train && chmod +x /usr/local/bin/train
LABEL smctl.bench=1
"""


def export_ref(ref: str, dest: Path) -> Path:
    """The ref's smctl/ package, unpacked under `dest`, byte-compiled."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "smctl"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    compileall.compile_dir(str(dest / "smctl"), quiet=1)
    return dest


def run_once(tree: Path, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    return timed([sys.executable, "-m", "smctl", *args], cwd, {**env, "PYTHONPATH": str(tree)})


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   timeout=120)
    return time.perf_counter() - start


def build_image(work: Path) -> None:
    (work / "image").mkdir()
    (work / "image" / "Dockerfile").write_text(DOCKERFILE)
    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(work / "image")], check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="bc8e636", help="git ref to compare with (default: before the reshaping)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--train", action="store_true", help="also local-train against docker run (needs the engine)")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    opts = ap.parse_args()

    compileall.compile_dir(str(ROOT / "smctl"), quiet=1)
    # PYTHONDONTWRITEBYTECODE only stops writing .pyc files; the ones compiled above are still read
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    times: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="smctl-bench-startup-") as tmp:
        ref_tree = export_ref(opts.ref, Path(tmp) / "ref")
        cwd = Path(tmp) / "cwd"  # not a checkout: `python -m` puts the working directory first on sys.path
        cwd.mkdir()
        trees = {"this tree": ROOT, opts.ref: ref_tree}
        typer_argv = [sys.executable, "-c", "import typer"]
        times[TYPER] = {"": []}
        for name, args in COMMANDS.items():
            times[name] = {label: [] for label in trees}
            for tree in trees.values():
                run_once(tree, args, cwd, env)  # warm the page cache once per tree
            for i in range(opts.runs):
                order = list(trees.items()) if i % 2 == 0 else list(reversed(trees.items()))
                for label, tree in order:
                    times[name][label].append(run_once(tree, args, cwd, env))
                times[TYPER][""].append(timed(typer_argv, cwd, env))
        if opts.train:
            times.update(train_side_by_side(trees, Path(tmp), env, opts.runs))

    typer_ms = statistics.median(times[TYPER][""]) * 1000
    print(f"### Start-up, median of {opts.runs} alternating runs (python -m smctl, byte-compiled)\n")
    print(f"`{TYPER}`: {typer_ms:.0f} ms (median, in the same rotation)\n")
    print(f"| command | {opts.ref} (ms) | this tree (ms) | this tree / {opts.ref} | {opts.ref} / typer "
          "| this tree / typer |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in COMMANDS:
        ref_ms = statistics.median(times[name][opts.ref]) * 1000
        ours_ms = statistics.median(times[name]["this tree"]) * 1000
        print(f"| `{name}` | {ref_ms:.0f} | {ours_ms:.0f} | {ours_ms / ref_ms:.2f} | {ref_ms / typer_ms:.2f} "
              f"| {ours_ms / typer_ms:.2f} |")
    if opts.train:
        base_ms = statistics.median(times[DOCKER_RUN][""]) * 1000
        ref_ms = statistics.median(times[TRAIN][opts.ref]) * 1000
        ours_ms = statistics.median(times[TRAIN]["this tree"]) * 1000
        print(f"\n| `{TRAIN}` | {opts.ref} | this tree | this tree / {opts.ref} |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| wall time (ms) | {ref_ms:.0f} | {ours_ms:.0f} | {ours_ms / ref_ms:.2f} |")
        print(f"| over `{DOCKER_RUN}`: {base_ms:.0f} ms | +{ref_ms - base_ms:.0f} | +{ours_ms - base_ms:.0f} | |")
    if opts.json:
        print(json.dumps(times, indent=2))


def train_side_by_side(trees: dict[str, Path], work: Path, env: dict[str, str],
                       runs: int) -> dict[str, dict[str, list[float]]]:
    """local-train of a `train` that exits at once, each tree, against `docker run --rm` of it, alternating."""
    build_image(work)
    proj = work / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "x.csv").write_text("1\n")
    times: dict[str, dict[str, list[float]]] = {TRAIN: {label: [] for label in trees}, DOCKER_RUN: {"": []}}
    docker_argv = ["docker", "run", "--rm", "-v", f"{proj / 'data'}:/opt/ml/input/data/train:ro", IMAGE, "train"]
    try:
        for i in range(runs + 1):  # the first round warms the page cache and the engine
            order = list(trees.items()) if i % 2 == 0 else list(reversed(trees.items()))
            for label, tree in order:
                argv = [sys.executable, "-m", "smctl", "local-train", "--image", IMAGE, "--job-name",
                        f"run{i}-{'new' if label == 'this tree' else 'ref'}",
                        "--channel", "train=data"]
                took = timed(argv, proj, {**env, "PYTHONPATH": str(tree)})
                if i:
                    times[TRAIN][label].append(took)
            took = timed(docker_argv, proj, env)
            if i:
                times[DOCKER_RUN][""].append(took)
    finally:
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
    return times


if __name__ == "__main__":
    main()
