"""`smctl local-process` against the real engine, with a probe image that records what it sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
IMAGES = Path(__file__).resolve().parents[1] / "images"
PROBE = "smctl-test-process-probe:latest"
# Unchanged from the SageMaker Python SDK's ScriptProcessor examples in shape: argparse, read the input folder,
# write the output folder, all under /opt/ml/processing.
SCRIPT = '''\
import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--train-test-split-ratio", type=float, default=0.3)
args, _ = parser.parse_known_args()
print("Received arguments {}".format(args))

input_data_path = os.path.join("/opt/ml/processing/input", "raw")
rows = []
for name in sorted(os.listdir(input_data_path)):
    if name.endswith(".csv"):
        with open(os.path.join(input_data_path, name)) as f:
            rows += f.read().splitlines()
split = int(len(rows) * (1 - args.train_test_split_ratio))
train_output_path = os.path.join("/opt/ml/processing/train", "train_features.csv")
test_output_path = os.path.join("/opt/ml/processing/test", "test_features.csv")
print("Saving training features to {}".format(train_output_path))
with open(train_output_path, "w") as f:
    f.write("\\n".join(rows[:split]) + "\\n")
with open(test_output_path, "w") as f:
    f.write("\\n".join(rows[split:]) + "\\n")
'''


@pytest.fixture(scope="session")
def probe(docker_client):
    docker_client.images.build(path=str(IMAGES / "process-probe"), tag=PROBE, labels={"smctl.test": "1"}, rm=True)
    return PROBE


@pytest.fixture
def project(tmp_path, docker_reaper):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.csv").write_text("1,2\n3,4\n")
    (tmp_path / "data" / "sub" / "b.csv").write_text("5,6\n")
    return tmp_path


def _gone(client, job: str) -> bool:
    return not client.containers.list(all=True, filters={"label": f"smctl.job={job}"})


def _seen(folder: Path, host: str = "algo-1") -> dict:
    return json.loads((folder / f"{host}.json").read_text())


def test_one_host_sees_its_config_files_inputs_outputs_and_arguments(smctl, probe, project, docker_client):
    res = smctl("--json", "local-process", "--image", probe, "--job-name", "pp-one", "--no-credentials",
                "--input", "raw=data", "--input", "more=data/a.csv,local_path=/opt/ml/processing/extra",
                "--output", "out=results", "--env", "PROBE_MESSAGE=all good", "--", "--ratio", "0.3", cwd=project)
    assert res.exit_code == 0, res.stderr
    result = json.loads(res.stdout)["result"]
    assert result["status"] == "Completed"
    assert result["exit_message"] == "all good"
    assert result["outputs"]["out"] == {"destination": str(project / "results"), "files": 1}
    seen = _seen(project / "results")
    assert seen["argv"][1:] == ["--ratio", "0.3"]
    assert seen["hostname"] == "algo-1"
    assert seen["resourceconfig"] == {"current_host": "algo-1", "hosts": ["algo-1"]}
    config = seen["processingjobconfig"]
    assert config["ProcessingJobName"] == "pp-one"
    assert config["AppSpecification"] == {"ImageUri": probe, "ContainerArguments": ["--ratio", "0.3"]}
    assert config["Environment"] == {"PROBE_MESSAGE": "all good"}
    assert [i["S3Input"]["LocalPath"] for i in config["ProcessingInputs"]] == [
        "/opt/ml/processing/input/raw", "/opt/ml/processing/extra"]
    assert config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"] == {
        "LocalPath": "/opt/ml/processing/output/out", "S3Uri": (project / "results").as_uri(),
        "S3UploadMode": "EndOfJob"}
    assert seen["inputs"] == {"raw": ["a.csv", "sub/b.csv"], "more": ["a.csv"]}
    assert seen["env"]["PROBE_MESSAGE"] == "all good"
    # inputs are writable copies; the user's folder is untouched
    assert sorted(p.name for p in (project / "data").iterdir()) == ["a.csv", "sub"]
    assert _gone(docker_client, "pp-one")


def test_two_hosts_resolve_each_other_and_shard_an_input(smctl, probe, project, docker_client):
    for n in range(4):
        (project / "data" / f"part-{n}.csv").write_text(f"{n}\n")
    res = smctl("--json", "local-process", "--image", probe, "--job-name", "pp-two", "--no-credentials",
                "--instance-count", "2", "--input", "raw=data,distribution=ShardedByS3Key", "--input", "all=data",
                "--output", "out=results", "--env", "PROBE_MESSAGE=m", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["result"]["exit_message"] == "mm"  # hosts' messages concatenated
    one, two = _seen(project / "results", "algo-1"), _seen(project / "results", "algo-2")
    assert (one["hostname"], two["hostname"]) == ("algo-1", "algo-2")
    assert two["resourceconfig"] == {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}
    assert set(one["resolves"]) == {"algo-1", "algo-2"}
    shards = one["inputs"]["raw"], two["inputs"]["raw"]
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == sorted(one["inputs"]["all"]) == sorted(two["inputs"]["all"])
    assert _gone(docker_client, "pp-two")


def test_code_runs_a_script_processor_script_unchanged(smctl, probe, project, docker_client):
    (project / "preprocessing.py").write_text(SCRIPT)
    res = smctl("--json", "local-process", "--image", probe, "--job-name", "pp-code", "--no-credentials",
                "--code", "preprocessing.py", "--input", "raw=data,local_path=/opt/ml/processing/input/raw",
                "--output", "train=out/train,local_path=/opt/ml/processing/train",
                "--output", "test=out/test,local_path=/opt/ml/processing/test",
                "--", "--train-test-split-ratio", "0.5", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "Received arguments Namespace(train_test_split_ratio=0.5)" in res.stderr
    assert (project / "out" / "train" / "train_features.csv").read_text() == "1,2\n"
    assert (project / "out" / "test" / "test_features.csv").read_text() == "3,4\n"


def test_s3_input_and_output_go_through_moto(smctl, probe, project, aws_env, docker_client):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="smctl-process")
    s3.put_object(Bucket="smctl-process", Key="in/x.csv", Body=b"1\n")
    res = smctl("--json", "local-process", "--image", probe, "--job-name", "pp-s3", "--no-credentials",
                "--input", "raw=s3://smctl-process/in/", "--output", "out=s3://smctl-process/out/", cwd=project)
    assert res.exit_code == 0, res.stderr
    body = s3.get_object(Bucket="smctl-process", Key="out/algo-1.json")["Body"].read()
    seen = json.loads(body)
    assert seen["inputs"] == {"raw": ["x.csv"]}
    assert seen["processingjobconfig"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://smctl-process/in/"


def test_an_s3_output_in_a_missing_bucket_is_refused_before_any_container(smctl, probe, project, aws_env,
                                                                             docker_client):
    res = smctl("local-process", "--image", probe, "--job-name", "pp-nobucket", "--no-credentials",
                "--output", "out=s3://smctl-no-such-bucket/out/", cwd=project)
    assert res.exit_code == 4, res.stderr
    assert "smctl-no-such-bucket" in res.stderr
    assert not (project / ".smctl" / "processing" / "pp-nobucket").exists()
    assert _gone(docker_client, "pp-nobucket")


def test_a_failing_job_exits_5_with_its_exit_code_and_delivers_nothing(smctl, probe, project, docker_client):
    res = smctl("local-process", "--image", probe, "--job-name", "pp-fail", "--no-credentials",
                "--output", "out=results", "--env", "PROBE_EXIT=3", "--env", "PROBE_MESSAGE=bad rows: 7",
                cwd=project)
    assert res.exit_code == 5, res.stderr
    assert "processing job pp-fail failed: AlgorithmError: , exit code: 3; ExitMessage: bad rows: 7" in res.stderr
    assert "probe on algo-1" in res.stderr
    assert not (project / "results").exists()  # made for the run, left empty: removed
    assert _gone(docker_client, "pp-fail")


def test_a_message_that_is_not_utf8_fails_the_job(smctl, probe, project, docker_client):
    res = smctl("local-process", "--image", probe, "--job-name", "pp-latin", "--no-credentials",
                "--env", "PROBE_MESSAGE=caf\\xe9", cwd=project)
    assert res.exit_code == 5, res.stderr
    assert "ClientError: /opt/ml/output/message is not UTF-8 text" in res.stderr


def test_max_runtime_stops_the_job(smctl, probe, project, docker_client):
    res = smctl("local-process", "--image", probe, "--job-name", "pp-slow", "--no-credentials",
                "--max-runtime", "2", "--env", "PROBE_SLEEP=120", "--output", "out=results", cwd=project)
    assert res.exit_code == 5, res.stderr
    assert "processing job pp-slow stopped: MaxRuntimeExceeded" in res.stderr
    assert not (project / "results").exists()
    assert _gone(docker_client, "pp-slow")


def test_continuous_output_is_delivered_while_the_job_runs(smctl, probe, project, docker_client):
    import threading

    seen_while_running = threading.Event()

    def watch() -> None:
        for _ in range(600):
            if (project / "results" / "tick-1").exists() and docker_client.containers.list(
                    filters={"label": "smctl.job=pp-cont"}):
                seen_while_running.set()
                return
            threading.Event().wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    res = smctl("local-process", "--image", probe, "--job-name", "pp-cont", "--no-credentials",
                "--env", "PROBE_SLEEP=5", "--output", "out=results,upload=Continuous", cwd=project)
    watcher.join(timeout=5)
    assert res.exit_code == 0, res.stderr
    assert seen_while_running.is_set()
    assert (project / "results" / "tick-4").read_text() == "4"


def test_ctrl_c_stops_and_removes_everything_and_delivers_nothing(probe, project, docker_client):
    import signal
    import subprocess
    import time

    from tests.helpers import smctl_exe

    proc = subprocess.Popen([*smctl_exe(), "local-process", "--image", probe, "--job-name", "pp-ctrlc",
                             "--no-credentials", "--instance-count", "2", "--env", "PROBE_SLEEP=120",
                             "--output", "out=results"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(docker_client.containers.list(filters={"label": ["smctl.job=pp-ctrlc", "smctl.kind=process"]})) == 2:
            break
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert _gone(docker_client, "pp-ctrlc")
    assert not docker_client.networks.list(names=["smctl-pp-ctrlc"])
    assert not (project / "results").exists()
