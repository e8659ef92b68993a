"""Response streaming: time to the first streamed byte, and total time, straight to the container against the same
stream through smctl (the runtime API read by boto3's invoke_endpoint_with_response_stream, and `smctl invoke
--stream`).

    python benchmarks/bench_streaming.py [--runs 15] [--tokens 10] [--json]

The container is tests/images/serve-stream (stdlib http.server, chunked transfer): `tokens:N` answers N chunks with
SERVE_TOKEN_DELAY seconds (0.05) between them, so the first byte leaves at once and the last after (N-1) x 50 ms.
Targets alternate run by run (direct, runtime API, CLI, direct, ...) so drift on the shared machine hits all of them;
medians. Loopback only; every image, container and process made here is removed. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "smctl-bench-serve-stream:latest"
NAME = f"bench-stream-{os.getpid()}"
SMCTL = [sys.executable, "-m", "smctl"]


def direct(url: str, body: bytes) -> tuple[float, float, bytes]:
    """(first byte, total, body) over a fresh http.client connection to the container's /invocations."""
    parsed = urllib.parse.urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/plain"})
    resp = conn.getresponse()
    first, parts = None, []
    while piece := resp.read1(65536):
        first = first or time.perf_counter()
        parts.append(piece)
    total = time.perf_counter()
    conn.close()
    return first - started, total - started, b"".join(parts)


def through_boto3(client, body: bytes) -> tuple[float, float, bytes]:
    started = time.perf_counter()
    resp = client.invoke_endpoint_with_response_stream(EndpointName=NAME, Body=body, ContentType="text/plain")
    first, parts = None, []
    for event in resp["Body"]:
        first = first or time.perf_counter()
        parts.append(event["PayloadPart"]["Bytes"])
    return first - started, time.perf_counter() - started, b"".join(parts)


def through_boto3_whole(client, body: bytes) -> tuple[float, float, bytes]:
    """InvokeEndpoint (not streamed) through the same runtime API: its first byte is the whole answer."""
    started = time.perf_counter()
    data = client.invoke_endpoint(EndpointName=NAME, Body=body, ContentType="text/plain")["Body"].read()
    total = time.perf_counter() - started
    return total, total, data


def through_cli(body: bytes) -> tuple[float, float, bytes, float]:
    """(first stdout byte, exit, body, the first byte the CLI reports itself) from the process's start."""
    started = time.perf_counter()
    proc = subprocess.Popen([*SMCTL, "invoke", NAME, "--local", "--stream", "--data", body.decode()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, bufsize=0)
    assert proc.stdout is not None
    head = proc.stdout.read(1)
    first = time.perf_counter()
    rest, err = proc.communicate(timeout=60)
    total = time.perf_counter()
    reported = float(err.decode().split("first byte in ")[1].split(" ms")[0]) / 1000
    return first - started, total - started, head + rest, reported


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import boto3

    subprocess.run(["docker", "build", "-q", "-t", IMAGE, "--label", "smctl.bench=1",
                    str(ROOT / "tests" / "images" / "serve-stream")], check=True, capture_output=True)
    runtime = None
    try:
        out = subprocess.run([*SMCTL, "local-serve", "--image", IMAGE, "--name", NAME, "--detach", "--port", "0"],
                             check=True, capture_output=True, text=True, cwd=ROOT).stdout
        url = out.strip().splitlines()[0]
        runtime = subprocess.Popen([*SMCTL, "runtime", "--port", "0"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert runtime.stderr is not None
        line = runtime.stderr.readline()
        runtime_url = line.split("ready at ")[1].split(";")[0]
        client = boto3.client("sagemaker-runtime", endpoint_url=runtime_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        body = f"tokens:{args.tokens}".encode()
        expected = b"".join(f"token-{i} ".encode() for i in range(args.tokens))
        rows: dict[str, list[tuple[float, float]]] = {"direct": [], "boto3": [], "boto3_whole": [], "cli": [],
                                                      "cli_reported": []}
        for run in range(args.runs + 1):  # the first round warms every path up and is dropped
            a, b, got = direct(url, body)
            assert got == expected
            c, d, got = through_boto3(client, body)
            assert got == expected
            g, h, got = through_boto3_whole(client, body)
            assert got == expected
            e, f, got, reported = through_cli(body)
            assert got == expected, got
            if run:
                rows["direct"].append((a, b))
                rows["boto3"].append((c, d))
                rows["boto3_whole"].append((g, h))
                rows["cli"].append((e, f))
                rows["cli_reported"].append((reported, f))
        med = {k: (statistics.median(x for x, _ in v), statistics.median(y for _, y in v)) for k, v in rows.items()}
        base_first, base_total = med["direct"]
        print(f"| {args.tokens} chunks, 50 ms apart; medians of {args.runs} | first byte (ms) | x direct "
              "| total (ms) | x direct |")
        print("| --- | ---: | ---: | ---: | ---: |")
        labels = {"direct": "straight to the container (http.client, read1)",
                  "boto3": "runtime API + boto3 `invoke_endpoint_with_response_stream`",
                  "boto3_whole": "runtime API + boto3 `invoke_endpoint` (the same answer, not streamed)",
                  "cli": "`smctl invoke --stream` (process start to first stdout byte / exit)",
                  "cli_reported": "`smctl invoke --stream` as it reports itself (request sent to first byte)"}
        for key, label in labels.items():
            first, total = med[key]
            print(f"| {label} | {first * 1000:.1f} | {first / base_first:.1f} | {total * 1000:.0f} | "
                  f"{total / base_total:.2f} |")
        if args.json:
            print(json.dumps(rows))
    finally:
        if runtime is not None:
            runtime.terminate()
            runtime.wait(timeout=10)
        subprocess.run([*SMCTL, "local-stop", NAME], capture_output=True, cwd=ROOT)
        subprocess.run(["docker", "rm", "-f", *subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=smctl.endpoint={NAME}"], capture_output=True,
            text=True).stdout.split()], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
