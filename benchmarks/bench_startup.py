"""Start-up time of `smctl --help` and `smctl --version`: this tree against another git ref, side by side.

    python benchmarks/bench_startup.py [--ref bc8e636] [--runs 30] [--json]

The ref (default: bc8e636, the last commit before the package reshaping) is exported with `git archive` into a
temporary folder, so nothing in the repository or its worktrees changes. Both trees are byte-compiled first, as
pip does at install time, then each command runs `python -m smctl` with PYTHONPATH set to one tree and a neutral
working directory, the two trees alternating run by run (and which goes first alternating too), so machine load
hits both alike. Prints medians and the ratio this tree / ref; ratios matter, absolute times on a shared machine
are noise.
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


def export_ref(ref: str, dest: Path) -> Path:
    """The ref's smctl/ package, unpacked under `dest`, byte-compiled."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "smctl"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    compileall.compile_dir(str(dest / "smctl"), quiet=1)
    return dest


def run_once(tree: Path, args: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "smctl", *args], cwd=cwd, env={**env, "PYTHONPATH": str(tree)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="bc8e636", help="git ref to compare with (default: before the reshaping)")
    ap.add_argument("--runs", type=int, default=30)
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
        for name, args in COMMANDS.items():
            times[name] = {label: [] for label in trees}
            for tree in trees.values():
                run_once(tree, args, cwd, env)  # warm the page cache once per tree
            for i in range(opts.runs):
                order = list(trees.items()) if i % 2 == 0 else list(reversed(trees.items()))
                for label, tree in order:
                    times[name][label].append(run_once(tree, args, cwd, env))

    print(f"### Start-up, median of {opts.runs} alternating runs (python -m smctl, byte-compiled)\n")
    print(f"| command | {opts.ref} (ms) | this tree (ms) | this tree / {opts.ref} |")
    print("| --- | ---: | ---: | ---: |")
    for name, by_tree in times.items():
        ref_ms = statistics.median(by_tree[opts.ref]) * 1000
        ours_ms = statistics.median(by_tree["this tree"]) * 1000
        print(f"| `{name}` | {ref_ms:.0f} | {ours_ms:.0f} | {ours_ms / ref_ms:.2f} |")
    if opts.json:
        print(json.dumps(times, indent=2))


if __name__ == "__main__":
    main()
