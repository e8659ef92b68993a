"""Asynchronous inference through smctl against a direct synchronous invocation of the same container.

    python benchmarks/bench_async.py [--runs 30] [--cli-runs 5] [--json]

One endpoint (tests/images/serve-async, echo) started by `smctl local-serve --async-output s3://...`, S3 served by
moto's server on loopback. Per round trip: (a) POST /invocations straight to the container (the baseline);
(b) the runtime API's InvokeEndpointAsync (real boto3) then polling S3 (head_object every 5 ms) until the answer
is there, then reading it; (c) the same request run in-process as `smctl invoke --async` runs it (read input from
S3, invoke, write output); (d) `smctl invoke --async` as a subprocess (Python start-up included). Inputs are 1 KB,
uploaded before timing. Prints a markdown table; ratios matter, absolute times on a shared machine are noise.
Every container and image made here is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMAGE = "smctl-bench-serve-async:latest"
LABEL = {"smctl.bench": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smctl(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smctl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30, choices=range(1, 1001), metavar="1-1000")
    parser.add_argument("--cli-runs", type=int, default=5, choices=range(0, 101), metavar="0-100")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import logging

    import boto3
    import docker
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    moto.start()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(var, None)
    client = docker.from_env()
    name = f"bench-async-{uuid.uuid4().hex[:6]}"
    work = tempfile.mkdtemp(prefix="smctl-bench-async-")
    server = None
    try:
        client.images.build(path=str(ROOT / "tests" / "images" / "serve-async"), tag=IMAGE, labels=LABEL, rm=True)
        s3 = boto3.client("s3")
        bucket = "bench-async"
        s3.create_bucket(Bucket=bucket)
        res = smctl("local-serve", "--image", IMAGE, "--name", name, "--detach", "--port", "0", "--async-output",
                    f"s3://{bucket}/out", "--json", cwd=work)
        if res.returncode:
            raise SystemExit(f"local-serve failed:\n{res.stderr}")
        url = json.loads(res.stdout)["result"]["url"]
        host, cport = url.removeprefix("http://").rsplit(":", 1)
        payload = b"x" * 1024
        inputs = []
        for i in range(max(args.runs, args.cli_runs)):
            s3.put_object(Bucket=bucket, Key=f"in/{i}", Body=payload)
            inputs.append(f"s3://{bucket}/in/{i}")

        from smctl.serving import async_inference as core
        from smctl.serving.registry import find_endpoint
        from smctl.serving.runtime_api import start_runtime

        endpoint = find_endpoint(client, name)
        assert endpoint is not None and endpoint.async_config is not None
        config = endpoint.async_config
        server = start_runtime(port=0, client=client).start()
        rt = boto3.client("sagemaker-runtime", endpoint_url=server.url)

        direct: list[float] = []
        conn = http.client.HTTPConnection(host, int(cport), timeout=60)
        for _ in range(args.runs):
            t = time.perf_counter()
            conn.request("POST", "/invocations", body=payload, headers={"Content-Type": "text/plain"})
            resp = conn.getresponse()
            assert resp.read() == payload.upper()
            direct.append(time.perf_counter() - t)
        conn.close()

        via_api: list[float] = []
        for i in range(args.runs):
            t = time.perf_counter()
            answer = rt.invoke_endpoint_async(EndpointName=name, InputLocation=inputs[i], ContentType="text/plain")
            key = answer["OutputLocation"].removeprefix(f"s3://{bucket}/")
            while True:
                try:
                    s3.head_object(Bucket=bucket, Key=key)
                    break
                except s3.exceptions.ClientError:
                    time.sleep(0.005)
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == payload.upper()
            via_api.append(time.perf_counter() - t)

        in_process: list[float] = []
        for i in range(args.runs):
            t = time.perf_counter()
            request = core.AsyncRequest(endpoint=name, inference_id=core.new_inference_id(), input_location=inputs[i],
                                        content_type="text/plain")
            outcome = core.run_async(f"{url}/invocations", config, request, s3=s3)
            assert outcome.succeeded, outcome.error
            in_process.append(time.perf_counter() - t)

        cli: list[float] = []
        for i in range(args.cli_runs):
            t = time.perf_counter()
            res = smctl("invoke", name, "--async", "--input", inputs[i], "--content-type", "text/plain", cwd=work)
            assert res.returncode == 0, res.stderr
            cli.append(time.perf_counter() - t)

        base = median_ms(direct)
        rows = [("direct POST /invocations (sync, baseline)", direct),
                ("runtime API InvokeEndpointAsync + polling S3", via_api),
                ("`invoke --async` in-process (read S3, invoke, write S3)", in_process),
                ("`smctl invoke --async` subprocess", cli)]
        doc = {label: {"median_ms": round(median_ms(s), 2), "ratio": round(median_ms(s) / base, 1), "runs": len(s)}
               for label, s in rows if s}
        if args.json:
            print(json.dumps(doc, indent=2))
            return
        print("| round trip (1 KB) | runs | median | vs direct |")
        print("|---|---:|---:|---:|")
        for label, d in doc.items():
            print(f"| {label} | {d['runs']} | {d['median_ms']:.1f} ms | {d['ratio']:.1f}x |")
    finally:
        if server is not None:
            server.stop()
        for c in client.containers.list(all=True, filters={"label": f"smctl.endpoint={name}"}):
            c.remove(force=True)
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(IMAGE, force=True)
        moto.stop()


if __name__ == "__main__":
    main()
