"""`smctl train` (the cloud half) against the SageMaker Python SDK: upload, create, follow, fetch, in the same run.

    python benchmarks/bench_cloud.py [--runs 2] [--files 2000] [--file-kib 100] [--sdk-python PATH]
                                     [--baseline sdk|boto3] [--json]

Both sides talk to one moto server started here on a free loopback port (dummy keys, us-east-1); moto completes a
training job at once, so each job's model.tar.gz, output.tar.gz and a few CloudWatch log lines are seeded before
its run, and both tools find them. One channel of --files files (--file-kib each, deterministic bytes in 20
folders) is trained on, three scenarios per repetition:

  a) first run: nothing uploaded before (the bucket is emptied at the start of every repetition);
  b) rerun with the data unchanged;
  c) rerun after one file changed (same size, other bytes).

smctl: `python -m smctl train --channel training=data ...` as a user runs it (a subprocess, interpreter start-up
included): it uploads a folder once per content hash and fetches the artifacts into .smctl/output/JOB/.

Baseline "sdk" (a Python with `sagemaker` installed, --sdk-python; never a project dependency), what users write
today: `sagemaker.Session(default_bucket=...).upload_data(folder)`, `Estimator(image_uri, role, instance_type,
output_path).fit({"training": uri}, logs="All")`, then `S3Downloader.download` of model.tar.gz and output.tar.gz.
The SDK uploads every time. The bucket is named (its default, sagemaker-REGION-ACCOUNT) because the SDK finds the
account with an STS client on a fixed regional endpoint_url, which AWS_ENDPOINT_URL does not send to moto.
Baseline "boto3" (the default when no SDK is found): the hand-written script, `upload_file` of each file with
boto3's TransferManager defaults, create_training_job, the waiter, download_file of both artifacts.

Within a repetition the two sides alternate (the order flips every repetition); medians are reported. Bytes
uploaded are counted from S3 itself: each run starts on a fresh second, and every object whose LastModified is at
or after it was written by that run (moto's LastModified has one-second resolution); what smctl copied inside S3
(unchanged files of 1 MiB or more, its upload line says how many bytes) is taken off and shown apart. Prints a
markdown table; ratios matter, absolute times on a shared machine are noise. moto's server is stopped and the
temp folder removed at the end; every bucket lived only in that moto server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from installed import compile_smctl  # noqa: E402
from moto_server import start_moto  # noqa: E402

KEY_ID, SECRET, REGION = "AKIABENCHMARKEXAMPLE", "bench/secret/key/not/a/real/one/0123456", "us-east-1"
ACCOUNT = "123456789012"  # moto's
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the default bucket of both smctl and the SDK
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bench-algo:1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
INSTANCE = "ml.m5.xlarge"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
SCENARIOS = {"a": "first run (nothing uploaded before)", "b": "rerun, data unchanged",
             "c": "rerun, one file changed"}
SDK_CONFIG = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"

# What SDK users write: upload the folder, fit on its S3 prefix (logs followed), fetch the model and the output.
SDK_TRAIN = r"""
import json, os, sys, time
import sagemaker
from sagemaker.estimator import Estimator
from sagemaker.s3 import S3Downloader
data, job, out, image, role, instance, bucket = sys.argv[1:8]
session = sagemaker.Session(default_bucket=bucket)  # see the module's docstring
marks = [time.perf_counter()]
uri = session.upload_data(path=data, key_prefix="data/training")
marks.append(time.perf_counter())
estimator = Estimator(image_uri=image, role=role, instance_count=1, instance_type=instance,
                      output_path=f"s3://{session.default_bucket()}/", sagemaker_session=session)
estimator.fit({"training": uri}, job_name=job, wait=True, logs="All")
marks.append(time.perf_counter())
S3Downloader.download(estimator.model_data, out, sagemaker_session=session)
S3Downloader.download(estimator.model_data.replace("/model.tar.gz", "/output.tar.gz"), out,
                      sagemaker_session=session)
