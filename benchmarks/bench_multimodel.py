"""Multi-model endpoint against a single-model endpoint of the same image (tests/images/multimodel), side by side in
one run: the first (cold) invocation of a model and warm invocations, through smctl's serving code and through boto3
against the local runtime API.

Cold, multi-model: fetch (a folder here), extract, POST /models, then invoke. Cold, single-model: the first request
after /ping answered (its model was extracted before the container started; that start is reported too).

    python benchmarks/bench_multimodel.py [--models 4] [--size-mb 20] [--warm 200]
"""

from __future__ import annotations

import argparse
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
IMAGE = "smctl-bench-multimodel:latest"


def smctl(*args: str, cwd: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "smctl", "--json", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"smctl {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
    return json.loads(proc.stdout)["result"] if proc.stdout.strip() else {}


def make_archive(path: Path, name: str, size_mb: int) -> None:
    data = os.urandom(size_mb << 20)  # incompressible: the archive is as large as the model
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for member, payload in (("weights.txt", f"weights of {name}\n".encode()), ("weights.bin", data)):
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--size-mb", type=int, default=20)
    ap.add_argument("--warm", type=int, default=200)
    args = ap.parse_args()

    import boto3

    from smctl.engine.containers import docker_client
    from smctl.serving import invoke as core
    from smctl.serving.multimodel import MultiModelEndpoint, invoke_target
    from smctl.serving.registry import get_endpoint
    from smctl.serving.runtime_api import start_runtime

    subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(ROOT / "tests/images/multimodel")], check=True,
                   capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-mm-"))
    models = work / "models"
    models.mkdir()
    targets = [f"m{i}.tar.gz" for i in range(args.models)]
    for t in targets:
        make_archive(models / t, t, args.size_mb)
    single, multi = "bench-mm-single", "bench-mm-multi"
    client = docker_client()
    runtime = None
    try:
        t0 = time.perf_counter()
        smctl("local-serve", "--image", IMAGE, "--name", single, "--model", str(models / targets[0]), "-d",
              "--port", "0", cwd=work)
        single_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        smctl("local-serve", "--image", IMAGE, "--name", multi, "--multi-model", str(models), "-d", "--port", "0",
              cwd=work)
        multi_start = time.perf_counter() - t0
        url = core.invocations_url(get_endpoint(client, single).url or "")
        mme = MultiModelEndpoint.from_endpoint(get_endpoint(client, multi))
        assert mme is not None
        payload = core.Payload(b'{"x": 1}', "application/json", "literal", False)
        headers = {"Content-Type": "application/json"}

        t0 = time.perf_counter()
        core.invoke(url, payload)
        single_cold = time.perf_counter() - t0
        multi_cold = []
        for t in targets:
            t0 = time.perf_counter()
            assert invoke_target(mme, t, payload.body, headers, timeout=60).loaded
            multi_cold.append(time.perf_counter() - t0)

        single_warm, multi_warm = [], []
        for i in range(args.warm):  # alternating, so load on the machine hits both alike
            t0 = time.perf_counter()
            core.invoke(url, payload)
            single_warm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            invoke_target(mme, targets[i % len(targets)], payload.body, headers, timeout=60)
            multi_warm.append(time.perf_counter() - t0)

        runtime = start_runtime(port=0, client=client).start()
        rt = boto3.client("sagemaker-runtime", endpoint_url=runtime.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
        rt_single, rt_multi = [], []
        for i in range(args.warm):
            t0 = time.perf_counter()
            rt.invoke_endpoint(EndpointName=single, Body=payload.body, ContentType="application/json")["Body"].read()
            rt_single.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            rt.invoke_endpoint(EndpointName=multi, TargetModel=targets[i % len(targets)], Body=payload.body,
                               ContentType="application/json")["Body"].read()
            rt_multi.append(time.perf_counter() - t0)
    finally:
        if runtime is not None:
            runtime.stop()
        for name in (single, multi):
            subprocess.run([sys.executable, "-m", "smctl", "local-stop", name], cwd=work, capture_output=True)

    print(f"{args.models} models of {args.size_mb} MB (random bytes, gzip level 1), {args.warm} warm requests each, "
          f"load {os.getloadavg()[0]:.1f}")
    print("| | single-model | multi-model | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| `local-serve -d` until /ping (CLI process) | {single_start:.2f} s | {multi_start:.2f} s | "
          f"{multi_start / single_start:.2f} |")
    print(f"| first invocation (multi: median of {args.models} cold loads) | {single_cold * 1000:.1f} ms | "
          f"{ms(multi_cold):.1f} ms | {ms(multi_cold) / (single_cold * 1000):.1f} |")
    print(f"| warm invocation, median (serving code) | {ms(single_warm):.2f} ms | {ms(multi_warm):.2f} ms | "
          f"{ms(multi_warm) / ms(single_warm):.2f} |")
    print(f"| warm invocation, median (boto3 -> runtime API) | {ms(rt_single):.2f} ms | {ms(rt_multi):.2f} ms | "
          f"{ms(rt_multi) / ms(rt_single):.2f} |")


if __name__ == "__main__":
    main()
