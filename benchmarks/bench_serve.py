"""local-serve on the generated presets (nginx in front of granian workers running a plain WSGI app, what `smctl
init` scaffolds): time to ready against the container's own readiness, and throughput/latency against a minimal
reference server running the same predictor in the same image, against AWS's nginx + gunicorn + flask pattern
(benchmarks/byoc) on it, and against the same image without nginx (granian's own workers on the port: the stack
before request balancing). A CPU-bound model on two kept-open connections shows what the balancing is for.

    python benchmarks/bench_serve.py [--runs 7] [--slices 10] [--seconds 0.5] [--presets python sklearn] [--json]

Throughput is measured side by side: each concurrency level runs in short slices that cycle through every target
(reference, generated stack, ...), so a change of load on the shared machine hits all of them alike.

The preset is built and trained once in a temporary folder (benchmarks/preset.py); the requests carry its
data/payload.csv (3 CSV rows, Accept text/csv) and every answer is checked. Time to ready is also measured on
tests/images/serve-ok (a stdlib server with no model to load), unless --no-serve-ok. Loopback only; every count and
duration is bounded; every image and container made here is removed. Prints markdown tables; ratios matter,
absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from installed import compile_smctl  # noqa: E402
from preset import LABEL, Preset, cpu_bound_model, trained_preset, without_nginx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVE_OK = "smctl-bench-serve:latest"

# The preset's own handlers (inference.py's model_fn/predict_fn and serving.py's default input_fn/output_fn, picked
# by the same load_handlers the generated server uses) behind the smallest keep-alive HTTP/1.1 server we can write:
# no framework, no routing, one thread per connection, one sendall per answer.
REFERENCE = r"""
import socket, sys, threading
from pathlib import Path
sys.path.insert(0, "/opt/program")
import serving
MODEL_DIR = Path("/opt/ml/model")
h = serving.load_handlers(serving.find_inference_module(MODEL_DIR))
model = h["model_fn"](str(MODEL_DIR))
def predict(body, ctype, accept):
    out = h["output_fn"](h["predict_fn"](h["input_fn"](body, ctype), model), accept)
    return out.encode() if isinstance(out, str) else out
def handle(conn):
    f = conn.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            break
        length, ctype, accept = 0, "application/json", "application/json"
        while True:
            hd = f.readline()
            if hd in (b"\r\n", b"\n", b""):
                break
            k, _, v = hd.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"content-type":
                ctype = v.strip().decode()
            elif k == b"accept":
                accept = v.strip().decode()
        body = f.read(length) if length else b""
        out = predict(body, ctype, accept) if line.startswith(b"POST") else b""
        if not isinstance(out, bytes):  # a generator (the python preset's predict_fn streams)
            out = b"".join(serving.stream(out))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                     % (accept.encode(), len(out)) + out)
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


def docker_run(image: str, port: int, model_dir: Path | None, *command: str) -> str:
    mount = ["-v", f"{model_dir}:/opt/ml/model:ro"] if model_dir else []
    return sh("docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "--label", LABEL, *mount, image,
              *command).stdout.strip()


# ---- 1. time to ready ----------------------------------------------------------------------------------------

def docker_run_to_ready(image: str, model_dir: Path | None) -> float:
    """A plain `docker run` and a tight /ping loop (5 ms): the container's own readiness."""
    port = free_port()
    t0 = time.perf_counter()
    cid = docker_run(image, port, model_dir, "serve")
    try:
        wait_ready(port)
        return time.perf_counter() - t0
    finally:
        sh("docker", "rm", "-f", cid, check=False)


def smctl_to_ready(image: str, model_dir: Path | None, work: Path, name: str) -> float:
    """`smctl local-serve --detach`: it returns once /ping answered 200."""
    model = ["--model", str(model_dir)] if model_dir else []
    t0 = time.perf_counter()
    try:
        smctl("local-serve", "--detach", "--image", image, *model, "--name", name, "--port", str(free_port()),
              "--instance-type", "local", cwd=work)
        return time.perf_counter() - t0
    finally:
        smctl("local-stop", name, cwd=work, check=False)


def python_start() -> float:
    t0 = time.perf_counter()
    sh(sys.executable, "-m", "smctl", "--version")
    return time.perf_counter() - t0


