"""Multi-container endpoints (inference pipelines) on the real engine: two stdlib steps that keep the bind-to-port
contract (pipeline-a, pipeline-b: each appends its name and the Content-Type it was given), serve-ok without it."""

from __future__ import annotations

import contextlib
import json

import boto3
import pytest

from smctl.serving.runtime_api import start_runtime
from tests.helpers import TEST_LABELS, WORKER, run_cli
from tests.integration import serving_fixtures
from tests.integration.serving_fixtures import IMAGES, Foreground

pytestmark = pytest.mark.docker
serve_images = serving_fixtures.serve_images
W = WORKER.replace("gw", "")


@pytest.fixture(scope="module")
def steps(docker_client):
    tags = {"a": f"smctl-test-pipeline-a:{WORKER}", "b": f"smctl-test-pipeline-b:{WORKER}"}
    docker_client.images.build(path=str(IMAGES / "pipeline-a"), tag=tags["a"], labels=TEST_LABELS, rm=True)
    docker_client.images.build(path=str(IMAGES / "pipeline-b"), tag=tags["b"], labels=TEST_LABELS, rm=True,
                               buildargs={"BASE": tags["a"]})
    yield tags
    for tag in reversed(list(tags.values())):
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)


def containers_of(client, name: str) -> list:
    """Every container of endpoint `name`, the first and the ones that joined it."""
    return client.containers.list(all=True, filters={"label": f"smctl.endpoint={name}"})


@pytest.fixture
def names(docker_client, tmp_path, monkeypatch):
    made: list[str] = []
    monkeypatch.chdir(tmp_path)

    def make(suffix: str) -> str:
        made.append(f"t{W}-pl-{suffix}")
        return made[-1]

    yield make
    for name in made:
        for c in containers_of(docker_client, name):
            c.remove(force=True)


def serve(*args: str, cwd=None):
    return run_cli("--json", "local-serve", "--detach", "--port", "0", *args, cwd=cwd)