marks.append(time.perf_counter())
print("MARKS " + json.dumps(marks))
"""

# The hand-written boto3 script (`aws s3 sync` equivalent, one upload_file per file with TransferManager defaults).
BOTO3_TRAIN = r"""
import json, os, sys, time
import boto3
data, job, out, image, role, instance = sys.argv[1:7]  # the bucket as the SDK names it
session = boto3.Session()
bucket = f"sagemaker-{session.region_name}-{session.client('sts').get_caller_identity()['Account']}"
s3 = session.client("s3")
try:
    s3.head_bucket(Bucket=bucket)
except s3.exceptions.ClientError:
    s3.create_bucket(Bucket=bucket)
marks = [time.perf_counter()]
for root, _, files in os.walk(data):
    for name in files:
        path = os.path.join(root, name)
        s3.upload_file(path, bucket, "data/training/" + os.path.relpath(path, data))
marks.append(time.perf_counter())
sm = session.client("sagemaker")
sm.create_training_job(
    TrainingJobName=job, RoleArn=role, AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
    InputDataConfig=[{"ChannelName": "training", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/training/",
        "S3DataDistributionType": "FullyReplicated"}}}],
    OutputDataConfig={"S3OutputPath": f"s3://{bucket}/"},
    ResourceConfig={"InstanceType": instance, "InstanceCount": 1, "VolumeSizeInGB": 30},
    StoppingCondition={"MaxRuntimeInSeconds": 86400})
sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=job)
marks.append(time.perf_counter())
os.makedirs(out, exist_ok=True)
for name in ("model.tar.gz", "output.tar.gz"):
    s3.download_file(bucket, f"{job}/output/{name}", os.path.join(out, name))
marks.append(time.perf_counter())
print("MARKS " + json.dumps(marks))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aws_environment(endpoint: str, work: Path, sdk_python: str | None) -> dict[str, str]:
    """This environment with moto and dummy keys, no user AWS or SDK configuration, the SDK's telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    (work / "sm-config.yaml").write_text(SDK_CONFIG)
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(work / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"), SAGEMAKER_SUPPRESS_V2_WARNING="1",
               SAGEMAKER_USER_CONFIG_OVERRIDE=str(work / "sm-config.yaml"),
               SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(work / "sm-config.yaml"))
    if sdk_python:
        env["PATH"] = f"{Path(sdk_python).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def file_bytes(i: int, size: int, version: int = 0) -> bytes:
    return random.Random(i * 1000 + version).randbytes(size)


def make_channel(folder: Path, files: int, size: int) -> list[Path]:
    paths = []
    for i in range(files):
        path = folder / f"part-{i % 20:02d}" / f"shard-{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file_bytes(i, size))
        paths.append(path)
    return paths


class Moto:
    """The moto server's S3 and Logs, as the benchmark (not the tools) sees them."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        session = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION)
        self.s3 = session.client("s3", endpoint_url=endpoint)
        self.logs = session.client("logs", endpoint_url=endpoint)
        self.s3.create_bucket(Bucket=BUCKET)
        self.logs.create_log_group(logGroupName=LOG_GROUP)
        self._seed_account(session, endpoint)

    @staticmethod
    def _seed_account(session: Any, endpoint: str) -> None:
        """What smctl train's preflight looks up in a real account: the role (trusting SageMaker) and the image."""
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
        session.client("iam", endpoint_url=endpoint).create_role(RoleName=ROLE.rsplit("/", 1)[1],
                                                                 AssumeRolePolicyDocument=json.dumps(trust))
        ecr = session.client("ecr", endpoint_url=endpoint)
        repository, tag = IMAGE.split("/", 1)[1].split(":")
        ecr.create_repository(repositoryName=repository)
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                               "digest": "sha256:" + "0" * 64}, "layers": []}
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)

    def objects(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            found.extend(page.get("Contents", []))
        return found

    def empty(self) -> None:
        keys = [{"Key": o["Key"]} for o in self.objects()]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[i:i + 1000], "Quiet": True})

    def seed_job(self, job: str) -> None:
        """What a finished job leaves: its artifacts under the output path and three log lines."""
        for name in ("model.tar.gz", "output.tar.gz"):
            self.s3.put_object(Bucket=BUCKET, Key=f"{job}/output/{name}", Body=f"{job} {name}\n".encode())
        stream = f"{job}/algo-1-1700000000"
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        now = int(time.time() * 1000)
        self.logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                                 logEvents=[{"timestamp": now + i, "message": f"step {i}"} for i in range(3)])

    def written_since(self, second: int) -> tuple[int, int]:
        """(objects, bytes) written at or after `second` (LastModified has one-second resolution)."""
        new = [o for o in self.objects() if o["LastModified"].timestamp() >= second]
        return len(new), sum(o["Size"] for o in new)


