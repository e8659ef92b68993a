"""Benchmark `smctl package pack/unpack` against GNU tar and the SageMaker SDK's tarfile (gzip level 9).

    python benchmarks/bench_package.py                 # the 1 GiB run whose table is in BENCHMARKS.md
    python benchmarks/bench_package.py --size-mib 64   # a quick run

It builds a model folder under benchmarks/.work/ (88% incompressible weights in a few files, 12% JSON/text in many
files), warms the page cache, then times every tool in the same run on the same folder, and removes
benchmarks/.work/ at the end (unless --keep). Every command runs as a child process; peak RSS comes from wait4().
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "package"
MIB = 1 << 20
SDK_PACK = (  # what sagemaker.utils.create_tar_file does: tarfile, gzip level 9, one add() per top-level entry
    "import os, sys, tarfile\n"
    "src, out = sys.argv[1], sys.argv[2]\n"
    "with tarfile.open(out, 'w:gz', compresslevel=9) as t:\n"
    "    for name in sorted(os.listdir(src)):\n"
    "        t.add(os.path.join(src, name), arcname=name)\n"
)
TARGETS = {"pack_speedup": 3.0, "size_ratio": 1.15, "unpack_speedup": 1.5, "peak_rss_mib": 200}


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Run a child to completion; wall time, and its own peak RSS from wait4 (ru_maxrss, KiB on Linux)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return Run(elapsed, usage.ru_maxrss / 1024)


def build_model(folder: Path, size_mib: int) -> tuple[int, int]:
    """~88% random weights in 4 files, ~12% JSON lines in many ~256 KiB files; returns (files, bytes)."""
    folder.mkdir(parents=True)
    weights = size_mib * MIB * 88 // 100
    for i in range(4):
        with open(folder / f"model-{i:05d}-of-00004.safetensors", "wb") as f:
            left = weights // 4
            while left:
                n = min(left, 16 * MIB)
                f.write(os.urandom(n))
                left -= n
    rng = random.Random(42)
    text_left = size_mib * MIB - weights
    (folder / "tokenizer").mkdir()
    (folder / "eval").mkdir()
    files = 4
    vocab = [f"tok{rng.randrange(50_000)}" for _ in range(5000)]
    while text_left > 0:
        lines = []
        size = 0
        while size < min(256 * 1024, text_left):
            line = json.dumps({"id": rng.randrange(10**9), "token": rng.choice(vocab),
                               "logits": [round(rng.random(), 5) for _ in range(6)],
                               "label": rng.choice(("cat", "dog", "bird", "fish"))}) + "\n"
            lines.append(line)
            size += len(line)
        sub = "tokenizer" if files % 2 else "eval"
        (folder / sub / f"part-{files:05d}.jsonl").write_text("".join(lines))
        text_left -= size
        files += 1
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4096, "layers": 32}, indent=2))
    return files + 1, sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def warm(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                while f.read(16 * MIB):
                    pass


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    subprocess.run(["sync"], check=False)
    return path


def best(runs: list[Run]) -> Run:
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_rss_mib for r in runs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="size of the model folder (default 1024)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the fast commands (median kept)")
    ap.add_argument("--keep", action="store_true", help="keep benchmarks/.work/package afterwards")
    args = ap.parse_args(argv)

    smctl = [sys.executable, "-m", "smctl"]
    if WORK.exists():
        shutil.rmtree(WORK)
    model = WORK / "model"
    try:
        t0 = time.perf_counter()
        n_files, n_bytes = build_model(model, args.size_mib)
        warm(model)
        print(f"model folder: {n_files} files, {n_bytes / MIB:.0f} MiB (built in {time.perf_counter() - t0:.0f} s); "
              f"{os.cpu_count()} CPUs", file=sys.stderr)

        ours, gnu, sdk, pigz = (WORK / n for n in ("smctl.tar.gz", "gnu.tar.gz", "sdk.tar.gz", "pigz.tar.gz"))
        pack = best([run([*smctl, "package", "pack", str(model), "-o", str(fresh(ours))])
                     for _ in range(args.repeat)])
        tar_pack = run(["tar", "-czf", str(fresh(gnu)), "-C", str(model), "."])
        sdk_pack = run([sys.executable, "-c", SDK_PACK, str(model), str(fresh(sdk))])
        rows = [("smctl package pack (level 1)", pack, ours.stat().st_size),
                ("GNU tar -czf (gzip -6)", tar_pack, gnu.stat().st_size),
                ("SageMaker SDK: tarfile gzip level 9", sdk_pack, sdk.stat().st_size)]
        if shutil.which("pigz"):
            rows.append(("tar -I pigz (for reference)",
                         run(["tar", "-I", "pigz", "-cf", str(fresh(pigz)), "-C", str(model), "."]),
                         pigz.stat().st_size))

        out_ours, out_tar = WORK / "out-smctl", WORK / "out-tar"
        unpack = best([run([*smctl, "package", "unpack", str(ours), str(fresh(out_ours))])
                       for _ in range(args.repeat)])
        tar_runs = []
        for _ in range(args.repeat):
            fresh(out_tar).mkdir()
            tar_runs.append(run(["tar", "-xzf", str(ours), "-C", str(out_tar)]))
        tar_unpack = best(tar_runs)
        identical = subprocess.run(["diff", "-r", str(model), str(out_ours)], capture_output=True).returncode == 0
    finally:
        if not args.keep:
            shutil.rmtree(WORK.parent, ignore_errors=True)

    tar_size = rows[1][2]
    figures = {
        "pack_speedup": tar_pack.seconds / pack.seconds,
        "size_ratio": rows[0][2] / tar_size,
        "unpack_speedup": tar_unpack.seconds / unpack.seconds,
        "peak_rss_mib": max(pack.peak_rss_mib, unpack.peak_rss_mib),
    }
    print(f"Model folder: {n_bytes / MIB:.0f} MiB in {n_files} files (88% random weights in 4 files, 12% JSON "
          f"lines); {os.cpu_count()} CPUs; page cache warm; median of {args.repeat} runs for smctl and tar -xzf.\n")
    print("| pack | seconds | vs tar -czf | archive | size vs tar -czf | peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r, size in rows:
        print(f"| {name} | {r.seconds:.2f} | {tar_pack.seconds / r.seconds:.1f}x | {size / MIB:.1f} MiB | "
              f"{size / tar_size:.3f} | {r.peak_rss_mib:.0f} MiB |")
    print("\n| unpack (the smctl archive) | seconds | vs tar -xzf | peak RSS |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in (("smctl package unpack", unpack), ("GNU tar -xzf", tar_unpack)):
        print(f"| {name} | {r.seconds:.2f} | {tar_unpack.seconds / r.seconds:.1f}x | {r.peak_rss_mib:.0f} MiB |")
    print("\n| target | wanted | measured | |")
    print("| --- | --- | --- | --- |")
    checks = [("pack speed vs tar -czf", f">= {TARGETS['pack_speedup']}x", f"{figures['pack_speedup']:.1f}x",
               figures["pack_speedup"] >= TARGETS["pack_speedup"]),
              ("archive size vs tar -czf", f"<= {TARGETS['size_ratio']:.2f}", f"{figures['size_ratio']:.3f}",
               figures["size_ratio"] <= TARGETS["size_ratio"]),
              ("unpack speed vs tar -xzf", f">= {TARGETS['unpack_speedup']}x", f"{figures['unpack_speedup']:.1f}x",
               figures["unpack_speedup"] >= TARGETS["unpack_speedup"]),
              ("peak RSS of smctl", f"< {TARGETS['peak_rss_mib']} MiB", f"{figures['peak_rss_mib']:.0f} MiB",
               figures["peak_rss_mib"] < TARGETS["peak_rss_mib"]),
              ("unpacked tree equals the source (diff -r)", "identical", "identical" if identical else "DIFFERENT",
               identical)]
    for name, wanted, got, ok in checks:
        print(f"| {name} | {wanted} | {got} | {'met' if ok else 'MISSED'} |")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
