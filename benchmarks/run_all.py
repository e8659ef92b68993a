"""Run every benchmark in turn (`make bench`); each prints its own markdown table of ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = ["bench_startup.py", "bench_package.py", "bench_build.py", "bench_train.py", "bench_serve.py",
          "bench_transform.py", "bench_credentials.py", "bench_cloud.py", "bench_streaming.py",
          "bench_async.py", "bench_pipeline.py", "bench_multimodel.py", "bench_process.py"]


def main() -> int:
    (HERE / ".work").mkdir(exist_ok=True)
    failed = []
    for suite in SUITES:
        if not (HERE / suite).exists():
            continue
        print(f"\n## {suite}\n", flush=True)
        if subprocess.run([sys.executable, str(HERE / suite)], check=False).returncode != 0:
            failed.append(suite)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