def next_second() -> int:
    """Sleep to the start of the next wall-clock second; that second."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.01)
    return int(time.time())


PHASES = ("start-up: imports, session, checks (smctl: + hashing the channel)", "upload (smctl: + CreateTrainingJob)",
          "the job: create, wait, follow the logs", "fetch the artifacts, exit")


class Sides:
    """Each side runs one training job end to end: its wall time and phases (seconds); the result is checked."""

    def __init__(self, work: Path, env: dict[str, str], baseline: str, baseline_python: str) -> None:
        self.work, self.env, self.baseline, self.baseline_python = work, env, baseline, baseline_python
        self.proj = work / "proj"
        self.data = self.proj / "data"
        self.copied_bytes = 0  # what smctl's last run copied inside S3 instead of sending

    def smctl(self, job: str, expect_upload: bool) -> tuple[float, list[float]]:
        """Phases from when smctl's progress lines reach its stderr (it flushes every line)."""
        cmd = [sys.executable, "-m", "smctl", "train", "--image", IMAGE, "--role", ROLE, "--job-name", job,
               "--channel", "training=data", "--instance-type", INSTANCE]
        seen: dict[str, float] = {}
        lines = []
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=self.proj, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        assert proc.stderr is not None and proc.stdout is not None
        for line in proc.stderr:
            now = time.perf_counter()
            lines.append(line)
            for key, words in (("upload", "training: "), ("created", f"training job {job} created"),
                               ("logs", "step 2")):
                if words in line:
                    seen.setdefault(key, now)
        stdout = proc.stdout.read()
        proc.wait()
        elapsed = time.perf_counter() - t0
        stderr = "".join(lines)
        assert proc.returncode == 0, stderr[-3000:]
        uploaded = "training: uploading" in stderr
        assert uploaded == expect_upload and (uploaded or "already (unchanged)" in stderr), stderr[-2000:]
        out = self.proj / ".smctl" / "output" / job
        assert (out / "model.tar.gz").read_bytes() == f"{job} model.tar.gz\n".encode(), stdout
        assert (out / "output.tar.gz").is_file()
        assert set(seen) == {"upload", "created", "logs"}, stderr[-2000:]  # the job's log was followed
        shutil.rmtree(out)
        copied = re.search(r"unchanged file\(s\), (\d+) bytes, copied within S3", stderr)
        self.copied_bytes = int(copied.group(1)) if copied else 0
        return elapsed, [seen["upload"] - t0, seen["created"] - seen["upload"], seen["logs"] - seen["created"],
                         t0 + elapsed - seen["logs"]]

    def other(self, job: str) -> tuple[float, list[float]]:
        """Phases from marks the script prints (time.perf_counter is one clock for every process)."""
        out = self.work / "baseline-out" / job
        script = SDK_TRAIN if self.baseline == "sdk" else BOTO3_TRAIN
        t0 = time.perf_counter()
        proc = subprocess.run([self.baseline_python, "-c", script, str(self.data), job, str(out), IMAGE, ROLE,
                               INSTANCE, BUCKET], cwd=self.work, env=self.env, capture_output=True, text=True,
                              check=False)
        elapsed = time.perf_counter() - t0
        assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
        assert (out / "model.tar.gz").read_bytes() == f"{job} model.tar.gz\n".encode()
        assert (out / "output.tar.gz").is_file()
        if self.baseline == "sdk":
            assert "step 2" in proc.stdout  # fit(logs="All") printed the job's log
        shutil.rmtree(out)
        marks = [t0, *json.loads(proc.stdout.rsplit("MARKS ", 1)[1])[:3], t0 + elapsed]
        return elapsed, [b - a for a, b in zip(marks, marks[1:], strict=False)]


