"""Processing jobs' rules and plan, without an engine: CreateProcessingJob's limits and the container's view."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from smctl.contract import processing as contract
from smctl.contract.location import Location
from smctl.errors import UsageError
from smctl.processing.plan import ProcessingJob, plan_processing
from smctl.processing.specs import parse_input, parse_output


def _job(tmp_path: Path, *, inputs=(), outputs=(), **kw) -> ProcessingJob:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.csv").write_text("1\n")
    return ProcessingJob(image="proc:1", project_root=tmp_path, job_name="p1",
                         inputs=tuple(parse_input(i, tmp_path) for i in inputs),
                         outputs=tuple(parse_output(o, tmp_path) for o in outputs), **kw)


def test_inputs_and_outputs_default_under_opt_ml_processing(tmp_path):
    plan = plan_processing(_job(tmp_path, inputs=["raw=data"], outputs=["out=results"]))
    config = json.loads(plan.hosts[0].config_files["processingjobconfig.json"])
    assert config["ProcessingInputs"][0]["S3Input"]["LocalPath"] == "/opt/ml/processing/input/raw"
    assert config["ProcessingInputs"][0]["S3Input"]["S3Uri"] == (tmp_path / "data").as_uri()
    assert config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"] == {
        "LocalPath": "/opt/ml/processing/output/out", "S3Uri": (tmp_path / "results").as_uri(),
        "S3UploadMode": "EndOfJob"}
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert config["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    targets = {m.target: m for m in plan.hosts[0].container.mounts}
    assert targets["/opt/ml/processing/input/raw"].overlay is not None  # a writable copy, the source untouched
    assert targets["/opt/ml/config"].read_only


@pytest.mark.parametrize("item, words", [
    ("raw=data,local_path=/opt/ml/input/raw", "is not under /opt/ml/processing/"),
    ("raw=data,local_path=/opt/ml/processing", "is not under /opt/ml/processing/"),
    ("raw=data,local_path=/opt/ml/processing/../x", "is not under /opt/ml/processing/"),
    ("raw=data,mode=FastFile", "mode 'FastFile' is not valid"),
    ("raw=data,compression=Gzip", "compression Gzip needs mode=Pipe"),
    ("bad_name=data", "input name 'bad_name' is not valid"),
])
def test_bad_inputs_are_refused_naming_the_fix(tmp_path, item, words):
    with pytest.raises(UsageError) as err:
        plan_processing(_job(tmp_path, inputs=[item]))
    assert words in err.value.message
    assert err.value.hint


def test_two_inputs_on_one_path_or_nested_are_refused(tmp_path):
    with pytest.raises(UsageError, match="overlaps input 'a'"):
        plan_processing(_job(tmp_path, inputs=["a=data,local_path=/opt/ml/processing/x",
                                               "b=data,local_path=/opt/ml/processing/x"]))
    with pytest.raises(UsageError, match="overlaps input 'a'"):
        plan_processing(_job(tmp_path, inputs=["a=data,local_path=/opt/ml/processing/x"],
                             outputs=["o=out,local_path=/opt/ml/processing/x/y"]))


def test_environment_follows_processing_limits(tmp_path):
    with pytest.raises(UsageError, match="'MY-KEY' is not valid"):
        plan_processing(_job(tmp_path, environment={"MY-KEY": "1"}))
    with pytest.raises(UsageError, match="SageMaker allows 256"):
        plan_processing(_job(tmp_path, environment={"K": "x" * 257}))
    assert plan_processing(_job(tmp_path, environment={"K": "x" * 256})).request["Environment"] == {"K": "x" * 256}


def test_max_runtime_is_bounded(tmp_path):
    with pytest.raises(UsageError, match="out of range"):
        plan_processing(_job(tmp_path, max_runtime=0))
    with pytest.raises(UsageError, match="out of range"):
        plan_processing(_job(tmp_path, max_runtime=contract.MAX_RUNTIME + 1))


def test_code_is_staged_as_input_code_and_run_with_python3(tmp_path):
    script = tmp_path / "preprocessing.py"
    script.write_text("print(1)\n")
    plan = plan_processing(_job(tmp_path, code=script, arguments=["--ratio", "0.2"]))
    app = plan.request["AppSpecification"]
    assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/preprocessing.py"]
    assert app["ContainerArguments"] == ["--ratio", "0.2"]
    code = plan.request["ProcessingInputs"][0]
    assert code["InputName"] == "code" and code["S3Input"]["LocalPath"] == "/opt/ml/processing/input/code"
    mount = next(m for m in plan.hosts[0].container.mounts if m.target == "/opt/ml/processing/input/code")
    assert mount.source == plan.run_dir / "algo-1" / "single" / "code"


def test_two_hosts_share_a_network_and_each_sees_itself_in_resourceconfig(tmp_path):
    plan = plan_processing(_job(tmp_path, instance_count=2, inputs=["raw=data,distribution=ShardedByS3Key"]))
    assert plan.network == "smctl-p1"
    assert [json.loads(h.config_files["resourceconfig.json"]) for h in plan.hosts] == [
        {"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]},
        {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}]
    mount = next(m for m in plan.hosts[1].container.mounts if m.target == "/opt/ml/processing/input/raw")
    assert mount.source == plan.run_dir / "algo-2" / "shards" / "raw"
    assert all(h.holder is not None for h in plan.hosts)


def test_s3_input_keeps_its_uri_and_mounts_the_cache_mirror(tmp_path):
    job = _job(tmp_path, inputs=["raw=s3://bucket/prefix/"])
    plan = plan_processing(job)
    assert plan.request["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://bucket/prefix/"
    mount = next(m for m in plan.hosts[0].container.mounts if m.target == "/opt/ml/processing/input/raw")
    assert mount.source == tmp_path / ".smctl" / "cache" / "s3" / "bucket" / "prefix"
    assert isinstance(job.inputs[0].source, Location)


def test_exit_message_is_concatenated_cut_to_1kb_and_must_be_utf8():
    assert contract.exit_message([]) == (None, None)
    assert contract.exit_message([b"a", b"b"]) == ("ab", None)
    assert contract.exit_message([b"x" * 2000]) == ("x" * 1024, None)
    assert contract.exit_message(["é".encode() * 600]) == ("é" * 512, None)  # never half a character
    assert contract.exit_message([b"caf\xe9"]) == (None, "ClientError: /opt/ml/output/message is not UTF-8 text")


def test_options_parse_into_the_request(tmp_path):
    i = parse_input("raw=data,local_path=/opt/ml/processing/r,distribution=ShardedByS3Key", tmp_path)
    assert i.config == contract.InputConfig("raw", PurePosixPath("/opt/ml/processing/r"),
                                            distribution="ShardedByS3Key")
    o = parse_output("out=s3://my-bucket/p/,upload=Continuous", tmp_path)
    assert o.config.upload_mode == "Continuous" and o.destination.uri == "s3://my-bucket/p/"
    with pytest.raises(UsageError, match="option 'shuffle_seed=1' is not known"):
        parse_input("raw=data,shuffle_seed=1", tmp_path)
    with pytest.raises(UsageError, match="is not NAME=PATH"):
        parse_output("results", tmp_path)


def test_the_config_the_container_sees_is_a_create_processing_job_request_botocore_accepts(tmp_path):
    import botocore.session
    from botocore.validate import ParamValidator

    script = tmp_path / "run.py"
    script.write_text("print(1)\n")
    plan = plan_processing(_job(tmp_path, inputs=["raw=s3://my-bucket/in/,distribution=ShardedByS3Key"],
                                outputs=["out=s3://my-bucket/out/,upload=Continuous"], code=script,
                                arguments=["--a"], environment={"A": "1"}, instance_count=2, max_runtime=600))
    request = {k: v for k, v in plan.request.items() if k != "ProcessingJobArn"}
    request["RoleArn"] = "arn:aws:iam::123456789012:role/R"
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(request, model.operation_model("CreateProcessingJob").input_shape)
    assert not report.has_errors(), report.generate_report()


def test_outputs_are_delivered_whole_or_not_at_all(tmp_path):
    from smctl.processing.outputs import Delivery

    plan = plan_processing(_job(tmp_path, outputs=["out=results"], instance_count=2))
    for host in plan.hosts:
        (host.root / "outputs" / "out" / "sub").mkdir(parents=True)
        (host.root / "outputs" / "out" / f"{host.host}.txt").write_text(host.host)
    (plan.hosts[0].root / "outputs" / "out" / "sub" / "x.txt").write_text("x")
    events: list = []
    delivery = Delivery(plan, lambda kind, data: events.append((kind, data)))
    delivery.sync(plan.job.outputs)
    results = tmp_path / "results"
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file()) == [
        "algo-1.txt", "algo-2.txt", "sub/x.txt"]
    assert delivery.delivered == {"out": 3}
    delivery.sync(plan.job.outputs)  # nothing changed: nothing sent again
    assert delivery.delivered == {"out": 3}
    # a destination that cannot take the file: a clear error, and no temporary file left behind
    (plan.hosts[0].root / "outputs" / "out" / "blocked").write_text("new")
    (results / "blocked").mkdir()
    (results / "blocked" / "keep").write_text("k")
    with pytest.raises(UsageError, match="output 'out': cannot write") as err:
        delivery.sync(plan.job.outputs)
    assert "--output out=PATH" in (err.value.hint or "")
    assert not [p for p in results.rglob("*.partial")]
    assert (results / "blocked" / "keep").read_text() == "k"


def test_instance_types_create_processing_job_refuses_are_refused():
    import botocore.session

    from smctl.contract.instances import INSTANCE_TYPES, NOT_OFFERED

    model = botocore.session.get_session().get_service_model("sagemaker")
    offered = set(model.shape_for("ProcessingInstanceType").enum)
    assert NOT_OFFERED["processing"] == {n for n in INSTANCE_TYPES if n not in offered}


def test_an_instance_type_processing_does_not_offer_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"ml.c5.large is not a SageMaker processing instance type "
                                         r"\(CreateProcessingJob refuses it\)"):
        plan_processing(_job(tmp_path, instance_type="ml.c5.large"))


def test_without_overlays_inputs_are_read_only_binds_of_the_same_files(tmp_path):
    from smctl.training.plan import read_only_mounts

    plan = plan_processing(_job(tmp_path, inputs=["raw=data", "one=data/a.csv"], outputs=["out=results"]))
    before = {m.target: m for m in plan.hosts[0].container.mounts}
    after = {m.target: m for m in read_only_mounts(plan.hosts[0].container).mounts}
    for target in ("/opt/ml/processing/input/raw", "/opt/ml/processing/input/one"):
        assert after[target].overlay is None and after[target].read_only
        assert after[target].source == before[target].source
    assert not after["/opt/ml/processing/output/out"].read_only
