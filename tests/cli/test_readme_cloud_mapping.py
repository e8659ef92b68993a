"""The README's option -> API field tables ("What each option becomes in the API") cannot drift from the code: every
long option of `smctl train`, `deploy`, `transform` and `process` has a row in its command's table, every option a
table names exists, and every API field a table names is in the request the command really makes: train's and
process's `--dry-run` request for a run that uses every option, and what moto's SageMaker received from real deploy
and transform runs."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import typer

from smctl.cli.app import app
from tests.helpers import seed_sagemaker_account

README = Path(__file__).resolve().parents[2] / "README.md"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:v1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
# A field path as the tables write it: `ResourceConfig.InstanceType`, `InputDataConfig[].ShuffleConfig.Seed`, with
# the operation first where a command makes several requests (`CreateModel.PrimaryContainer.Image`).
FIELD = re.compile(r"[A-Z][A-Za-z0-9]*(?:\[\])?(?:\.[A-Z][A-Za-z0-9]*(?:\[\])?)*")
OPERATIONS = {"CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "CreateTransformJob",
              "CreateProcessingJob"}
DEFAULT_OPERATION = {"train": "CreateTrainingJob", "deploy": None, "transform": "CreateTransformJob",
                     "process": "CreateProcessingJob"}


def mapping_rows(command: str) -> list[tuple[str, str]]:
    """(option cell, field cell) of each row of the table under the heading "#### `smctl COMMAND` -> ..."."""
    text = README.read_text()
    heading = re.search(rf"^#### `smctl {command}` -> .*$", text, flags=re.M)
    assert heading, f"README.md has no mapping table heading for smctl {command}"
    rows: list[tuple[str, str]] = []
    in_table = False
    for line in text[heading.end():].splitlines():
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            assert len(cells) == 2, f"a row of smctl {command}'s table has {len(cells)} cells: {line}"
            if cells[0] != "---" and not cells[0].startswith("option"):
                rows.append((cells[0], cells[1]))
        elif in_table or line.startswith("#"):
            break
    assert rows, f"no table under smctl {command}'s heading"
    return rows


def long_options(command: str) -> set[str]:
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {o for p in cmd.params for o in p.opts if o.startswith("--")}


def fields_named(command: str) -> list[str]:
    return [f for _, right in mapping_rows(command) for f in re.findall(r"`([^`]+)`", right) if FIELD.fullmatch(f)]


def has_field(doc: Any, path: str) -> bool:
    """Whether `path` leads to a value in `doc`; `X[]` is a non-empty list, any of whose items may go on."""
    head, _, rest = path.partition(".")
    key = head.removesuffix("[]")
    if not isinstance(doc, dict) or key not in doc:
        return False
    value = doc[key]
    if head.endswith("[]"):
        return isinstance(value, list) and bool(value) and (not rest or any(has_field(v, rest) for v in value))
    return not rest or has_field(value, rest)


def missing_fields(command: str, requests: dict[str, list[dict[str, Any]]]) -> list[str]:
    missing = []
    for path in fields_named(command):
        operation, _, rest = path.partition(".")
        if operation not in OPERATIONS or not rest:
            operation, rest = DEFAULT_OPERATION[command] or "", path
        if not any(has_field(doc, rest) for doc in requests.get(operation, [])):
            missing.append(path)
    return missing


@pytest.mark.parametrize("command", ["train", "deploy", "transform", "process"])
def test_every_option_of_the_command_has_a_row_in_its_table(command):
    shown = " ".join(left for left, _ in mapping_rows(command))
    absent = sorted(o for o in long_options(command) if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", shown))
    assert not absent, f"README.md's smctl {command} table lacks {absent}"


@pytest.mark.parametrize("command", ["train", "deploy", "transform", "process"])
def test_every_option_a_table_names_exists(command):
    named = {o for left, _ in mapping_rows(command) for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", left)}
    assert named <= long_options(command), f"not options of smctl {command}: {sorted(named - long_options(command))}"


@pytest.mark.parametrize("command", ["train", "deploy", "transform", "process"])
def test_the_tables_name_fields(command):
    assert len(fields_named(command)) >= 10  # the field pattern still finds the table's fields


@pytest.fixture
def project(tmp_path, aws_env):
    seed_sagemaker_account(ROLE, IMAGE)  # the role and the image the preflight asks IAM and ECR for
    (tmp_path / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    for folder in ("data", "model"):
        (tmp_path / folder).mkdir()
    (tmp_path / "data" / "a.csv").write_text(f"1,2\n# {tmp_path}\n")  # moto's S3 lives all session: unique content
    (tmp_path / "model" / "weights.bin").write_text(str(tmp_path))
    (tmp_path / "hps.json").write_text('{"depth": 3, "warm": true}')
    return tmp_path


def argv_of(options: dict[str, list[str]]) -> list[str]:
    return [a for option, values in options.items() for a in ([option] if not values else
                                                                [x for v in values for x in (option, v)])]


TRAIN_OPTIONS = {
    "--image": [IMAGE], "--hp": ["lr=0.1"], "--hyperparameters": ["hps.json"],
    "--channel": ["training=data,content_type=text/csv,mode=Pipe,distribution=ShardedByS3Key,record_wrapper=RecordIO,"
                  "compression=Gzip,shuffle_seed=7", "extra=s3://bucket-extra/x/"],
    "--instance-type": ["ml.c5.xlarge"], "--instance-count": ["2"], "--env": ["MODE=full"], "--job-name": ["map-1"],
    "--entrypoint": ["python -m train"], "--args": ["--epochs 3"], "--hp-encoding": ["str"], "--region": ["us-east-1"],
    "--role": [ROLE], "--output-path": ["s3://bucket-out/p/"], "--bucket": ["bucket-up"],
    "--checkpoint-s3": ["s3://bucket-ck/p/"], "--max-runtime": ["3600"], "--spot": [], "--max-wait": ["7200"],
    "--volume-size": ["50"], "--volume-kms-key": ["alias/volume"], "--output-kms-key": ["alias/output"],
    "--subnet": ["subnet-1"], "--security-group": ["sg-1"], "--tag": ["team=ml"], "--metric": ["loss=loss: ([0-9.]+)"],
    "--no-wait": [], "--push": [], "--dry-run": [],  # with --dry-run, --push pushes nothing
}


def test_every_field_the_train_table_names_is_in_the_request_train_makes(smctl, project):
    assert set(TRAIN_OPTIONS) == long_options("train"), "the run below must use every option of smctl train"
    res = smctl("--json", "train", *argv_of(TRAIN_OPTIONS), cwd=project)
    assert res.exit_code == 0, res.stderr
    request = res.json["result"]["request"]
    assert missing_fields("train", {"CreateTrainingJob": [request]}) == []


PROCESS_OPTIONS = {
    "--image": [IMAGE], "--code": ["hps.json"], "--entrypoint": ["python3 -u"], "--args": ["--split 0.2"],
    "--input": ["raw=data,local_path=/opt/ml/processing/raw,mode=Pipe,distribution=ShardedByS3Key,compression=Gzip"],
    "--output": ["out=results,local_path=/opt/ml/processing/out,upload=Continuous"],
    "--instance-type": ["ml.c5.xlarge"], "--instance-count": ["2"], "--env": ["MODE=full"], "--max-runtime": ["3600"],
    "--job-name": ["map-p-1"], "--region": ["us-east-1"], "--role": [ROLE], "--bucket": ["bucket-up"],
    "--volume-size": ["50"], "--volume-kms-key": ["alias/volume"], "--output-kms-key": ["alias/output"],
    "--subnet": ["subnet-1"], "--security-group": ["sg-1"], "--tag": ["team=ml"], "--no-wait": [], "--push": [],
    "--dry-run": [],  # with --dry-run, --push pushes nothing
}


def test_every_field_the_process_table_names_is_in_the_request_process_makes(smctl, project):
    assert set(PROCESS_OPTIONS) == long_options("process"), "the run below must use every option of smctl process"
    res = smctl("--json", "process", *argv_of(PROCESS_OPTIONS), cwd=project)
    assert res.exit_code == 0, res.stderr
    request = res.json["result"]["request"]
    assert missing_fields("process", {"CreateProcessingJob": [request]}) == []


def _described(sm: Any, operation: str, name: str, *, tags: bool = False) -> dict[str, Any]:
    """What moto's SageMaker holds for a resource smctl created (with its tags: ListTags), as the request's fields."""
    call, param, arn_key = {"CreateModel": ("describe_model", "ModelName", "ModelArn"),
                            "CreateEndpointConfig": ("describe_endpoint_config", "EndpointConfigName",
                                                     "EndpointConfigArn"),
                            "CreateEndpoint": ("describe_endpoint", "EndpointName", "EndpointArn"),
                            "CreateTransformJob": ("describe_transform_job", "TransformJobName", "TransformJobArn")
                            }[operation]
    doc = dict(getattr(sm, call)(**{param: name}))
    found = sm.list_tags(ResourceArn=doc[arn_key])["Tags"] if tags else []  # moto's ListTags of a transform job fails
    return {**doc, **({"Tags": found} if found else {})}


def test_every_field_the_deploy_table_names_is_in_what_sagemaker_received(smctl, project):
    bucket = f"smctl-map-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    (project / "archives").mkdir()
    (project / "archives" / "m1.tar.gz").write_text(f"m1 of {project}")
    sm = boto3.client("sagemaker")
    requests: dict[str, list[dict[str, Any]]] = {}
    common = ["--role", ROLE, "--env", "MODE=live", "--region", "us-east-1", "--bucket", bucket, "--variant", "Blue",
              "--tag", "team=ml", "--no-wait"]
    single = ["--image", IMAGE, "--model", "model"]
    pipeline = ["--container", f"{IMAGE},model=model,env=STEP=1,hostname=prep", "--container",
                f"{IMAGE},hostname=predict", "--direct"]
    runs = [[*single, "--instance-type", "ml.m5.large", "--instance-count", "2", "--startup-timeout", "600",
             "--data-capture", f"s3://{bucket}/capture/", "--async-output", f"s3://{bucket}/out/",
             "--async-failure", f"s3://{bucket}/errors/", "--async-max-concurrency", "2"],
            [*single, "--serverless-memory", "2048", "--serverless-concurrency", "3"],
            ["--image", IMAGE, "--multi-model", "archives"],
            pipeline]
    for extra in runs:
        name = f"map-{uuid.uuid4().hex[:10]}"
        res = smctl("--json", "deploy", *common, *extra, "--name", name, cwd=project)
        assert res.exit_code == 0, res.stderr
        made = res.json["result"]
        for operation, key in (("CreateModel", made["model"]), ("CreateEndpointConfig", made["config"]),
                               ("CreateEndpoint", name)):
            requests.setdefault(operation, []).append(_described(sm, operation, key, tags=True))
    # moto's CreateModel keeps no InferenceExecutionConfig: that field is taken from the dry run of the same
    # options, whose request the real run above sent (and botocore validated) as it is.
    dry = smctl("--json", "deploy", *common, *pipeline, "--dry-run", cwd=project)
    assert dry.exit_code == 0, dry.stderr
    requests["CreateModel"].append({"InferenceExecutionConfig": dry.json["result"]["requests"]["CreateModel"][
        "InferenceExecutionConfig"]})
    assert missing_fields("deploy", requests) == []


def test_every_field_the_transform_table_names_is_in_what_sagemaker_received(smctl, project):
    bucket = f"smctl-map-{uuid.uuid4().hex[:10]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    res = smctl("--json", "transform", "--image", IMAGE, "--role", ROLE, "--model", "model", "--input", "data",
                "--output", f"s3://{bucket}/results/", "--content-type", "text/csv", "--accept", "text/csv",
                "--split-type", "Line", "--strategy", "MultiRecord", "--max-payload", "6", "--max-concurrent", "2",
                "--assemble-with", "Line", "--input-filter", "$[1:]", "--output-filter", "$[0]", "--join-source",
                "Input", "--compression", "Gzip", "--timeout", "120", "--retries", "1", "--env", "MODE=batch",
                "--instance-count", "2", "--region", "us-east-1", "--bucket", bucket, "--no-wait", cwd=project)
    assert res.exit_code == 0, res.stderr
    sm = boto3.client("sagemaker")
    job = _described(sm, "CreateTransformJob", res.json["result"]["job_name"])
    model = _described(sm, "CreateModel", job["ModelName"])
    assert missing_fields("transform", {"CreateTransformJob": [job], "CreateModel": [model]}) == []


def test_a_field_the_code_does_not_send_is_caught():
    request = json.loads('{"ResourceConfig": {"InstanceType": "ml.m5.large"}, "Tags": [{"Key": "k", "Value": "v"}]}')
    assert has_field(request, "ResourceConfig.InstanceType") and has_field(request, "Tags[].Value")
    assert not has_field(request, "ResourceConfig.VolumeSizeInGB") and not has_field(request, "Tags[].Name")
    assert not has_field(request, "ResourceConfig[]")