def run(a: argparse.Namespace, baseline: str, baseline_python: str) -> tuple[dict, dict, dict]:
    """times, phases and uploads (objects written, bytes sent, bytes copied within S3), each [side][scenario]
    with one entry per repetition."""
    size = a.file_kib * 1024
    times: dict[str, dict[str, list[float]]] = {s: {k: [] for k in SCENARIOS} for s in ("smctl", baseline)}
    phases: dict[str, dict[str, list[list[float]]]] = {s: {k: [] for k in SCENARIOS} for s in times}
    uploads: dict[str, dict[str, list[tuple[int, int, int]]]] = {s: {k: [] for k in SCENARIOS} for s in times}
    base = Path(__file__).parent / ".work"
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-cloud-", dir=base if base.is_dir() else None))
    moto_proc = None
    try:
        moto_proc, endpoint = start_moto(work)
        env = aws_environment(endpoint, work, baseline_python if baseline == "sdk" else None)
        moto = Moto(endpoint)
        sides = Sides(work, env, baseline, baseline_python)
        sides.data.mkdir(parents=True)
        (sides.proj / "smctl.toml").write_text(f'[project]\nname = "bench"\n[aws]\nregion = "{REGION}"\n')
        # Warm-up on a one-file channel: imports, the page cache of both interpreters, the bucket made once.
        (sides.data / "warm.bin").write_bytes(b"warm\n")
        for side, fn in (("smctl", lambda j: sides.smctl(j, expect_upload=True)), (baseline, sides.other)):
            moto.seed_job(f"warm-{side}")
            fn(f"warm-{side}")
        (sides.data / "warm.bin").unlink()
        paths = make_channel(sides.data, a.files, size)
        for rep in range(a.runs):
            moto.empty()
            paths[0].write_bytes(file_bytes(0, size))  # the first file as generated: a's data is the same each time
            order = ("smctl", baseline) if rep % 2 == 0 else (baseline, "smctl")
            for scenario in SCENARIOS:
                if scenario == "c":
                    paths[0].write_bytes(file_bytes(0, size, version=rep + 1))
                for side in order:
                    job = f"bench-{side}-{scenario}-{rep}"
                    moto.seed_job(job)
                    second = next_second()
                    if side == "smctl":
                        elapsed, split = sides.smctl(job, expect_upload=scenario != "b")
                    else:
                        elapsed, split = sides.other(job)
                    times[side][scenario].append(elapsed)
                    phases[side][scenario].append(split)
                    objs, nbytes = moto.written_since(second)
                    copied = sides.copied_bytes if side == "smctl" else 0
                    uploads[side][scenario].append((objs, nbytes - copied, copied))
                    print(f"rep {rep + 1}/{a.runs} {scenario}) {side}: {elapsed:.2f} s, {(nbytes - copied) / 1e6:.1f} "
                          f"MB sent, {copied / 1e6:.1f} MB copied within S3", file=sys.stderr, flush=True)
    finally:
        if moto_proc is not None:
            moto_proc.terminate()
            try:
                moto_proc.wait(10)
            except subprocess.TimeoutExpired:
                moto_proc.kill()
                moto_proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    return times, phases, uploads


