"""Inference pipelines: what each hop costs. The same pass-through step (tests/images/pipeline-a: appends two bytes)
served as a plain endpoint, and as multi-container endpoints of 1, 2 and 3 copies of it, each invoked through smctl's
SageMaker Runtime API (what boto3 talks to) over one keep-alive connection, interleaved round by round.

    python benchmarks/bench_pipeline.py [--requests 500] [--rounds 5] [--json]

Loopback only; every container and image made here is removed. Prints a markdown table of median latencies and
the ratios to the plain endpoint; per hop = (3 containers - 1 container) / 2.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "smctl-bench-pipeline:latest"
SMCTL = [sys.executable, "-m", "smctl"]


def serve(name: str, args: list[str], cwd: Path) -> None:
    subprocess.run([*SMCTL, "local-serve", "--name", name, "--port", "0", "--detach", *args], cwd=cwd, check=True,
                   capture_output=True)


def latency(conn: http.client.HTTPConnection, name: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        body = f"r{i}".encode()
        started = time.perf_counter()
        conn.request("POST", f"/endpoints/{name}/invocations", body=body, headers={"Content-Type": "text/plain"})
        resp = conn.getresponse()
        answer = resp.read()
        times.append(time.perf_counter() - started)
        assert resp.status == 200 and answer.startswith(body), (resp.status, answer)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import tempfile

    from smctl.serving.runtime_api import start_runtime

    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(ROOT / "tests/images/pipeline-a")], check=True,
                   capture_output=True)
    cases = {"endpoint": ["--image", IMAGE], "pipeline-1": ["--container", IMAGE],
             "pipeline-2": ["--container", IMAGE] * 2, "pipeline-3": ["--container", IMAGE] * 3}
    names = {case: f"bench-{case}" for case in cases}
    runtime = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for case, extra in cases.items():
                serve(names[case], extra, Path(tmp))
            runtime = start_runtime(port=0).start()
            host, port = runtime.server_address[:2]
            samples: dict[str, list[float]] = {case: [] for case in cases}
            conn = http.client.HTTPConnection(str(host), port)
            for case in cases:
                latency(conn, names[case], 50)  # warm-up
            for _ in range(args.rounds):
                for case in cases:
                    samples[case] += latency(conn, names[case], args.requests)
            conn.close()
        finally:
            if runtime is not None:
                runtime.stop()
            subprocess.run([*SMCTL, "local-stop", *names.values()], capture_output=True)
            subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True)
    med = {case: statistics.median(s) * 1000 for case, s in samples.items()}
    base = med["endpoint"]
    hop = (med["pipeline-3"] - med["pipeline-1"]) / 2
    if args.json:
        print(json.dumps({"median_ms": med, "per_hop_ms": hop}, indent=2))
        return
    print(f"| endpoint (runtime API, {args.rounds} x {args.requests} requests) | median | ratio to endpoint |")
    print("| --- | ---: | ---: |")
    for case in cases:
        print(f"| {case} | {med[case]:.3f} ms | {med[case] / base:.2f} |")
    print(f"\nper hop (3 containers - 1) / 2: {hop:.3f} ms")


if __name__ == "__main__":
    main()
