"""`smctl train` against moto's server (SageMaker, S3, STS, CloudWatch Logs): what the options ask for is what the
request carries (boto3 validates it against botocore's model before sending), uploads land where the request
points, each host's log streams in order, artifacts come home in the local layout; and the refusals."""

from __future__ import annotations

import contextlib
import json
import os
import time

import boto3
import pytest

from smctl.aws.sagemaker import state_of
from smctl.cloud.training import CloudTrainResult, raise_for_status
from smctl.errors import ContainerFailedError, ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE
BUCKET = "sagemaker-us-east-1-123456789012"  # the SDK's default bucket for moto's account


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE, {"data/train.csv": f"1,2\n3,4\n# {tmp_path}\n", "data/sub/more.csv": "5,6\n"})


def _seed_logs(job: str, hosts: int, lines: int = 3) -> None:
    logs = boto3.client("logs")
    group = "/aws/sagemaker/TrainingJobs"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    now = int(time.time() * 1000)
    for h in range(1, hosts + 1):
        stream = f"{job}/algo-{h}-1700000000"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": now + i, "message": f"host {h} step {i}"} for i in range(lines)])


def _seed_artifacts(job: str) -> None:
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{job}/output/model.tar.gz", Body=b"model bytes")
    s3.put_object(Bucket=BUCKET, Key=f"{job}/output/output.tar.gz", Body=b"output bytes")