def startup(image: str, model_dir: Path | None, work: Path, runs: int) -> dict[str, float]:
    docker_run_to_ready(image, model_dir)  # warm the page cache and the engine
    ref, ours, cli = [], [], []
    for i in range(runs):  # alternate, so drift on a shared machine hits both sides alike
        ref.append(docker_run_to_ready(image, model_dir))
        ours.append(smctl_to_ready(image, model_dir, work, f"bench-ready-{i}"))
        cli.append(python_start())
    r, s, c = statistics.median(ref), statistics.median(ours), statistics.median(cli)
    return {"docker_run": r, "smctl": s, "extra": s - r, "cli_start": c, "extra_beyond_cli_start": s - r - c,
            "docker_run_all": ref, "smctl_all": ours}


# ---- 2. throughput and latency -------------------------------------------------------------------------------

def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    resp = conn.getresponse()
    return resp.status, resp.read()


def load(port: int, path: str, body: bytes, expected: bytes, concurrency: int, requests: int,
         seconds: float, fresh: bool = False) -> tuple[list[float], float, int]:
    """`requests` POSTs (or until `seconds` pass) from `concurrency` threads, one http.client connection each,
    kept alive unless the server closes it (gunicorn's sync workers do, after every answer) or `fresh` says to.
    Returns the latencies of the good answers, the elapsed time and the number of errors."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [requests]
    deadline = time.monotonic() + seconds
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
                status, answer = post(conn, path, body)
                ok = status == 200 and answer == expected
                if fresh:
                    conn.close()
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
    return latencies, time.perf_counter() - t0, errors[0]


def summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    latencies = sorted(latencies)
    if not latencies:
        raise SystemExit("no request succeeded")
    return {"rps": len(latencies) / elapsed, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "count": len(latencies), "errors": errors}


def side_by_side(targets: dict[str, tuple[int, str, bool]], body: bytes, expected: bytes, concurrency: int,
                 slices: int, seconds: float) -> dict[str, dict[str, float]]:
    """`slices` rounds of `seconds` per target, cycling through the targets (in a rotating order)."""
    got: dict[str, tuple[list[float], list[float], list[int]]] = {label: ([], [], []) for label in targets}
    labels = list(targets)
    for i in range(slices):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            port, path, fresh = targets[label]
            lat, elapsed, errors = load(port, path, body, expected, concurrency, 10**6, seconds, fresh)
            got[label][0].extend(lat)
            got[label][1].append(elapsed)
            got[label][2].append(errors)
    return {label: summary(lat, sum(el), sum(err)) for label, (lat, el, err) in got.items()}


def wait_answer(port: int, body: bytes, limit: float = 60) -> bytes:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            status, answer = post(conn, "/invocations", body)
            if status == 200:
                return answer
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.02)
    raise SystemExit(f"the server on port {port} never answered /invocations")


REF = "reference server, same predictor, docker run"
OURS = "generated stack (nginx + granian workers), docker run"
PLAIN = "granian alone, no nginx (the stack before request balancing)"
BYOC = "AWS BYOC (nginx + gunicorn sync + flask), same predictor"


def byoc_image(image: str) -> str:
    """benchmarks/byoc on top of the preset's image: AWS's nginx + gunicorn + flask pattern, same predictor."""
    tag = image.replace(":latest", "-byoc:latest")
    sh("docker", "build", "-q", "-t", tag, "--label", LABEL, "--build-arg", f"IMAGE={image}",
       str(ROOT / "benchmarks" / "byoc"))
    return tag


def throughput(preset: Preset, plain: str, slices: int, seconds: float,
               runtime_api: bool) -> dict[str, dict[int, dict[str, float]]]:
    image, model_dir, work = preset.image, preset.model_dir, preset.project
    body = (work / "data" / "payload.csv").read_bytes()
    byoc = byoc_image(image)
    ports = {label: free_port() for label in (REF, OURS, PLAIN, BYOC, "direct", "local-serve")}
    cids = [docker_run(image, ports[REF], model_dir, "python3", "-c", REFERENCE),
            docker_run(image, ports[OURS], model_dir, "serve"),
            docker_run(plain, ports[PLAIN], model_dir, "serve"),
            docker_run(byoc, ports[BYOC], model_dir, "/opt/byoc/byoc-serve"),
            docker_run(byoc, ports["direct"], model_dir, "/opt/byoc/byoc-serve", "direct")]
    runtime = None
    try:
        expected = wait_answer(ports[REF], body)
        for label in (OURS, PLAIN, BYOC, "direct"):
            wait_ready(ports[label])
            if wait_answer(ports[label], body) != expected:
                raise SystemExit(f"{label} and the reference answer differently")
        smctl("local-serve", "--detach", "--image", image, "--model", str(model_dir), "--name", "bench-load",
              "--port", str(ports["local-serve"]), "--instance-type", "local", cwd=work)
        targets = {
            REF: (ports[REF], "/invocations", False),
            "the same, a new connection per request": (ports[REF], "/invocations", True),
            OURS: (ports[OURS], "/invocations", False),
            "generated stack, smctl local-serve": (ports["local-serve"], "/invocations", False),
            PLAIN: (ports[PLAIN], "/invocations", False),
            BYOC: (ports[BYOC], "/invocations", False),
            "gunicorn sync + flask without nginx (the stack before granian)": (ports["direct"], "/invocations",
                                                                              False),
        }
        if runtime_api:
            runtime_port = free_port()
            runtime = subprocess.Popen([sys.executable, "-m", "smctl", "runtime", "--port", str(runtime_port)],
                                       cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(runtime_port)
            targets["same, through smctl's runtime API"] = (runtime_port, "/endpoints/bench-load/invocations",
                                                             False)
        for p, path, fresh in targets.values():  # warm-up
            load(p, path, body, expected, 8, 200, 2, fresh)
        by_c = {c: side_by_side(targets, body, expected, c, slices, seconds) for c in (1, 8)}
        return {label: {c: by_c[c][label] for c in by_c} for label in targets}
    finally:
        if runtime is not None:
            runtime.terminate()
            runtime.wait(timeout=30)
        smctl("local-stop", "bench-load", cwd=work, check=False)
        sh("docker", "rm", "-f", *cids, check=False)
        sh("docker", "rmi", "-f", byoc, check=False)


def cpu_bound(preset: Preset, plain: str, slices: int, seconds: float, us: float) -> dict[str, dict[str, float]]:
    """Two kept-open connections (as batch transform keeps MaxConcurrentTransforms = 2 here) to a model that
    spends `us` microseconds of pure-Python CPU per row (3 rows a request): the reference (one process, threads)
    runs on one core; the workers can use two, if each request finds an idle one. Each slice opens its two
    connections anew."""
    model = cpu_bound_model(preset.project / "cpu-bound-model", us)
    body = (preset.project / "data" / "payload.csv").read_bytes()
    ports = {label: free_port() for label in (REF, OURS, PLAIN)}
    cids = [docker_run(preset.image, ports[REF], model, "python3", "-c", REFERENCE),
            docker_run(preset.image, ports[OURS], model, "serve"),
            docker_run(plain, ports[PLAIN], model, "serve")]
    try:
        expected = wait_answer(ports[REF], body)
        for label in (OURS, PLAIN):
            wait_ready(ports[label])
            if wait_answer(ports[label], body) != expected:
                raise SystemExit(f"{label} and the reference answer differently (CPU-bound model)")
        targets = {label: (port, "/invocations", False) for label, port in ports.items()}
        for p, path, fresh in targets.values():  # warm-up
            load(p, path, body, expected, 2, 50, 2, fresh)
        return side_by_side(targets, body, expected, 2, slices, seconds)
    finally:
        sh("docker", "rm", "-f", *cids, check=False)


def cold_start(image: str, plain: str, model_dir: Path, runs: int) -> dict[str, list[float]]:
    """Time to /ping 200 with a plain `docker run`, the image and its nginx-less twin alternating."""
    docker_run_to_ready(image, model_dir)
    docker_run_to_ready(plain, model_dir)
    got: dict[str, list[float]] = {OURS: [], PLAIN: []}
    for _ in range(runs):
        got[OURS].append(docker_run_to_ready(image, model_dir))
        got[PLAIN].append(docker_run_to_ready(plain, model_dir))
    return got


def print_cpu_bound(name: str, tp: dict[str, dict[str, float]], us: float, slices: int, seconds: float) -> None:
    ref = tp[REF]["rps"]
    print(f"### CPU-bound model, two kept-open connections, the {name} image ({us:g} µs of pure-Python CPU per "
          f"row, 3 rows a request; {slices} slices of {seconds:g} s per target, interleaved, each slice on new "
          f"connections)\n")
    print("| target | req/s | p50 ms | p99 ms | req/s vs reference (one process) | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, r in tp.items():
        print(f"| {label} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['rps'] / ref:.2f} | "
              f"{r['errors']:.0f} |")
    print()


def print_cold_start(name: str, got: dict[str, list[float]]) -> None:
    ours, plain = statistics.median(got[OURS]), statistics.median(got[PLAIN])
    print(f"### Time to /ping 200, the {name} preset, docker run (median of {len(got[OURS])}, alternating)\n")
    print("| image | seconds | every run |\n| --- | ---: | --- |")
    for label, runs in got.items():
        print(f"| {label} | {statistics.median(runs):.3f} | {', '.join(f'{x:.3f}' for x in runs)} |")
    print(f"\nnginx in front: {ours / plain:.2f}x the time to ready of granian alone (target <= 1.10x)\n")


def print_startup(title: str, up: dict[str, float], runs: int) -> None:
    print(f"### Time to ready, {title} (median of {runs})\n")
    print("| | seconds |\n| --- | ---: |")
    print(f"| `docker run` + tight /ping loop (the container's own readiness) | {up['docker_run']:.3f} |")
    print(f"| `smctl local-serve --detach` until it returns | {up['smctl']:.3f} |")
    print(f"| extra | {up['extra']:.3f} (x{up['smctl'] / up['docker_run']:.2f}) |")
    print(f"| of which Python start + imports (`python -m smctl --version`) | {up['cli_start']:.3f} |")
    print(f"| extra beyond Python start | {up['extra_beyond_cli_start']:.3f} |\n")


def print_throughput(name: str, tp: dict[str, dict[int, dict[str, float]]], body_size: int, slices: int,
                     seconds: float) -> None:
    ref = tp[REF]
    print(f"### Throughput and latency, the {name} preset ({slices} slices of {seconds:g} s per target and "
          f"concurrency, interleaved; {body_size}-byte CSV payload, Accept text/csv)\n")
    print("| target | conc. | req/s | p50 ms | p99 ms | req/s vs reference | p99 vs reference | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, by_c in tp.items():
        for c, r in by_c.items():
            print(f"| {label} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                  f"{r['rps'] / ref[c]['rps']:.2f} | {r['p99_ms'] / ref[c]['p99_ms']:.2f} | {r['errors']:.0f} |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="time-to-ready runs per image")
    ap.add_argument("--slices", type=int, default=10, help="interleaved slices per target and concurrency level")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one slice")
    ap.add_argument("--presets", nargs="+", default=["python", "sklearn"], choices=["python", "sklearn"])
    ap.add_argument("--no-serve-ok", action="store_true", help="time to ready on the presets only")
    ap.add_argument("--no-runtime-api", action="store_true", help="skip the row through `smctl runtime`")
    ap.add_argument("--cpu-us", type=float, default=700, help="CPU per row (microseconds) of the CPU-bound model")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    args = ap.parse_args()
    compile_smctl()
    t_start = time.perf_counter()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    ups: dict[str, dict[str, float]] = {}
    tps: dict[str, tuple[dict[str, dict[int, dict[str, float]]], int]] = {}
    cpus: dict[str, dict[str, dict[str, float]]] = {}
    colds: dict[str, dict[str, list[float]]] = {}
    try:
        for name in args.presets:
            with trained_preset("serve", preset=name) as preset, without_nginx(preset.image) as plain:
                ups[f"the {name} preset (nginx + granian workers, model mounted)"] = startup(
                    preset.image, preset.model_dir, preset.project, args.runs)
                if not args.no_serve_ok and not any("serve-ok" in k for k in ups):
                    sh("docker", "build", "-q", "-t", SERVE_OK, "--label", LABEL,
                       str(ROOT / "tests/images/serve-ok"))
                    ups["tests/images/serve-ok (stdlib server, no model)"] = startup(
                        SERVE_OK, None, preset.project, args.runs)
                colds[name] = cold_start(preset.image, plain, preset.model_dir, args.runs)
                tp = throughput(preset, plain, args.slices, args.seconds, not args.no_runtime_api)
                tps[name] = (tp, (preset.project / "data" / "payload.csv").stat().st_size)
                if name == args.presets[0]:
                    cpus[name] = cpu_bound(preset, plain, args.slices, args.seconds, args.cpu_us)
    finally:
        if not args.no_serve_ok:
            sh("docker", "rmi", "-f", SERVE_OK, check=False)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}; "
          f"{time.perf_counter() - t_start:.0f} s in all\n")
    for title, up in ups.items():
        print_startup(title, up, args.runs)
    for name, got in colds.items():
        print_cold_start(name, got)
    for name, (tp, body_size) in tps.items():
        print_throughput(name, tp, body_size, args.slices, args.seconds)
    for name, cpu in cpus.items():
        print_cpu_bound(name, cpu, args.cpu_us, args.slices, args.seconds)
    if args.json:
        print(json.dumps({"startup": ups, "cold_start": colds, "throughput": tps, "cpu_bound": cpus}, indent=2))


if __name__ == "__main__":
    main()
