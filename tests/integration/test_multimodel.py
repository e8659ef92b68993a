"""Multi-model endpoints on the real engine: the test image keeps SageMaker's /models contract; models come from a
folder or moto's S3; what is loaded is read from the container's own GET /models."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import boto3
import pytest

from smctl.engine.container import Container
from smctl.serving.multimodel import model_name
from smctl.serving.runtime_api import start_runtime
from tests.helpers import TEST_LABELS, WORKER, run_cli, smctl_exe
from tests.integration import serving_fixtures
from tests.integration.serving_fixtures import IMAGES

pytestmark = pytest.mark.docker
endpoint_name = serving_fixtures.endpoint_name


@pytest.fixture(scope="module")
def mm_images(docker_client):
    tags = {"ok": f"smctl-test-multimodel:{WORKER}", "nolabel": f"smctl-test-multimodel-nolabel:{WORKER}",
            "no409": f"smctl-test-multimodel-no409:{WORKER}"}
    path = str(IMAGES / "multimodel")
    docker_client.images.build(path=path, tag=tags["ok"], labels=TEST_LABELS, rm=True)
    docker_client.images.build(path=path, tag=tags["nolabel"], labels=TEST_LABELS, rm=True,
                               dockerfile="Dockerfile.nolabel")
    docker_client.images.build(path=path, tag=tags["no409"], labels=TEST_LABELS, rm=True,
                               buildargs={"MM_FAULT": "no409"})
    yield tags
    for tag in tags.values():
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)


def archive(name: str) -> bytes:
    buf = io.BytesIO()
    data = f"weights of {name}\n".encode()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("weights.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def model_dir(tmp_path) -> Path:
    root = tmp_path / "models"
    (root / "sub").mkdir(parents=True)
    for name in ("m1", "m2", "m3", "sub/m4"):
        (root / f"{name}.tar.gz").write_bytes(archive(name))
    (tmp_path / "outside.tar.gz").write_bytes(archive("outside"))
    return root


def serve(tmp_path: Path, image: str, name: str, source: str, *env: str, instance_type: str | None = None) -> dict:
    args = ["local-serve", "--image", image, "--name", name, "--multi-model", source, "--detach", "--port", "0",
            "--json", *(["--instance-type", instance_type] if instance_type else [])]
    for pair in env:
        args += ["--env", pair]
    res = run_cli(*args, cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    return res.json["result"]


def invoke(tmp_path: Path, name: str, target: str, data: str = "{}") -> dict:
    res = run_cli("invoke", name, "--target-model", target, "--data", data, "--json", "--local", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    return res.json["result"]


def container_models(ready: dict) -> set[str]:
    """What the container itself says is loaded (every page of its GET /models)."""
    names, token = [], None
    while True:
        url = ready["url"] + "/models" + (f"?next_page_token={token}" if token else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            doc = json.load(resp)
        names += [m["modelName"] for m in doc["models"]]
        token = doc.get("nextPageToken")
        if not token:
            return set(names)


def test_models_load_on_first_invocation_and_stay_loaded(tmp_path, model_dir, mm_images, endpoint_name):
    name = endpoint_name("mm")
    ready = serve(tmp_path, mm_images["ok"], name, str(model_dir))
    assert container_models(ready) == set()
    first = invoke(tmp_path, name, "m1.tar.gz", '{"x": 1}')
    body = json.loads(first["body"])
    assert (body["weights"], body["target"], body["body"]) == ("weights of m1", "m1.tar.gz", '{"x": 1}')
    assert first["loaded_now"] is True
    assert invoke(tmp_path, name, "m1.tar.gz")["loaded_now"] is False
    nested = invoke(tmp_path, name, "sub/m4.tar.gz")
    assert json.loads(nested["body"])["weights"] == "weights of sub/m4"
    assert container_models(ready) == {first["model_name"], nested["model_name"]}
    listing = run_cli("endpoints", "--json", cwd=tmp_path).json["result"]["endpoints"]
    row = next(e for e in listing if e["name"] == name)
    assert sorted(m["target"] for m in row["loaded_models"]) == ["m1.tar.gz", "sub/m4.tar.gz"]
    assert run_cli("local-stop", name, cwd=tmp_path).exit_code == 0
    assert not (tmp_path / ".smctl" / "endpoints" / name).exists()


def test_least_recently_used_model_is_unloaded_on_507(tmp_path, model_dir, mm_images, endpoint_name):
    name = endpoint_name("mm507")
    ready = serve(tmp_path, mm_images["ok"], name, str(model_dir), "MM_MAX_LOADED=2")
    m1 = invoke(tmp_path, name, "m1.tar.gz")["model_name"]
    invoke(tmp_path, name, "m2.tar.gz")
    invoke(tmp_path, name, "m1.tar.gz")  # m2 is now the least recently used
    third = invoke(tmp_path, name, "m3.tar.gz")
    assert third["evicted"] == ["m2.tar.gz"]
    assert container_models(ready) == {m1, third["model_name"]}
    again = invoke(tmp_path, name, "m2.tar.gz")  # comes back, pushing out m1 (used before m3)
    assert (again["loaded_now"], again["evicted"]) == (True, ["m1.tar.gz"])
    assert container_models(ready) == {third["model_name"], again["model_name"]}


@pytest.fixture(scope="module")
def heavy_models(tmp_path_factory) -> Path:
    """Three model archives, each 1 GiB of weights (a few MB compressed) that the test image holds in memory."""
    root = tmp_path_factory.mktemp("heavy")
    with tarfile.open(root / "h1.tar.gz", "w:gz", compresslevel=1) as tar, open("/dev/zero", "rb") as zeros:
        info = tarfile.TarInfo("weights.bin")
        info.size = 2**30
        tar.addfile(info, zeros)
    for copy in ("h2", "h3"):  # the TargetModel path names the model, not the bytes
        shutil.copyfile(root / "h1.tar.gz", root / f"{copy}.tar.gz")
    return root


def test_least_recently_used_model_is_unloaded_when_the_instance_memory_runs_short(
        tmp_path, heavy_models, mm_images, endpoint_name, docker_client):
    # ml.c5.large: 4 GiB, the container's limit. The server holds 1.5 GiB itself and 1 GiB per loaded model: two
    # models fit, a third would pass the limit (the kernel would kill the container); sizes on disk alone (3 GiB)
    # would not show it: smctl must go by the memory the container really holds.
    name = endpoint_name("mmmem")
    ready = serve(tmp_path, mm_images["ok"], name, str(heavy_models), "MM_RESERVE_MB=1536",
                  instance_type="ml.c5.large")
    container = Container(docker_client.containers.get(ready["container_id"]))
    h1 = invoke(tmp_path, name, "h1.tar.gz")["model_name"]
    assert container.memory_in_use() >= (1536 + 1024) * 2**20  # the weights really are in the container's memory
    assert invoke(tmp_path, name, "h2.tar.gz")["evicted"] == []
    invoke(tmp_path, name, "h1.tar.gz")  # h2 is now the least recently used
    h2 = model_name("h2.tar.gz")
    third = invoke(tmp_path, name, "h3.tar.gz")
    assert (third["loaded_now"], third["evicted"]) == (True, ["h2.tar.gz"])
    assert container_models(ready) == {h1, third["model_name"]}
    assert f"unloaded {h2}" in container.logs().decode()  # the container's own DELETE /models/NAME
    again = invoke(tmp_path, name, "h2.tar.gz")  # back again, pushing out h1 (used before h3)
    assert (again["loaded_now"], again["evicted"]) == (True, ["h1.tar.gz"])
    assert container_models(ready) == {third["model_name"], h2}
    assert container.state() == "running" and not container.oom_killed
    assert container.memory_in_use() < 4 * 2**30


def test_loaded_state_is_shared_by_separate_concurrent_invoke_processes(tmp_path, model_dir, mm_images,
                                                                        endpoint_name):
    name = endpoint_name("mmproc")
    ready = serve(tmp_path, mm_images["ok"], name, str(model_dir), "MM_MAX_LOADED=3", "MM_PAGE_SIZE=1")
    targets = ["m1.tar.gz", "m2.tar.gz", "m3.tar.gz", "sub/m4.tar.gz"] * 2
    procs = [subprocess.Popen([*smctl_exe(), "invoke", name, "--target-model", t, "--data", "{}", "--json",
                               "--local"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for t in targets]
    answers = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        answers.append((p.returncode, out, err))
    for code, out, err in answers:  # a model another process is fetching at that moment answers ModelNotReady
        assert code == 0 or "still being downloaded or loaded" in out + err, out + err
    state = json.loads((tmp_path / ".smctl" / "endpoints" / name / "multi-model.json").read_text())["models"]
    loaded = {n for n, m in state.items() if m["status"] == "loaded"}
    assert loaded == container_models(ready) and len(loaded) == 3
    follow = run_cli("invoke", name, "--target-model", state[sorted(loaded)[0]]["target"], "--data", "{}", "--json",
                     "--local", cwd=tmp_path)
    assert follow.exit_code == 0 and follow.json["result"]["loaded_now"] is False


def test_a_model_still_loading_answers_model_not_ready(tmp_path, model_dir, mm_images, endpoint_name, docker_client):
    from smctl.serving.multimodel import write_state

    name = endpoint_name("mmbusy")
    serve(tmp_path, mm_images["ok"], name, str(model_dir))
    run_dir = tmp_path / ".smctl" / "endpoints" / name
    with subprocess.Popen(["sleep", "60"]) as loader:  # another smctl process, in the middle of loading m1
        try:
            write_state(run_dir, {model_name("m1.tar.gz"): {"target": "m1.tar.gz", "status": "loading",
                                                            "pid": loader.pid, "host": socket.gethostname()}})
            res = run_cli("invoke", name, "--target-model", "m1.tar.gz", "--data", "{}", "--local", cwd=tmp_path)
            assert res.exit_code == 1
            assert "ModelNotReadyException, HTTP 429" in res.stderr and "Hint: wait" in res.stderr
            server = start_runtime(port=0, client=docker_client).start()
            try:
                client = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                                      aws_access_key_id="x", aws_secret_access_key="x")
                with pytest.raises(client.exceptions.ModelNotReadyException):
                    client.invoke_endpoint(EndpointName=name, TargetModel="m1.tar.gz", Body=b"{}")
            finally:
                server.stop()
        finally:
            loader.kill()
    assert invoke(tmp_path, name, "m1.tar.gz")["loaded_now"] is True  # the loader died: its mark no longer counts


def test_s3_models_through_boto3_against_the_runtime_api(tmp_path, aws_env, mm_images, endpoint_name,
                                                         docker_client):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="mm-models")
    for n in ("m1", "dir/m2"):
        s3.put_object(Bucket="mm-models", Key=f"prefix/{n}.tar.gz", Body=archive(n))
    name = endpoint_name("mms3")
    ready = serve(tmp_path, mm_images["ok"], name, "s3://mm-models/prefix")
    server = start_runtime(port=0, client=docker_client).start()
    try:
        client = boto3.client("sagemaker-runtime", endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        resp = client.invoke_endpoint(EndpointName=name, TargetModel="dir/m2.tar.gz", ContentType="text/csv",
                                      Body=b"1,2")
        body = json.loads(resp["Body"].read())
        assert (body["weights"], body["target"], body["content_type"]) == ("weights of dir/m2", "dir/m2.tar.gz",
                                                                          "text/csv")
        client.invoke_endpoint(EndpointName=name, TargetModel="m1.tar.gz", Body=b"{}")
        assert len(container_models(ready)) == 2
        with pytest.raises(client.exceptions.ValidationError, match="Failed to download model data"):
            client.invoke_endpoint(EndpointName=name, TargetModel="m9.tar.gz", Body=b"{}")
        with pytest.raises(client.exceptions.ValidationError, match=r"'\.\.' path part"):
            client.invoke_endpoint(EndpointName=name, TargetModel="../secret.tar.gz", Body=b"{}")
        with pytest.raises(client.exceptions.ValidationError, match="missing a target model header"):
            client.invoke_endpoint(EndpointName=name, Body=b"{}")
    finally:
        server.stop()
    res = run_cli("invoke", name, "--target-model", "m9.tar.gz", "--data", "{}", "--local", cwd=tmp_path)
    assert res.exit_code == 2
    assert "no model archive m9.tar.gz at s3://mm-models/prefix/m9.tar.gz" in res.stderr
    assert "aws s3 cp" in res.stderr


def test_bad_target_is_refused_before_anything_is_fetched(tmp_path, model_dir, mm_images, endpoint_name):
    name = endpoint_name("mmbad")
    serve(tmp_path, mm_images["ok"], name, str(model_dir))
    for target in ("../outside.tar.gz", str(model_dir / "m1.tar.gz")):
        res = run_cli("invoke", name, "--target-model", target, "--data", "{}", "--local", cwd=tmp_path)
        assert res.exit_code == 2, res.stderr
        assert "Error: TargetModel" in res.stderr and "Traceback" not in res.stderr
    assert list((tmp_path / ".smctl" / "endpoints" / name / "models").iterdir()) == []
    plain = run_cli("invoke", name, "--data", "{}", "--local", cwd=tmp_path)
    assert plain.exit_code == 2 and "missing a target model header" in plain.stderr


def test_a_container_that_breaks_the_models_api_is_named(tmp_path, model_dir, mm_images, endpoint_name):
    name = endpoint_name("mmbroken")
    serve(tmp_path, mm_images["ok"], name, str(model_dir), "MM_FAULT=list500")
    res = run_cli("invoke", name, "--target-model", "m1.tar.gz", "--data", "{}", "--local", cwd=tmp_path)
    assert res.exit_code == 5
    assert f"endpoint {name}: GET /models answered HTTP 500" in res.stderr and "list exploded" in res.stderr
    assert "smctl check --multi-model" in res.stderr


def test_image_without_the_label_is_refused_before_a_container_exists(tmp_path, model_dir, mm_images,
                                                                     endpoint_name, docker_client):
    name = endpoint_name("mmnolabel")
    res = run_cli("local-serve", "--image", mm_images["nolabel"], "--name", name, "--multi-model", str(model_dir),
                  "--detach", "--port", "0", cwd=tmp_path)
    assert res.exit_code == 2
    assert "does not contain required com.amazonaws.sagemaker.capabilities.multi-models=true" in res.stderr
    assert serving_fixtures.endpoint_containers(docker_client, name) == []


def test_check_multi_model_passes_a_good_image_and_names_a_broken_rule(mm_images):
    good = run_cli("check", "--multi-model", mm_images["ok"], "--json")
    assert good.exit_code == 0, good.stderr
    statuses = {c["id"]: c["status"] for c in good.json["result"]["checks"]}
    assert statuses["multimodel.list"] == "ok" and statuses["multimodel.double_load"] == "ok"
    assert next(c for c in good.json["result"]["checks"] if c["id"] == "multimodel.list")["data"]["pages"] == 2
    broken = run_cli("check", "--multi-model", mm_images["no409"], "--json")
    assert broken.exit_code == 6
    failed = [c["id"] for c in broken.json["error"]["details"]["checks"] if c["status"] == "fail"]
    assert failed == ["multimodel.double_load"]
    nolabel = run_cli("check", "--multi-model", mm_images["nolabel"], "--json")
    assert nolabel.exit_code == 6
    failed = [c["id"] for c in nolabel.json["error"]["details"]["checks"] if c["status"] == "fail"]
    assert failed == ["multimodel.label"]