def test_train_creates_the_job_the_options_describe_and_brings_the_artifacts_home(smctl, project):
    job = f"churn-{int(time.time() * 1000)}"
    _seed_logs(job, hosts=2)
    _seed_artifacts(job)
    res = smctl("--json", "train", "--image", IMAGE, "--role", ROLE, "--job-name", job,
                "--channel", "training=data,content_type=text/csv,distribution=ShardedByS3Key",
                "--channel", "extra=s3://bucket-x/extra/,mode=Pipe", "--hp", "lr=0.1", "--hp", "epochs=3",
                "--instance-type", "ml.c5.xlarge", "--instance-count", "2", "--env", "MODE=full",
                "--max-runtime", "3600", "--tag", "team=ml", cwd=project)
    assert res.exit_code == 0, res.stderr
    d = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert d["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert d["RoleArn"] == ROLE
    assert d["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge" and d["ResourceConfig"]["InstanceCount"] == 2
    assert d["HyperParameters"] == {"lr": "0.1", "epochs": "3"}
    assert d["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert d["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/"
    channels = {c["ChannelName"]: c for c in d["InputDataConfig"]}
    assert channels["training"]["ContentType"] == "text/csv"
    assert channels["training"]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert channels["extra"]["InputMode"] == "Pipe"
    assert channels["extra"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bucket-x/extra/"
    # The local folder was uploaded where the request points, every file under its relative key.
    uri = channels["training"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri.startswith(f"s3://{BUCKET}/smctl/channels/training/")
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    keys = sorted(o["Key"].removeprefix(prefix) for o in
                  boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"])
    assert keys == ["sub/more.csv", "train.csv"]
    # Each host's log, in order, prefixed by its host as local-train prefixes it.
    lines = [line for line in res.stderr.splitlines() if " | host " in line]
    assert lines == [f"algo-{h} | host {h} step {i}" for h in (1, 2) for i in range(3)]
    # The artifacts, where a local run puts them.
    out = project / ".smctl" / "output" / job
    assert (out / "model.tar.gz").read_bytes() == b"model bytes"
    assert (out / "output.tar.gz").read_bytes() == b"output bytes"
    assert res.json["result"]["status"] == "Completed"
    assert res.json["result"]["model_artifact"] == str(out / "model.tar.gz")
    latest = project / ".smctl" / "output" / "model.tar.gz"  # the link a local run leaves, now to this job's
    assert latest.is_symlink() and latest.read_bytes() == b"model bytes"


def test_unchanged_data_is_not_uploaded_twice(smctl, project):
    first = smctl("train", "--image", IMAGE, "--role", ROLE, "--channel", "training=data", "--no-wait", cwd=project)
    assert first.exit_code == 0, first.stderr
    assert "training: uploading" in first.stderr
    second = smctl("train", "--image", IMAGE, "--role", ROLE, "--channel", "training=data", "--no-wait", cwd=project)
    assert second.exit_code == 0, second.stderr
    assert "already (unchanged)" in second.stderr and "training: uploading" not in second.stderr
    (project / "data" / "train.csv").write_text("changed\n")
    third = smctl("train", "--image", IMAGE, "--role", ROLE, "--channel", "training=data", "--no-wait", cwd=project)
    assert "training: uploading" in third.stderr


def test_dry_run_prints_the_request_and_creates_nothing(smctl, project):
    res = smctl("--json", "train", "--image", IMAGE, "--role", ROLE, "--channel", "training=data", "--spot",
                "--max-runtime", "600", "--job-name", "dry-1", "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    request = res.json["result"]["request"]
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    names = [j["TrainingJobName"] for j in boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]
    assert "dry-1" not in names


def test_a_job_name_taken_is_a_usage_error(smctl, project):
    assert smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", "taken-1", "--no-wait",
                 cwd=project).exit_code == 0
    res = smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", "taken-1", "--no-wait", cwd=project)
    assert res.exit_code == ExitCode.USAGE
    assert "exists already" in res.stderr and "--job-name" in res.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--image", IMAGE], "needs an execution role"),
    (["--image", "churn:v1", "--role", ROLE], "its images come from Amazon ECR"),
    (["--image", IMAGE, "--role", "not-an-arn"], "--role"),
    (["--image", IMAGE, "--role", ROLE, "--spot", "--max-runtime", "600", "--max-wait", "300"], "--max-wait"),
    (["--image", IMAGE, "--role", ROLE, "--max-wait", "3000"], "--max-wait applies to Spot training only"),
    (["--image", IMAGE, "--role", ROLE, "--bucket", "s3://not-a-name"], "--bucket"),
])
def test_what_sagemaker_would_refuse_is_refused_before_anything_is_created(smctl, project, args, words):
    res = smctl("train", *args, "--job-name", "refused-1", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr and "Hint:" in res.stderr
    names = [j["TrainingJobName"] for j in boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]
    assert "refused-1" not in names


# A Failed job: moto completes every job at once, so the failure path is checked on a recorded
# DescribeTrainingJob answer (the shape AWS documents; values from a real failed job).
RECORDED_FAILED = json.loads("""{
  "TrainingJobName": "churn-failed-1", "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
  "FailureReason": "AlgorithmError: ExecuteUserScriptError: exit code 1",
  "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
  "OutputDataConfig": {"S3OutputPath": "s3://bucket-a/"},
  "SecondaryStatusTransitions": [
    {"Status": "Starting", "StatusMessage": "Preparing the instances for training"},
    {"Status": "Downloading", "StatusMessage": "Downloading input data"},
    {"Status": "Training", "StatusMessage": "Training image download completed. Training in progress."},
    {"Status": "Failed", "StatusMessage": "Training job failed"}]
}""")


def test_a_failed_job_exits_5_with_its_failure_reason_and_last_lines():
    state = state_of(RECORDED_FAILED)
    assert state.done and state.status == "Failed" and len(state.transitions) == 4
    result = CloudTrainResult(state.name, state.status, state.failure_reason, 1.0,
                              log_tail=["epoch 1", "Traceback ...", "ValueError: bad column"])
    with pytest.raises(ContainerFailedError) as err:
        raise_for_status(result)
    assert err.value.exit_code == ExitCode.CONTAINER_FAILED
    assert "ExecuteUserScriptError" in err.value.message and "ValueError: bad column" in err.value.message
    assert "local-train" in (err.value.hint or "")


def test_an_upload_reports_its_bytes_to_the_progress_bar_once(aws_env, tmp_path):
    from smctl.cloud.uploads import upload_once

    (tmp_path / "chan").mkdir()
    (tmp_path / "chan" / "big.bin").write_bytes(os.urandom(9 << 20))  # multipart: several parts at once
    (tmp_path / "chan" / "small.txt").write_text("x" * 100)
    bars: list[tuple[str, int, list[int]]] = []

    @contextlib.contextmanager
    def progress(description: str, total: int):
        done: list[int] = []
        bars.append((description, total, done))
        yield done.append

    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    events: list[tuple[str, dict]] = []
    for _ in range(2):
        upload_once(tmp_path / "chan", f"s3://{BUCKET}/progress", "training", region="us-east-1", profile=None,
                    on_event=lambda k, d: events.append((k, d)), progress=progress)
    assert len(bars) == 1  # the second time the content is there already: no upload, no bar
    description, total, done = bars[0]
    assert description == "uploading training" and total == (9 << 20) + 100 and sum(done) == total
    assert [d["skipped"] for _, d in events] == [False, True]


def test_the_bucket_comes_from_smctl_toml_when_no_flag_names_one(smctl, project):
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket="team-ml-bucket")
    with (project / "smctl.toml").open("a") as f:
        f.write('bucket = "team-ml-bucket"\n')  # under [aws], the file's last table
    job = f"bucketed-{int(time.time() * 1000)}"
    res = smctl("train", "--image", IMAGE, "--role", ROLE, "--job-name", job, "--channel", "training=data",
                "--no-wait", cwd=project)
    assert res.exit_code == 0, res.stderr
    described = boto3.client("sagemaker").describe_training_job(TrainingJobName=job)
    assert described["OutputDataConfig"]["S3OutputPath"] == "s3://team-ml-bucket/"
    assert described["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        "s3://team-ml-bucket/smctl/channels/training/")


def test_one_changed_file_is_the_only_one_sent_again(aws_env, tmp_path):
    from smctl.cloud.uploads import upload_once

    chan = tmp_path / "chan"
    chan.mkdir()
    for i in range(5):
        (chan / f"part-{i}.csv").write_text(f"{tmp_path} {i}\n" * 40000)  # over 1 MiB each: worth a copy
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    base = f"s3://{BUCKET}/incremental-{tmp_path.name}"
    events: list[dict] = []
    first = upload_once(chan, base, "training", region="us-east-1", profile=None,
                        on_event=lambda k, d: events.append(d))
    (chan / "part-3.csv").write_text("changed\n")
    second = upload_once(chan, base, "training", region="us-east-1", profile=None,
                         on_event=lambda k, d: events.append(d))
    assert first != second
    assert events[1]["bytes"] == len("changed\n")  # one file sent; four copied inside S3
    assert "4 unchanged file(s)" in events[1]["message"]
    (chan / "small.txt").write_text("small files are sent: a copy is one request too\n")
    upload_once(chan, base, "training", region="us-east-1", profile=None, on_event=lambda k, d: events.append(d))
    small = (chan / "small.txt").stat().st_size + len("changed\n")  # part-3 is small now: sent again too
    assert events[2]["bytes"] == small and "4 unchanged file(s)" in events[2]["message"]
    (chan / "small.txt").unlink()
    bucket, key = second[5:].split("/", 1)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    got = {o["Key"][len(key):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}
    assert got == {p.name: p.read_text() for p in chan.iterdir()}  # the new prefix holds the whole channel