def report(a: argparse.Namespace, baseline: str, times: dict, phases: dict, uploads: dict, version: str) -> None:
    med = statistics.median
    size_mb = a.files * a.file_kib * 1024 / 1e6
    label = (f"SageMaker SDK {version}" if baseline == "sdk"
             else "boto3 script (upload_file per file, create_training_job, waiter, download_file)")
    print(f"### `smctl train` vs {label}: one channel of {a.files} files, {size_mb:.0f} MB; median of {a.runs} "
          f"repetitions (load average at the end {os.getloadavg()[0]:.1f})\n")
    print(f"| scenario | smctl | {baseline} | smctl / {baseline} (medians) | per repetition | every run, smctl; "
          f"{baseline} | uploaded: smctl | uploaded: {baseline} |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for key, text in SCENARIOS.items():
        ours, theirs = times["smctl"][key], times[baseline][key]
        per_rep = med([x / y for x, y in zip(ours, theirs, strict=True)])
        every = f"{', '.join(f'{t:.1f}' for t in ours)}; {', '.join(f'{t:.1f}' for t in theirs)}"

        def sent(side: str, key: str = key) -> str:
            objs, nbytes, copied = (int(med([u[i] for u in uploads[side][key]])) for i in (0, 1, 2))
            reused = f" (+ {copied / 1e6:.1f} MB copied within S3)" if copied else ""
            return f"{nbytes / 1e6:.1f} MB in {objs} objects{reused}"

        print(f"| {key}) {text} | {med(ours):.2f} s | {med(theirs):.2f} s | {med(ours) / med(theirs):.2f}x | "
              f"{per_rep:.2f}x | {every} | {sent('smctl')} | {sent(baseline)} |")
    print(f"\n### Where the time goes (seconds, medians of {a.runs}; each phase's median, so they need not add up)\n")
    print("| phase | " + " | ".join(f"{k}) smctl | {k}) {baseline}" for k in SCENARIOS) + " |")
    print("| --- |" + " ---: |" * (2 * len(SCENARIOS)))
    for i, phase in enumerate(PHASES):
        cells = [f"{med([p[i] for p in phases[side][k]]):.2f}" for k in SCENARIOS for side in ("smctl", baseline)]
        print(f"| {phase} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="repetitions of the three scenarios")
    ap.add_argument("--files", type=int, default=2000, help="files in the channel")
    ap.add_argument("--file-kib", type=int, default=100, help="size of each file")
    ap.add_argument("--sdk-python", help="a Python with the SageMaker SDK installed (default: this one, if it has)")
    ap.add_argument("--baseline", choices=("sdk", "boto3"), help="default: sdk when an SDK is found, else boto3")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    a = ap.parse_args()
    sdk_python = a.sdk_python
    if sdk_python is None:
        try:
            import sagemaker  # noqa: F401

            sdk_python = sys.executable
        except ImportError:
            pass
    baseline = a.baseline or ("sdk" if sdk_python else "boto3")
    if baseline == "sdk" and not sdk_python:
        sys.exit("no SageMaker SDK here: pass --sdk-python PATH (a venv with `pip install 'sagemaker<3'`)")
    if baseline == "boto3":
        print("baseline: the hand-written boto3 script (no SageMaker SDK given: --sdk-python)", file=sys.stderr)
    version = ""
    if baseline == "sdk" and sdk_python:
        version = subprocess.run([sdk_python, "-c", "import importlib.metadata as m; print(m.version('sagemaker'))"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    compile_smctl()
    times, phases, uploads = run(a, baseline, sdk_python if baseline == "sdk" and sdk_python else sys.executable)
    report(a, baseline, times, phases, uploads, version)
    if a.json:
        print(json.dumps({"times": times, "phases": phases, "uploads": uploads}, indent=2))


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # finally blocks stop moto, remove temp
    main()
