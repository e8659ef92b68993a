"""`smctl process` against moto's server (SageMaker, S3, STS, IAM, ECR, CloudWatch Logs): the request is the one
local-process describes to its container (processingjobconfig.json), field by field, and botocore's model accepts it;
local inputs land where the request points, logs stream per host, local outputs come home; the refusals.

moto plays CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs and StopProcessingJob, but every job it
creates is Completed at once and it keeps no ProcessingResources or Environment: the request as sent is read from the
recorded-answer stand-in's log of calls (tests/recorded_sagemaker.py, forwarding to moto), and the states moto
cannot play (running, Failed, Stopped) are in test_cloud_process_recorded.py."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from smctl.errors import ExitCode
from tests.helpers import CLOUD_ROLE, TRAIN_IMAGE, cloud_project

IMAGE = TRAIN_IMAGE
ROLE = CLOUD_ROLE
BUCKET = "sagemaker-us-east-1-123456789012"  # the SDK's default bucket for moto's account
GROUP = "/aws/sagemaker/ProcessingJobs"


@pytest.fixture
def project(tmp_path, aws_env):
    return cloud_project(tmp_path, IMAGE, {"data/raw/a.csv": f"1,2\n# {tmp_path}\n", "data/raw/sub/b.csv": "3,4\n",
                                           "preprocess.py": f"print('hello')  # {tmp_path}\n"})


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12}"  # moto's state lasts the session: names never repeat


def _bucket(name: str) -> str:
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    return name


def _seed_logs(job: str, hosts: int, lines: int = 3) -> None:
    logs = boto3.client("logs")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=GROUP)
    now = int(time.time() * 1000)
    for h in range(1, hosts + 1):
        stream = f"{job}/algo-{h}-1700000000"
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream,
                            logEvents=[{"timestamp": now + i, "message": f"host {h} step {i}"} for i in range(lines)])


def _keys(uri: str) -> dict[str, bytes]:
    bucket, _, prefix = uri[5:].partition("/")
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_process_creates_the_job_streams_its_logs_and_brings_local_outputs_home(smctl, project):
    job = _unique("prep")
    _seed_logs(job, hosts=2)
    # What the job's container would have written: SageMaker uploads it to the output's S3Uri at the end.
    s3 = boto3.client("s3")
    _bucket(BUCKET)
    staged = f"smctl/processing-output/{job}/features/"
    s3.put_object(Bucket=BUCKET, Key=staged + "train.csv", Body=b"f1,f2\n")
    s3.put_object(Bucket=BUCKET, Key=staged + "sub/test.csv", Body=b"f3\n")
    res = smctl("--json", "process", "--image", IMAGE, "--role", ROLE, "--job-name", job, "--code", "preprocess.py",
                "--input", "raw=data/raw", "--output", "features=out/features", "--instance-count", "2",
                "--", "--split", "0.2", cwd=project)
    assert res.exit_code == 0, res.stderr
    d = boto3.client("sagemaker").describe_processing_job(ProcessingJobName=job)
    assert d["AppSpecification"] == {"ImageUri": IMAGE, "ContainerArguments": ["--split", "0.2"],
                                     "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"]}
    inputs = {i["InputName"]: i["S3Input"] for i in d["ProcessingInputs"]}
    assert inputs["raw"]["LocalPath"] == "/opt/ml/processing/input/raw"
    assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
    # The local folder and the script were uploaded where the request points, every file under its relative key.
    assert inputs["raw"]["S3Uri"].startswith(f"s3://{BUCKET}/smctl/processing-input/raw/")
    assert _keys(inputs["raw"]["S3Uri"]) == {"a.csv": (project / "data/raw/a.csv").read_bytes(),
                                             "sub/b.csv": b"3,4\n"}
    assert _keys(inputs["code"]["S3Uri"]) == {"preprocess.py": (project / "preprocess.py").read_bytes()}
    (out,) = d["ProcessingOutputConfig"]["Outputs"]
    assert out["S3Output"]["S3Uri"] == f"s3://{BUCKET}/{staged}"
    # Each host's log, in order, prefixed by its host as local-process prefixes it.
    lines = [line for line in res.stderr.splitlines() if " | host " in line]
    assert lines == [f"algo-{h} | host {h} step {i}" for h in (1, 2) for i in range(3)]
    # The outputs, where a local run delivers them, each file whole.
    folder = project / "out" / "features"
    assert (folder / "train.csv").read_bytes() == b"f1,f2\n" and (folder / "sub" / "test.csv").read_bytes() == b"f3\n"
    assert not list(folder.rglob("*.part"))
    assert res.json["result"]["status"] == "Completed"
    assert res.json["result"]["outputs"] == {"features": {"destination": str(folder), "files": 2}}


def test_unchanged_inputs_are_not_uploaded_twice(smctl, project):
    argv = ["process", "--image", IMAGE, "--role", ROLE, "--input", "raw=data/raw", "--no-wait"]
    first = smctl(*argv, cwd=project)
    assert first.exit_code == 0, first.stderr
    assert "raw: uploading" in first.stderr
    second = smctl(*argv, cwd=project)
    assert second.exit_code == 0, second.stderr
    assert "already (unchanged)" in second.stderr and "raw: uploading" not in second.stderr


# Every option of `smctl process`, and the options local-process shares with it.
SHARED = {
    "--image": [IMAGE], "--code": ["preprocess.py"], "--entrypoint": ["python3 -u"],
    "--input": ["raw=data/raw,local_path=/opt/ml/processing/raw,distribution=ShardedByS3Key",
                "lookup=s3://smctl-proc-in/lookup/,mode=Pipe,compression=Gzip"],
    "--output": ["features=out/features,local_path=/opt/ml/processing/features,upload=Continuous",
                 "report=s3://smctl-proc-out/report/"],
    "--instance-type": ["ml.c5.xlarge"], "--instance-count": ["2"], "--env": ["LEVEL=debug", "SEED=7"],
    "--max-runtime": ["3600"], "--role": [ROLE], "--region": ["us-east-1"],
}
CLOUD_ONLY = {
    "--bucket": ["smctl-proc-up"], "--volume-size": ["50"], "--volume-kms-key": ["alias/volume"],
    "--output-kms-key": ["alias/output"], "--subnet": ["subnet-1"], "--security-group": ["sg-1"],
    "--tag": ["team=ml"], "--no-wait": [],
}
ARGUMENTS = ["--", "--split", "0.2"]  # ContainerArguments (--args "..." is the other spelling: checked below)


def _argv(options: dict[str, list[str]]) -> list[str]:
    return [a for option, values in options.items() for a in ([option] if not values else
                                                                [x for v in values for x in (option, v)])]


def _long_options(command: str) -> set[str]:
    import typer

    from smctl.cli.app import app

    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {o for p in cmd.params for o in p.opts if o.startswith("--")}


def test_every_option_makes_the_request_local_process_describes_to_its_container(smctl, project,
                                                                                 recorded_sagemaker):
    # --job-name is given too; --args is ARGUMENTS' other spelling; --push and --dry-run are the dry run's below.
    assert set(SHARED) | set(CLOUD_ONLY) | {"--job-name", "--args", "--push", "--dry-run"} == _long_options("process")
    job = _unique("every")
    for name in ("smctl-proc-in", "smctl-proc-out", "smctl-proc-up"):
        _bucket(name)
    boto3.client("s3").put_object(Bucket="smctl-proc-in", Key="lookup/table.csv.gz", Body=b"gz")
    res = smctl("--json", "process", *_argv(SHARED), *_argv(CLOUD_ONLY), "--job-name", job, *ARGUMENTS, cwd=project)
    assert res.exit_code == 0, res.stderr
    (sent,) = [body for op, body in recorded_sagemaker.calls if op == "CreateProcessingJob"]
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(sent, model.operation_model("CreateProcessingJob").input_shape)
    assert not report.has_errors(), report.generate_report()

    local = smctl("--json", "local-process", *_argv(SHARED), "--job-name", job, "--dry-run", *ARGUMENTS, cwd=project)
    assert local.exit_code == 0, local.stderr
    hosts = local.json["result"]["hosts"]
    configs = [json.loads(h["config_files"]["processingjobconfig.json"]) for h in hosts]
    assert len(configs) == 2 and configs[0] == configs[1]  # every host sees the one request
    seen = configs[0]

    for key in ("ProcessingJobName", "AppSpecification", "Environment", "StoppingCondition", "RoleArn"):
        assert sent[key] == seen[key], key
    assert sent["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-u",
                                                               "/opt/ml/processing/input/code/preprocess.py"]
    assert sent["AppSpecification"]["ContainerArguments"] == ["--split", "0.2"]
    # Resources: the same instances; the volume is the cloud's own (--volume-size, --volume-kms-key).
    sent_cluster, seen_cluster = sent["ProcessingResources"]["ClusterConfig"], seen["ProcessingResources"][
        "ClusterConfig"]
    assert {k: sent_cluster[k] for k in ("InstanceCount", "InstanceType")} == {
        k: seen_cluster[k] for k in ("InstanceCount", "InstanceType")} == {"InstanceCount": 2,
                                                                          "InstanceType": "ml.c5.xlarge"}
    assert sent_cluster["VolumeSizeInGB"] == 50 and sent_cluster["VolumeKmsKeyId"] == "alias/volume"
    assert seen_cluster["VolumeSizeInGB"] == 30  # local-process has no volume: SageMaker's default shown
    # Network: the same flags; the VPC is the cloud's own.
    assert {k: v for k, v in sent["NetworkConfig"].items() if k != "VpcConfig"} == seen["NetworkConfig"]
    assert sent["NetworkConfig"]["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert sent["Tags"] == [{"Key": "team", "Value": "ml"}]
    # Inputs and outputs: every field the same but where a local folder's files are (S3 here, file:// there).
    for kind, items, io in (("ProcessingInputs", lambda r: r["ProcessingInputs"], "S3Input"),
                            ("ProcessingOutputConfig", lambda r: r["ProcessingOutputConfig"]["Outputs"], "S3Output")):
        name_key = "InputName" if io == "S3Input" else "OutputName"
        sent_items = {i[name_key]: i for i in items(sent)}
        seen_items = {i[name_key]: i for i in items(seen)}
        assert sent_items.keys() == seen_items.keys(), kind
        for name in sent_items:
            a, b = dict(sent_items[name][io]), dict(seen_items[name][io])
            uri_sent, uri_seen = a.pop("S3Uri"), b.pop("S3Uri")
            assert a == b and sent_items[name]["AppManaged"] == seen_items[name]["AppManaged"], (kind, name)
            if uri_seen.startswith("s3://"):
                assert uri_sent == uri_seen
            else:
                assert uri_seen.startswith("file:///") and uri_sent.startswith("s3://smctl-proc-up/smctl/processing-")
    inputs = {i["InputName"]: i["S3Input"] for i in sent["ProcessingInputs"]}
    assert inputs["raw"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert inputs["raw"]["LocalPath"] == "/opt/ml/processing/raw"
    assert inputs["lookup"]["S3InputMode"] == "Pipe" and inputs["lookup"]["S3CompressionType"] == "Gzip"
    assert sorted(_keys(inputs["raw"]["S3Uri"])) == ["a.csv", "sub/b.csv"]
    outputs = {o["OutputName"]: o["S3Output"] for o in sent["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["features"]["S3Uri"] == f"s3://smctl-proc-up/smctl/processing-output/{job}/features/"
    assert outputs["features"]["S3UploadMode"] == "Continuous"
    assert outputs["report"]["S3Uri"] == "s3://smctl-proc-out/report/"
    assert sent["ProcessingOutputConfig"]["KmsKeyId"] == "alias/output"
    # local-process --dry-run --json shows this request too (sagemaker_request): the same but where only the cloud
    # knows (placeholders for uploads and staging, SageMaker's default volume, no cloud-only fields).
    shown = local.json["result"]["sagemaker_request"]
    assert {k: shown[k] for k in ("AppSpecification", "Environment", "StoppingCondition", "RoleArn")} == {
        k: sent[k] for k in ("AppSpecification", "Environment", "StoppingCondition", "RoleArn")}

    # The dry run (with --push, which then pushes nothing) prints the same request, placeholders where uploads go.
    dry = smctl("--json", "process", *_argv(SHARED), *_argv(CLOUD_ONLY), "--job-name", job, "--push", "--dry-run",
                *ARGUMENTS, cwd=project)
    assert dry.exit_code == 0, dry.stderr
    request = dry.json["result"]["request"]
    assert {k: v for k, v in request.items() if k not in ("ProcessingInputs", "ProcessingOutputConfig")} == {
        k: v for k, v in sent.items() if k not in ("ProcessingInputs", "ProcessingOutputConfig")}
    dry_inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}
    assert dry_inputs["raw"] == f"<uploaded from {project / 'data' / 'raw'}>"
    assert dry_inputs["lookup"] == "s3://smctl-proc-in/lookup/"


def test_args_is_the_other_spelling_of_the_arguments_after_the_double_dash(smctl, project):
    a = smctl("--json", "process", "--image", IMAGE, "--role", ROLE, "--job-name", "args-1", "--args", "--split 0.2",
              "--dry-run", cwd=project)
    b = smctl("--json", "process", "--image", IMAGE, "--role", ROLE, "--job-name", "args-1", "--dry-run", "--",
              "--split", "0.2", cwd=project)
    assert a.exit_code == b.exit_code == 0, a.stderr + b.stderr
    assert a.json["result"]["request"] == b.json["result"]["request"]
    assert a.json["result"]["request"]["AppSpecification"]["ContainerArguments"] == ["--split", "0.2"]


def test_smctl_toml_process_table_feeds_the_cloud_request(smctl, project):
    with (project / "smctl.toml").open("a") as f:
        f.write('[process]\nimage = "' + IMAGE + '"\ninstance_type = "ml.m5.large"\nmax_runtime = 600\n'
                'code = "preprocess.py"\n[process.inputs]\nraw = "data/raw,distribution=ShardedByS3Key"\n'
                '[process.outputs]\nfeatures = "out/features,upload=Continuous"\n[process.environment]\nMODE = "x"\n')
    res = smctl("--json", "process", "--role", ROLE, "--job-name", "toml-1", "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    request = res.json["result"]["request"]
    assert request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.large"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert request["Environment"] == {"MODE": "x"}
    inputs = {i["InputName"]: i["S3Input"] for i in request["ProcessingInputs"]}
    assert inputs["raw"]["S3DataDistributionType"] == "ShardedByS3Key" and "code" in inputs
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] == "Continuous"


def test_jobs_logs_and_stop_know_a_processing_job(smctl, project):
    job = _unique("listed")
    _seed_logs(job, hosts=1, lines=2)
    res = smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", job, "--no-wait", cwd=project)
    assert res.exit_code == 0, res.stderr
    listed = smctl("--json", "jobs", cwd=project)
    assert listed.exit_code == 0, listed.stderr
    (row,) = [r for r in listed.json["result"]["jobs"] if r["name"] == job]
    assert row["kind"] == "processing job" and row["status"] == "Completed"  # moto completes every job at once
    logs = smctl("logs", job, "--cloud", cwd=project)
    assert logs.exit_code == 0, logs.stderr
    assert "algo-1 | host 1 step 0" in logs.stdout + logs.stderr and "host 1 step 1" in logs.stdout + logs.stderr
    stop = smctl("stop", job, "--yes", cwd=project)  # it has ended: nothing to stop
    assert stop.exit_code == ExitCode.USAGE
    assert f"the processing job {job} has already ended: Completed" in stop.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--image", IMAGE], "needs an execution role"),
    (["--image", "prep:v1", "--role", ROLE], "its images come from Amazon ECR"),
    (["--image", IMAGE, "--role", ROLE, "--instance-type", "ml.c5.large"], "not a SageMaker processing instance"),
    (["--image", IMAGE, "--role", ROLE, "--instance-type", "ml.inf1.xlarge"], "not for processing"),
    (["--image", IMAGE, "--role", ROLE, "--input", "gone=s3://smctl-proc-in/nothing-here/"], "nothing is stored"),
    (["--image", IMAGE, "--role", ROLE, "--input", "raw=data/raw,local_path=/data"], "is not under"),
    (["--image", IMAGE, "--role", ROLE, "--code", "missing.py"], "is not a file"),
    (["--image", IMAGE, "--role", ROLE, "--env", "BAD-KEY=1"], "BAD-KEY"),
    (["--image", IMAGE, "--role", ROLE, "--volume-size", "0"], "--volume-size"),
])
def test_what_sagemaker_would_refuse_is_refused_before_anything_is_created(smctl, project, args, words):
    _bucket("smctl-proc-in")
    res = smctl("process", *args, "--job-name", "refused-1", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr and "Hint:" in res.stderr
    names = [j["ProcessingJobName"] for j in
             boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]]
    assert "refused-1" not in names


def test_a_job_name_taken_is_a_usage_error(smctl, project):
    name = _unique("taken")
    assert smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", name, "--no-wait",
                 cwd=project).exit_code == 0
    res = smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", name, "--no-wait", cwd=project)
    assert res.exit_code == ExitCode.USAGE
    assert "exists already" in res.stderr and "--job-name" in res.stderr


def test_an_unwritable_output_folder_is_refused_before_anything_is_uploaded(smctl, project):
    blocked = project / "blocked"
    blocked.write_text("a file where the folder would go")
    res = smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", "blocked-1", "--input", "raw=data/raw",
                "--output", "features=blocked/features", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "output 'features'" in res.stderr and "uploading" not in res.stderr
    assert Path(blocked).read_text() == "a file where the folder would go"


def test_file_mode_inputs_larger_than_the_volume_are_refused_with_the_size_that_fits(smctl, project):
    big = project / "big"
    big.mkdir()
    with open(big / "sparse.bin", "wb") as f:  # 2 GiB that take no disk: st_size is what is counted
        f.truncate(2 << 30)
    res = smctl("process", "--image", IMAGE, "--role", ROLE, "--job-name", "big-1", "--input", "big=big",
                "--volume-size", "1", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "more than the 1 GB ML storage volume" in res.stderr and "--volume-size 4" in res.stderr
    assert "uploading" not in res.stderr
