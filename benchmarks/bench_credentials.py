"""AWS credentials for containers: what smctl's endpoint costs a run and each SDK call, against env-var keys.

    python benchmarks/bench_credentials.py [--runs 7] [--calls 40] [--call-runs 3] [--sdk-python PATH] [--json]

Everything runs against moto's server on the docker0 bridge address (the only host address containers reach),
started here on a free port with dummy keys, so the caller's "credentials" are static keys and the default mode
turns them into session credentials with STS GetSessionToken, as it would for a user's long-term keys.

The image is tests/images/aws-client (boto3 copied from this venv) plus two layers: its Python files byte-compiled
(pip does that in a real image; otherwise every fresh container recompiles botocore) and bench_calls.py. Its
`train` makes a fresh boto3 session, resolves credentials, calls STS GetCallerIdentity and reads one S3 object.

1. Wall time of `python -m smctl local-train` (interpreter start-up included), round-robin with the order rotated
   every round, medians:
   - that `train` with the default credentials (the caller's, served by the agent through the endpoint), against
     the same `train` with `--no-credentials --env AWS_ACCESS_KEY_ID=... --env AWS_SECRET_ACCESS_KEY=...` (what
     users do today) and, with --sdk-python, the SageMaker Python SDK's local mode (Estimator, instance_type
     "local": it copies the session's keys into the container's environment, through docker compose);
   - a `train` that exits at once (`--entrypoint true`) with the default credentials and with `--no-credentials`:
     the difference is what the agent adds to any run;
   - the agent alone (`python -m smctl.credentials.agent`, as smctl starts it): spawn to its ready line, and stdin
     closed to exit (smctl waits for both; closed 0.3 s after ready, when a run's agent is in its watch loop),
     with the time of each phase from hooks around the agent's own calls.
2. Per call, inside one container run: fresh boto3 sessions resolving credentials through the endpoint and from
   env keys, alternating, each followed by one STS GetCallerIdentity (--calls pairs, --call-runs containers).
3. Where the agent's start-up goes: `python -X importtime -m smctl.credentials.agent`, by top-level import
   (cumulative), median of 3 runs.

Prints markdown tables; ratios matter, absolute times on a shared machine are noise. Every image, container,
network and folder made here is removed at the end (the SDK's sagemaker-local network only if it was not there).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from installed import compile_smctl  # noqa: E402
from moto_server import start_moto  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "smctl-bench-credentials:latest"
CONTEXT = ROOT / "tests" / "images" / "aws-client"
SITE_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
KEY_ID, SECRET = "AKIABENCHMARKEXAMPLE", "bench/secret/key/not/a/real/one/0123456"
BUCKET, KEY = "smctl-bench-credentials", "probe.txt"
SDK_NETWORK = "sagemaker-local"
T = TypeVar("T")

EXTRA_LAYERS = """
COPY bench_calls.py /opt/probe/bench_calls.py
RUN python3 -m compileall -q /opt/probe
LABEL smctl.bench=1
"""

# Inside the container: per call, a fresh boto3 session resolves its credentials (through the endpoint, or from the
# env keys passed under other names so they do not shadow the endpoint) and makes one STS call; the two alternate.
BENCH_CALLS = r"""
import json, os, time
import boto3
n = int(os.environ["BENCH_CALLS"])
endpoint = {k: os.environ.pop(k) for k in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")}
keys = {"AWS_ACCESS_KEY_ID": os.environ.pop("BENCH_KEY_ID"), "AWS_SECRET_ACCESS_KEY": os.environ.pop("BENCH_SECRET")}
def once(mode):
    for k in (*endpoint, *keys):
        os.environ.pop(k, None)
    os.environ.update(endpoint if mode == "endpoint" else keys)
    t0 = time.perf_counter()
    session = boto3.Session()
    creds = session.get_credentials()
    creds.get_frozen_credentials()
    t1 = time.perf_counter()
    session.client("sts").get_caller_identity()
    t2 = time.perf_counter()
    assert creds.method == ("container-role" if mode == "endpoint" else "env"), creds.method
    return [t1 - t0, t2 - t0]
once("env")  # imports and botocore's first loads
first = once("endpoint")  # the endpoint's first answer: it looks this container's address up in the engine
out = {"endpoint": [], "env": [], "first endpoint": [first]}
for i in range(n):
    for mode in (("endpoint", "env") if i % 2 == 0 else ("env", "endpoint")):
        out[mode].append(once(mode))
os.makedirs("/opt/ml/model", exist_ok=True)
with open("/opt/ml/model/calls.json", "w") as f:
    json.dump(out, f)
"""

# The agent exactly as smctl runs it (`main()` of smctl.credentials.agent), with timers around its own calls.
# perf_counter is CLOCK_MONOTONIC, shared by every process, so the parent's spawn time (BENCH_T0) lines up.
AGENT_PHASES = r"""
import time
t_main = time.perf_counter()
import json, os, sys
marks = {"interpreter start-up": t_main - float(os.environ["BENCH_T0"])}
def since(name, t0):
    marks[name] = marks.get(name, 0.0) + time.perf_counter() - t0
t = time.perf_counter(); import smctl.credentials.agent as agent; since("import smctl (agent module)", t)
t = time.perf_counter()
import smctl.aws.credentials as awsc, smctl.credentials.server as srv
import smctl.engine.client as ec, smctl.engine.linklocal as ll
since("import smctl (credentials modules)", t)
t = time.perf_counter(); import boto3; since("import boto3 + botocore", t)
t = time.perf_counter(); import docker; since("import docker-py + requests", t)
marks["host had 169.254.170.2"] = ll.host_has_address()
def hook(owner, name, label, first_only=False):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if first_only and label in marks:
            return real(*args, **kwargs)
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            since(label, t0)
    setattr(owner, name, wrapper)
hook(awsc.CredentialSource, "__init__", "boto3 session")
hook(awsc.CredentialSource, "current", "first credentials (STS GetSessionToken)", first_only=True)
hook(ec, "engine", "engine client")
hook(ll, "ensure_host_address", "host address (create the network)", first_only=True)
hook(srv.CredentialsServer, "__init__", "bind the endpoint")
hook(srv.CredentialsServer, "shutdown", "stop: server.shutdown()")
hook(ll, "release_host_address", "stop: release the address (list, remove the network)")
real_watch = agent._watch
def watch(*args):
    real_watch(*args)
    marks["watch returned at"] = time.perf_counter()
agent._watch = watch
code = agent.main()
marks["main returned at"] = time.perf_counter()
print("PHASES " + json.dumps(marks), flush=True)
sys.exit(code)
"""

SDK_TRAIN = r"""
import os, sys
import boto3
from sagemaker.estimator import Estimator
from sagemaker.local import LocalSession
session = LocalSession(boto_session=boto3.Session())
session.config = {"local": {"local_code": True, "container_root": os.getcwd()}}
env = {k: os.environ[k] for k in ("PROBE_BUCKET", "PROBE_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
Estimator(image_uri=sys.argv[1], role="arn:aws:iam::123456789012:role/bench", instance_count=1, instance_type="local",
          sagemaker_session=session, output_path="file://" + os.getcwd() + "/out", environment=env).fit()
"""
SDK_CONFIG = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def bridge_address() -> str:
    """The docker0 gateway: the one host address a container reaches (127.0.0.1 is the container's own)."""
    out = sh("docker", "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}").stdout
    return out.strip() or "172.17.0.1"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def aws_environment(endpoint: str, home: Path) -> dict[str, str]:
    """This process's environment with the dummy keys and moto, and no user AWS configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(home / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"))
    return env


def seed_s3(env: dict[str, str]) -> None:
    import boto3

    s3 = boto3.Session(aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name="us-east-1").client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"credentials benchmark\n")


def build_image(work: Path) -> None:
    ctx = work / "image"
    shutil.copytree(CONTEXT, ctx)
    site = Path(sysconfig.get_paths()["purelib"])
    for name in SITE_PACKAGES:
        src, dst = site / name, ctx / "site-packages" / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    (ctx / "bench_calls.py").write_text(BENCH_CALLS)
    (ctx / "Dockerfile").write_text((ctx / "Dockerfile").read_text() + EXTRA_LAYERS)
    sh("docker", "build", "-q", "-t", IMAGE, str(ctx))


def remove_compose_containers(folder: Path) -> None:
    """The SDK's `docker compose up` leaves its stopped container behind: remove the ones it made under `folder`."""
    ids = sh("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project").stdout.split()
    for cid in ids:
        where = sh("docker", "inspect", "-f", '{{index .Config.Labels "com.docker.compose.project.working_dir"}}',
                   cid).stdout.strip()
        if where.startswith(str(folder)):
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


def read_member(archive: Path, name: str) -> object:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return json.load(io.TextIOWrapper(member))


class Runner:
    """Each configuration of part 1 as a function that runs once and returns its wall time (checked)."""

    def __init__(self, work: Path, env: dict[str, str], sdk_python: str | None) -> None:
        self.proj = work / "proj"
        self.proj.mkdir()
        self.work = work
        self.env = env
        self.sdk_python = sdk_python
        self.count = 0

    def _train(self, *args: str, method: str | None) -> float:
        self.count += 1
        job = f"bench-cred-{self.count}"
        cmd = [sys.executable, "-m", "smctl", "local-train", "--image", IMAGE, "--job-name", job, *args]
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=self.proj, env=self.env, check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if method is not None:  # the container's own SDK found its credentials where this configuration puts them
            probe = read_member(self.proj / ".smctl" / "output" / job / "model.tar.gz", "probe.json")
            assert isinstance(probe, list) and probe[0]["method"] == method and probe[0]["body"], probe
        shutil.rmtree(self.proj / ".smctl", ignore_errors=True)
        return elapsed

    def probe_endpoint(self) -> float:
        return self._train("--env", f"PROBE_BUCKET={BUCKET}", "--env", f"PROBE_KEY={KEY}", method="container-role")

    def probe_env_keys(self) -> float:
        pairs = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": self.env["AWS_ENDPOINT_URL"], "PROBE_BUCKET": BUCKET, "PROBE_KEY": KEY}
        return self._train("--no-credentials", *(f"--env={k}={v}" for k, v in pairs.items()), method="env")

    def trivial_endpoint(self) -> float:
        return self._train("--entrypoint", "true", method=None)

    def trivial_none(self) -> float:
        return self._train("--entrypoint", "true", "--no-credentials", method=None)

    def probe_sdk(self) -> float:
        assert self.sdk_python is not None
        self.count += 1
        run = self.work / f"sdk-{self.count}"
        run.mkdir()
        (run / "sm-config.yaml").write_text(SDK_CONFIG)
        env = {**self.env, "PROBE_BUCKET": BUCKET, "PROBE_KEY": KEY, "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
               "SAGEMAKER_USER_CONFIG_OVERRIDE": str(run / "sm-config.yaml"),
               "PATH": f"{Path(self.sdk_python).parent}{os.pathsep}{self.env.get('PATH', '')}"}  # its docker-compose
        t0 = time.perf_counter()
        subprocess.run([self.sdk_python, "-c", SDK_TRAIN, IMAGE], cwd=run, env=env, check=True, capture_output=True,
                       text=True)
        elapsed = time.perf_counter() - t0
        probe = read_member(run / "out" / "model.tar.gz", "probe.json")
        assert isinstance(probe, list) and probe[0]["method"] == "env" and probe[0]["body"], probe
        remove_compose_containers(run)
        shutil.rmtree(run, ignore_errors=True)
        return elapsed

    def agent_alone(self) -> dict[str, float]:
        from smctl.contract.credentials import CredentialsRequest

        config = json.dumps({"request": dataclasses.asdict(CredentialsRequest()), "run": f"bench{self.count}"})
        self.count += 1
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", AGENT_PHASES], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                env={**self.env, "BENCH_T0": repr(t0)})
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(config + "\n")
        proc.stdin.flush()
        ready = json.loads(proc.stdout.readline() or '{"status": "died"}')
        t_ready = time.perf_counter()
        time.sleep(0.3)  # as in a run: the agent is in its watch loop by the time smctl closes its stdin
        t_close = time.perf_counter()
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(30)
        t_exit = time.perf_counter()
        assert ready.get("status") == "ready", (ready, proc.stderr.read() if proc.stderr else "")
        phases = json.loads(rest.split("PHASES ", 1)[1])
        watch_at, main_at = phases.pop("watch returned at"), phases.pop("main returned at")
        stop = {"stop: the watch loop sees stdin closed": watch_at - t_close,
                **{k: phases.pop(k) for k in list(phases) if k.startswith("stop:")},
                "stop: interpreter exit after main()": t_exit - main_at}
        return {**phases, "READY: spawn to ready line": t_ready - t0, **stop,
                "STOP: stdin closed to exit": t_exit - t_close}


def calls_in_container(runner: Runner, calls: int, runs: int) -> dict[str, list[list[float]]]:
    pooled: dict[str, list[list[float]]] = {"endpoint": [], "env": [], "first endpoint": []}
    for _ in range(runs):
        runner.count += 1
        job = f"bench-calls-{runner.count}"
        subprocess.run([sys.executable, "-m", "smctl", "local-train", "--image", IMAGE, "--job-name", job,
                        "--entrypoint", "python3 /opt/probe/bench_calls.py", "--env", f"BENCH_CALLS={calls}",
                        "--env", f"BENCH_KEY_ID={KEY_ID}", "--env", f"BENCH_SECRET={SECRET}"],
                       cwd=runner.proj, env=runner.env, check=True, capture_output=True, text=True)
        got = read_member(runner.proj / ".smctl" / "output" / job / "model.tar.gz", "calls.json")
        assert isinstance(got, dict)
        for mode in pooled:
            pooled[mode].extend(got[mode])
        shutil.rmtree(runner.proj / ".smctl", ignore_errors=True)
    return pooled


def import_profile(env: dict[str, str], runs: int = 3) -> tuple[list[tuple[str, float]], float]:
    """The agent's top-level imports (cumulative ms: each with what it pulled in first), median of `runs`."""
    from smctl.contract.credentials import CredentialsRequest

    config = json.dumps({"request": dataclasses.asdict(CredentialsRequest()), "run": "bench-importtime"})
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "smctl.credentials.agent"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
        _, err = proc.communicate(config + "\n", timeout=60)  # stdin closes after the line: it serves, then stops
        totals: dict[str, float] = defaultdict(float)
        for line in err.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            _, cumulative, name = line[len("import time:"):].split("|")
            if not name.startswith("  "):  # nesting is indented: a top-level import has a single space
                totals[name.strip()] += int(cumulative) / 1000
        for name, ms in totals.items():
            samples[name].append(ms)
    medians = {name: statistics.median(v) for name, v in samples.items()}
    return sorted(medians.items(), key=lambda kv: -kv[1]), sum(medians.values())


def retried(name: str, fn: Callable[[], T], failures: list[str], attempts: int = 3) -> T:
    """fn(), run again when it fails (noted in `failures`).

    Other smctl runs on the same engine (other worktrees' test suites) create and remove the one network that owns
    169.254.170.2; a run of ours that starts while one of theirs stops can fail, and that says nothing of the cost.
    """
    for attempt in range(attempts):
        try:
            return fn()
        except (subprocess.CalledProcessError, AssertionError) as exc:
            detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else str(exc)
            lines = (detail or "").strip().splitlines()
            failures.append(f"{name}: {' '.join(lines[-3:])[:300]}")
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def med(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="rounds of part 1 (one run of each configuration)")
    ap.add_argument("--calls", type=int, default=40, help="endpoint/env pairs per container in part 2")
    ap.add_argument("--call-runs", type=int, default=3, help="containers in part 2")
    ap.add_argument("--sdk-python", help="a Python with the SageMaker SDK (and docker compose beside it)")
    ap.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    a = ap.parse_args()
    sdk_python = a.sdk_python
    if sdk_python is None:
        try:
            import sagemaker  # noqa: F401

            sdk_python = sys.executable
        except ImportError:
            print("SageMaker SDK not installed here: its column is skipped (pass --sdk-python)", file=sys.stderr)

    compile_smctl()
    sdk_network_before = subprocess.run(["docker", "network", "inspect", SDK_NETWORK], capture_output=True,
                                        check=False).returncode == 0
    base = Path(__file__).parent / ".work"
    work = Path(tempfile.mkdtemp(prefix="smctl-bench-credentials-", dir=base if base.is_dir() else None))
    moto = None
    try:
        host = bridge_address()
        moto, endpoint = start_moto(work, host)
        env = aws_environment(endpoint, work)
        seed_s3(env)
        build_image(work)
        runner = Runner(work, env, sdk_python)
        configs = {"probe: endpoint": runner.probe_endpoint, "probe: env keys": runner.probe_env_keys,
                   "trivial: endpoint": runner.trivial_endpoint, "trivial: --no-credentials": runner.trivial_none}
        if sdk_python:
            configs["probe: SageMaker SDK local mode"] = runner.probe_sdk
        failures: list[str] = []
        for name, fn in configs.items():  # warm-up: page cache, the image's first start, docker compose's first run
            retried(name, fn, failures)
        times: dict[str, list[float]] = {name: [] for name in configs}
        agent: list[dict[str, float]] = []
        names = [*configs, "agent"]
        for i in range(a.runs):
            order = names[i % len(names):] + names[:i % len(names)]
            for name in order:
                if name == "agent":
                    agent.append(retried(name, runner.agent_alone, failures))
                else:
                    times[name].append(retried(name, configs[name], failures))
        calls = retried("calls", lambda: calls_in_container(runner, a.calls, a.call_runs), failures)
        imports = import_profile(env)
        load = os.getloadavg()
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
        subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)
        if not sdk_network_before:
            subprocess.run(["docker", "network", "rm", SDK_NETWORK], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    report(a, times, agent, calls, imports, load)
    if failures:
        print(f"\n{len(failures)} failed attempt(s), each run again:\n" + "\n".join(f"- {f}" for f in failures))
    if a.json:
        print(json.dumps({"runs": times, "agent": agent, "calls": calls, "imports": imports, "failures": failures},
                         indent=2))


def report(a, times, agent, calls, imports, load) -> None:
    m = {name: med(v) for name, v in times.items()}
    print(f"### Part 1: wall time of a run, median of {a.runs} rounds (load average at the end "
          f"{load[0]:.1f})\n")
    print("| run | median | every run, in order | vs baseline (medians) | per round: ratio, difference (medians) |")
    print("| --- | ---: | --- | ---: | ---: |")
    rows = [("probe: env keys", "probe: env keys"), ("probe: endpoint", "probe: env keys"),
            ("probe: SageMaker SDK local mode", "probe: env keys"),
            ("trivial: --no-credentials", "trivial: --no-credentials"),
            ("trivial: endpoint", "trivial: --no-credentials")]
    for name, baseline in rows:
        if name not in m:
            continue
        every = ", ".join(f"{t:.2f}" for t in times[name])
        pairs = list(zip(times[name], times[baseline], strict=True))
        per_round = (f"{med([x / y for x, y in pairs]):.2f}x, {med([x - y for x, y in pairs]):+.2f} s"
                     if name != baseline else "")
        print(f"| {name} | {m[name]:.2f} s | {every} | {m[name] / m[baseline]:.2f}x ({m[name] - m[baseline]:+.2f} s) "
              f"| {per_round} |")
    if "probe: SageMaker SDK local mode" not in m:
        print("| probe: SageMaker SDK local mode | not measured: SDK not installed (--sdk-python) | | | |")

    print(f"\n### The agent alone (python -m smctl.credentials.agent with timers), median of {len(agent)}\n")
    print("| phase | median ms | range ms |")
    print("| --- | ---: | ---: |")
    keys = [k for k in agent[0] if k != "host had 169.254.170.2"]
    for k in keys:
        vals = [r[k] * 1000 for r in agent if k in r]
        print(f"| {k} | {med(vals):.0f} | {min(vals):.0f}-{max(vals):.0f} |")
    had = sum(1 for r in agent if r.get("host had 169.254.170.2"))
    print(f"\n(the network already existed, made by another run on this engine, in {had} of {len(agent)} runs)")

    print(f"\n### Part 2: per call inside the container ({len(calls['endpoint'])} pairs in {a.call_runs} "
          "containers, alternating)\n")
    print("| per call | endpoint (ms) | env keys (ms) | ratio (medians) | per pair: ratio, difference (medians) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    pairs = list(zip(calls["endpoint"], calls["env"], strict=True))
    for idx, label in ((0, "fresh boto3.Session() + resolve credentials"),
                       (1, "the same + one STS GetCallerIdentity")):
        ep = med([c[idx] for c in calls["endpoint"]]) * 1000
        ev = med([c[idx] for c in calls["env"]]) * 1000
        ratio = med([e[idx] / v[idx] for e, v in pairs])
        diff = med([e[idx] - v[idx] for e, v in pairs]) * 1000
        print(f"| {label} | {ep:.1f} | {ev:.1f} | {ep / ev:.2f}x | {ratio:.2f}x, {diff:+.1f} ms |")
    firsts = [c[0] * 1000 for c in calls["first endpoint"]]
    print(f"| a container's first resolution through the endpoint (one per container) | "
          f"{', '.join(f'{f:.1f}' for f in firsts)} | | | |")

    ranked, total = imports
    print(f"\n### Part 3: the agent's top-level imports (python -X importtime, cumulative: each with what it pulled "
          f"in first; median of 3 runs, {total:.0f} ms in all)\n")
    print("| import | ms | share |")
    print("| --- | ---: | ---: |")
    for name, ms in ranked[:10]:
        print(f"| {name} | {ms:.0f} | {100 * ms / total:.0f}% |")

if __name__ == "__main__":
    main()