def test_serial_pipeline_chains_in_order_passing_content_types(steps, names, docker_client, tmp_path):
    name = names("serial")
    res = serve("--name", name, "--container", steps["a"], "--container", f"{steps['b']},env=STEP_X=1", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert [c["hostname"] for c in res.json["result"]["containers"]] == ["container-1", "container-2"]
    out = run_cli("--json", "invoke", name, "--local", "--data", "hello", "--content-type", "text/plain")
    assert out.exit_code == 0, out.stderr
    assert out.json["result"]["body"] == "hello|a<text/plain>|b<application/x-a>"
    assert out.json["result"]["content_type"] == "application/x-b"
    env = run_cli("--json", "invoke", name, "--local", "--data", "__env__").json["result"]["body"]
    first = json.loads(env.rsplit("|b<", 1)[0])  # a's answer, passed through b
    assert first["SAGEMAKER_BIND_TO_PORT"] == "8080" and first["SAGEMAKER_SAFE_PORT_RANGE"] == "10000-10999"
    members = docker_client.containers.list(filters={"label": [f"smctl.pipeline.of={name}"]})
    first = docker_client.containers.get(f"smctl-endpoint-{name}")
    assert [c.attrs["HostConfig"]["NetworkMode"] for c in members] == [f"container:{first.id}"]
    listed = run_cli("--json", "endpoints").json["result"]["endpoints"]
    assert [e["status"] for e in listed if e["name"] == name] == ["InService"]
    stop = run_cli("local-stop", name)
    assert stop.exit_code == 0, stop.stderr
    assert containers_of(docker_client, name) == []


def test_direct_mode_reaches_only_the_named_container(steps, names, tmp_path):
    name = names("direct")
    res = serve("--name", name, "--direct", "--container", f"{steps['a']},hostname=pre",
                "--container", f"{steps['b']},hostname=model", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    out = run_cli("--json", "invoke", name, "--local", "--data", "x", "--target-container", "model")
    assert out.exit_code == 0, out.stderr
    assert out.json["result"]["body"] == "x|b<text/plain>"
    missing = run_cli("invoke", name, "--local", "--data", "x")
    assert missing.exit_code == 2
    assert "Direct mode" in missing.stderr and "--target-container" in missing.stderr
    unknown = run_cli("invoke", name, "--local", "--data", "x", "--target-container", "nope")
    assert unknown.exit_code == 2 and "no container 'nope' (containers: pre, model)" in unknown.stderr


def test_boto3_through_the_runtime_api_chains_and_targets(steps, names, docker_client, tmp_path):
    serial, direct = names("rt-serial"), names("rt-direct")
    assert serve("--name", serial, "--container", steps["a"], "--container", steps["b"], cwd=tmp_path).exit_code == 0
    assert serve("--name", direct, "--direct", "--container", f"{steps['a']},hostname=pre",
                 "--container", f"{steps['b']},hostname=model", cwd=tmp_path).exit_code == 0
    server = start_runtime(port=0, client=docker_client).start()
    try:
        client = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        resp = client.invoke_endpoint(EndpointName=serial, ContentType="text/csv", Body=b"1,2")
        assert resp["Body"].read() == b"1,2|a<text/csv>|b<application/x-a>"
        assert resp["ContentType"] == "application/x-b"
        resp = client.invoke_endpoint(EndpointName=direct, ContentType="text/csv", Body=b"1,2",
                                      TargetContainerHostname="pre")
        assert resp["Body"].read() == b"1,2|a<text/csv>"
        with pytest.raises(client.exceptions.ValidationError):
            client.invoke_endpoint(EndpointName=direct, ContentType="text/csv", Body=b"1,2")
        with pytest.raises(client.exceptions.ModelError) as caught:
            client.invoke_endpoint(EndpointName=direct, Body=b"__fail__", TargetContainerHostname="model")
        assert "Received server error (500) from model" in caught.value.response["Error"]["Message"]
        assert caught.value.response["OriginalStatusCode"] == 500
    finally:
        server.stop()


def test_local_transform_through_a_pipeline_endpoint(steps, names, tmp_path):
    name = names("transform")
    assert serve("--name", name, "--container", steps["a"], "--container", steps["b"], cwd=tmp_path).exit_code == 0
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.csv").write_bytes(b"row")
    res = run_cli("local-transform", "--endpoint", name, "--input", tmp_path / "in", "--output", tmp_path / "out",
                  "--content-type", "text/csv", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "out" / "r.csv.out").read_bytes() == b"row|a<text/csv>|b<application/x-a>"


def test_sixteen_containers_are_refused_with_sagemakers_limit(steps, names, docker_client, tmp_path):
    name = names("sixteen")
    res = run_cli("local-serve", "--name", name, "--port", "0", *(["--container", steps["a"]] * 16), cwd=tmp_path)
    assert res.exit_code == 2
    assert "Member must have length less than or equal to 15" in res.stderr and "Hint:" in res.stderr
    assert containers_of(docker_client, name) == []


def test_an_image_without_the_bind_to_port_label_is_refused(steps, serve_images, names, docker_client, tmp_path):
    name = names("nolabel")
    res = run_cli("local-serve", "--name", name, "--port", "0", "--container", steps["a"],
                  "--container", serve_images["ok"], cwd=tmp_path)
    assert res.exit_code == 2
    assert (f"Your Ecr Image {serve_images['ok']} does not contain required "
            "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true Docker label(s)") in res.stderr
    assert "LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in res.stderr
    assert containers_of(docker_client, name) == []


def test_a_container_that_exits_fails_the_start_naming_it(steps, names, docker_client, tmp_path):
    name = names("crash")
    res = run_cli("local-serve", "--name", name, "--port", "0", "--container", f"{steps['a']},hostname=pre",
                  "--container", f"{steps['b']},hostname=model,env=PIPELINE_FAULT=exit", cwd=tmp_path)
    assert res.exit_code == 5, res.stderr
    assert f"container model ({steps['b']}) exited with code 3 while starting" in res.stderr
    assert "cannot load the model" in res.stderr
    assert containers_of(docker_client, name) == []


def test_ping_fails_once_one_container_exits(steps, names, docker_client, tmp_path):
    name = names("exit")
    assert serve("--name", name, "--direct", "--container", f"{steps['a']},hostname=pre",
                 "--container", f"{steps['b']},hostname=model", cwd=tmp_path).exit_code == 0
    run_cli("invoke", name, "--local", "--data", "__exit__", "--target-container", "model")
    member = docker_client.containers.get(f"smctl-endpoint-{name}--model")
    member.wait(timeout=10)
    listed = run_cli("--json", "endpoints").json["result"]["endpoints"]
    assert [e["status"] for e in listed if e["name"] == name] == ["NotReady"]
    assert run_cli("local-stop", name).exit_code == 0
    assert containers_of(docker_client, name) == []


def test_logs_show_and_follow_every_container_prefixed_with_its_hostname(steps, names, docker_client, tmp_path):
    name = names("logs")
    assert serve("--name", name, "--direct", "--container", f"{steps['a']},hostname=pre",
                 "--container", f"{steps['b']},hostname=model", cwd=tmp_path).exit_code == 0
    shown = run_cli("logs", name)
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines == ["pre | step a starting", "pre | step a listening on 0.0.0.0:8080",
                     "model | step b starting", "model | step b listening on 0.0.0.0:8081"]
    assert run_cli("--json", "logs", name, "--tail", "1").json["result"]["containers"] == ["pre", "model"]
    assert run_cli("logs", name, "--tail", "1").stdout.splitlines() == [lines[1], lines[3]]
    followed = Foreground(["logs", name, "-f"], tmp_path)
    try:
        for needle in ("pre | step a listening", "model | step b listening"):  # followed lines interleave
            if not any(needle in line for line in followed.seen):
                followed.wait_for(needle)
        run_cli("invoke", name, "--local", "--data", "__exit__", "--target-container", "model")
        followed.wait_for("model | step b exiting on request")  # a line written after following began
        assert run_cli("local-stop", name).exit_code == 0
        assert followed.finish() == 0  # ends once every container has stopped
    finally:
        followed.proc.kill()


def test_check_bind_to_port_passes_a_pipeline_step_and_names_what_other_images_break(steps, serve_images,
                                                                                    docker_client):
    good = run_cli("check", "--bind-to-port", steps["a"], "--json")
    assert good.exit_code == 0, good.stderr
    statuses = {c["id"]: c["status"] for c in good.json["result"]["checks"]}
    assert statuses["bindport.label"] == statuses["bindport.serve"] == statuses["bindport.default"] == "ok"

    def failed(image: str) -> dict:
        res = run_cli("check", "--bind-to-port", image, "--json")
        assert res.exit_code == 6, res.stderr
        return {c["id"]: c for c in res.json["error"]["details"]["checks"] if c["status"] == "fail"}

    assert set(failed(serve_images["ok"])) == {"bindport.label"}  # honours the port, lacks only the label
    fixed = f"smctl-test-serve-async:{WORKER}"  # binds 8080 whatever it is told
    docker_client.images.build(path=str(IMAGES / "serve-async"), tag=fixed, labels=TEST_LABELS, rm=True)
    try:
        broken = failed(fixed)
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(fixed, force=True)
    assert set(broken) == {"bindport.label", "bindport.serve", "bindport.default"}
    assert "SAGEMAKER_BIND_TO_PORT" in broken["bindport.serve"]["remedy"]
    both = run_cli("check", "--bind-to-port", "--multi-model", steps["a"])
    assert both.exit_code == 2 and "--multi-model and --bind-to-port" in both.stderr
