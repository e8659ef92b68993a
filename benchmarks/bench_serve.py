"""local-serve: time to ready against the container's own readiness, and request throughput/latency against a
minimal reference server with the same predictor in the same image.

    python benchmarks/bench_serve.py [--runs 7] [--requests 3000] [--seconds 10] [--image IMAGE]

The image (default: tests/images/serve-ok, built here) must answer POST /invocations with the body upper-cased.
Loopback only; every count and duration is bounded. Prints markdown tables; ratios matter, absolute times on a
shared machine are noise.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "smctl-bench-serve:latest"
BODY = json.dumps({"instances": [[0.1 * i for i in range(16)]]}).encode()

# The same predictor as serve-ok (upper-case the body) behind the smallest keep-alive HTTP/1.1 server we can
# write: no routing, no header objects, one thread per connection.
REFERENCE = r"""
import socket, threading
def handle(conn):
    f = conn.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            break
        length = 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            if h[:15].lower() == b"content-length:":
                length = int(h[15:])
        body = f.read(length).upper() if length else b""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body)
    conn.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(128)
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""


def sh(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True)


def smctl(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return sh(sys.executable, "-m", "smctl", *args, cwd=cwd, check=check)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_ready(port: int, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not ping(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing answered /ping on port {port} within {limit:g} s")
        time.sleep(0.005)


# ---- 1. time to ready ----------------------------------------------------------------------------------------

def docker_run_to_ready(image: str) -> float:
    """A plain `docker run` and a tight /ping loop (5 ms): the container's own readiness."""
    port = free_port()
    t0 = time.perf_counter()
    cid = sh("docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "--label", "smctl.bench=1", image,
             "serve").stdout.strip()
    wait_ready(port)
    seconds = time.perf_counter() - t0
    sh("docker", "rm", "-f", cid)
    return seconds


def smctl_to_ready(image: str, work: Path, name: str) -> float:
    """`smctl local-serve --detach`: it returns once /ping answered 200."""
    t0 = time.perf_counter()
    smctl("local-serve", "--detach", "--image", image, "--name", name, "--port", str(free_port()),
          "--instance-type", "local", cwd=work)
    seconds = time.perf_counter() - t0
    smctl("local-stop", name, cwd=work)
    return seconds


def python_start() -> float:
    t0 = time.perf_counter()
    sh(sys.executable, "-m", "smctl", "--version")
    return time.perf_counter() - t0


def startup(image: str, work: Path, runs: int) -> dict[str, float]:
    docker_run_to_ready(image)  # warm the page cache and the engine
    ref, ours, cli = [], [], []
    for i in range(runs):  # alternate, so drift on a shared machine hits both sides alike
        ref.append(docker_run_to_ready(image))
        ours.append(smctl_to_ready(image, work, f"bench-{i}"))
        cli.append(python_start())
    r, s, c = statistics.median(ref), statistics.median(ours), statistics.median(cli)
    return {"docker_run": r, "smctl": s, "extra": s - r, "cli_start": c, "extra_beyond_cli_start": s - r - c}


# ---- 2. throughput and latency -------------------------------------------------------------------------------

def load(port: int, path: str, concurrency: int, requests: int, seconds: float) -> dict[str, float]:
    """`requests` POSTs (or until `seconds` pass) from `concurrency` threads on keep-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    errors = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=BODY, headers=headers)
                resp = conn.getresponse()
                ok = resp.status == 200 and resp.read() == BODY.upper()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            if ok:
                mine.append(time.perf_counter() - t0)
            else:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    if not latencies:
        raise SystemExit(f"no request to port {port}{path} succeeded")
    return {"rps": len(latencies) / elapsed, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "count": len(latencies), "errors": errors[0]}


def throughput(image: str, work: Path, requests: int, seconds: float) -> dict[str, dict[int, dict[str, float]]]:
    ref_port, plain_port = free_port(), free_port()
    cids = [sh("docker", "run", "-d", "-p", f"127.0.0.1:{ref_port}:8080", "--label", "smctl.bench=1", image,
               "python3", "-c", REFERENCE).stdout.strip(),
            sh("docker", "run", "-d", "-p", f"127.0.0.1:{plain_port}:8080", "--label", "smctl.bench=1", image,
               "serve").stdout.strip()]
    runtime = None
    try:
        wait_for_port(ref_port)
        wait_ready(plain_port)
        port = free_port()
        smctl("local-serve", "--detach", "--image", image, "--name", "bench-load", "--port", str(port),
              "--instance-type", "local", cwd=work)
        runtime_port = free_port()
        runtime = subprocess.Popen([sys.executable, "-m", "smctl", "runtime", "--port", str(runtime_port)],
                                   cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(runtime_port)
        targets = {
            "reference server, docker run": (ref_port, "/invocations"),
            "serving image, docker run": (plain_port, "/invocations"),
            "serving image, smctl local-serve": (port, "/invocations"),
            "same, through smctl's runtime API": (runtime_port, "/endpoints/bench-load/invocations"),
        }
        results: dict[str, dict[int, dict[str, float]]] = {}
        for label, (p, path) in targets.items():
            load(p, path, 1, 100, seconds)  # warm-up
            results[label] = {c: load(p, path, c, requests, seconds) for c in (1, 8)}
        return results
    finally:
        if runtime is not None:
            runtime.terminate()
            runtime.wait(timeout=30)
        smctl("local-stop", "bench-load", cwd=work, check=False)
        sh("docker", "rm", "-f", *cids, check=False)


def wait_for_port(port: int, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("POST", "/invocations", body=b"x")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
    raise SystemExit(f"the reference server on port {port} never answered")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--requests", type=int, default=3000, help="per concurrency level and target")
    ap.add_argument("--seconds", type=float, default=10, help="time limit per concurrency level and target")
    ap.add_argument("--image", default=None, help="serving image (default: build tests/images/serve-ok)")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    args = ap.parse_args()
    image = args.image or IMAGE
    if args.image is None:
        sh("docker", "build", "-q", "-t", IMAGE, "--label", "smctl.bench=1", str(ROOT / "tests/images/serve-ok"))
    with tempfile.TemporaryDirectory(prefix="smctl-bench-serve-") as tmp:
        work = Path(tmp)
        up = startup(image, work, args.runs)
        tp = throughput(image, work, args.requests, args.seconds)
    print(f"### Time to ready (median of {args.runs})\n")
    print("| | seconds |\n|---|---|")
    print(f"| `docker run` + tight /ping loop (the container's own readiness) | {up['docker_run']:.3f} |")
    print(f"| `smctl local-serve --detach` until it returns | {up['smctl']:.3f} |")
    print(f"| extra | {up['extra']:.3f} (x{up['smctl'] / up['docker_run']:.2f}) |")
    print(f"| of which Python start + imports (`python -m smctl --version`) | {up['cli_start']:.3f} |")
    print(f"| extra beyond Python start | {up['extra_beyond_cli_start']:.3f} |")
    ref = tp["reference server, docker run"]
    print(f"\n### Throughput and latency ({args.requests} requests or {args.seconds:g} s per cell, "
          f"{len(BODY)}-byte JSON, keep-alive)\n")
    print("| target | conc. | req/s | p50 ms | p99 ms | req/s vs reference | p50 vs reference |")
    print("|---|---|---|---|---|---|---|")
    for label, by_c in tp.items():
        for c, r in by_c.items():
            print(f"| {label} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                  f"{r['rps'] / ref[c]['rps']:.2f} | {r['p50_ms'] / ref[c]['p50_ms']:.2f} |")
    if args.json:
        print(json.dumps({"startup": up, "throughput": tp}, indent=2))


if __name__ == "__main__":
    main()
