"""The local SageMaker Runtime API, driven by real boto3 `sagemaker-runtime` clients, in front of real endpoints."""

from __future__ import annotations

import json
import signal

import boto3
import botocore.exceptions
import pytest

from smctl.serving.invoke import MAX_PAYLOAD
from smctl.serving.runtime_api import start_runtime
from tests.helpers import WORKER, run_cli
from tests.integration import serving_fixtures
from tests.integration.serving_fixtures import Foreground, endpoint_containers, free_port

pytestmark = pytest.mark.docker
serve_images = serving_fixtures.serve_images
endpoint_name = serving_fixtures.endpoint_name
W = WORKER.replace("gw", "")


def sagemaker_runtime(url: str, region: str = "eu-west-1"):
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name=region,
                        aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(scope="module")
def running(serve_images, docker_client, tmp_path_factory):
    """Two detached endpoints: one that answers, one that answers 500."""
    root = tmp_path_factory.mktemp("runtime")
    names = {"ok": f"t{W}-rt-ok", "error500": f"t{W}-rt-err"}
    try:
        for kind, name in names.items():
            res = run_cli("local-serve", "--image", serve_images[kind], "--name", name, "--detach", "--port", "0",
                          cwd=root)
            assert res.exit_code == 0, res.stderr
        yield names
    finally:
        for name in names.values():
            for c in endpoint_containers(docker_client, name):
                c.remove(force=True)


@pytest.fixture(scope="module")
def runtime_url(running, docker_client):
    server = start_runtime(port=0, client=docker_client).start()
    yield server.url
    server.stop()


def test_invoke_endpoint_passes_body_content_type_and_custom_attributes(running, runtime_url):
    resp = sagemaker_runtime(runtime_url).invoke_endpoint(
        EndpointName=running["ok"], ContentType="text/csv", Accept="text/csv", CustomAttributes="trace=42",
        Body=b"a,b\n1,2")
    assert resp["Body"].read() == b"A,B\n1,2"
    assert resp["ContentType"] == "text/csv"
    assert resp["CustomAttributes"] == "echo:trace=42"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_only_the_headers_sagemaker_forwards_reach_the_container(running, runtime_url):
    resp = sagemaker_runtime(runtime_url).invoke_endpoint(
        EndpointName=running["ok"], ContentType="application/json", Accept="application/json",
        InferenceId="req-1", TargetContainerHostname="other", Body=b"__headers__")
    seen = json.loads(resp["Body"].read())
    assert set(seen) == {"host", "content-length", "content-type", "accept", "x-amzn-sagemaker-inference-id"}
    assert seen["x-amzn-sagemaker-inference-id"] == "req-1"


def test_container_error_is_a_model_error_with_the_original_status(running, runtime_url):
    client = sagemaker_runtime(runtime_url, region="ap-south-1")
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=running["error500"], ContentType="text/plain", Body=b"boom")
    err = caught.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 500
    assert err["OriginalMessage"] == "model exploded: boom"
    assert err["LogStreamArn"] == (f"arn:aws:logs:ap-south-1:000000000000:log-group:/aws/sagemaker/Endpoints/"
                                   f"{running['error500']}")
    assert 'Received server error (500) from primary with message "model exploded: boom"' in err["Error"]["Message"]


def test_unknown_endpoint_is_a_validation_error(runtime_url):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sagemaker_runtime(runtime_url).invoke_endpoint(EndpointName=f"t{W}-nope", Body=b"x")
    err = caught.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert err["Error"]["Message"] == f"Endpoint t{W}-nope of account 000000000000 not found."


def test_body_over_6_mb_is_a_validation_error(running, runtime_url):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sagemaker_runtime(runtime_url).invoke_endpoint(EndpointName=running["ok"], Body=b"x" * (MAX_PAYLOAD + 1))
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "6291456" in caught.value.response["Error"]["Message"]


def test_runtime_command_serves_detached_endpoints_until_ctrl_c_and_stops_without_an_error(running, tmp_path):
    port = free_port()
    fg = Foreground(["runtime", "--port", str(port)], tmp_path)
    fg.wait_for("SageMaker Runtime API ready at")
    resp = sagemaker_runtime(f"http://127.0.0.1:{port}").invoke_endpoint(EndpointName=running["ok"], Body=b"hi")
    assert resp["Body"].read() == b"HI"
    fg.proc.send_signal(signal.SIGINT)
    assert fg.finish() == 0, fg.output()  # Ctrl-C is how `smctl runtime` ends: not an error
    assert f"SageMaker Runtime API at http://127.0.0.1:{port} stopped (Ctrl-C)" in fg.output()
    assert "Error:" not in fg.output()


def test_foreground_local_serve_with_runtime_port(serve_images, endpoint_name, tmp_path, docker_client):
    name, port = endpoint_name("rtfg"), free_port()
    fg = Foreground(["local-serve", "--image", serve_images["ok"], "--name", name, "--port", "0",
                     "--runtime-port", str(port)], tmp_path)
    fg.wait_for("SageMaker Runtime API at")
    resp = sagemaker_runtime(f"http://127.0.0.1:{port}").invoke_endpoint(
        EndpointName=name, ContentType="application/json", Body=b'{"x": 1}')
    assert resp["Body"].read() == b'{"X": 1}'
    fg.proc.send_signal(signal.SIGINT)
    assert fg.finish() == 130, fg.output()
    assert endpoint_containers(docker_client, name) == []


def test_response_over_6_mb_is_a_model_error(running, runtime_url):
    client = sagemaker_runtime(runtime_url)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=running["ok"], Body=f"__big__:{MAX_PAYLOAD + 1}".encode())
    assert caught.value.response["OriginalStatusCode"] == 200
    assert f"Response body is {MAX_PAYLOAD + 1} bytes; the maximum is {MAX_PAYLOAD} bytes." in \
        caught.value.response["OriginalMessage"]
    at_limit = client.invoke_endpoint(EndpointName=running["ok"], Body=f"__big__:{MAX_PAYLOAD}".encode())
    assert len(at_limit["Body"].read()) == MAX_PAYLOAD


@pytest.mark.parametrize(("kwargs", "member"), [
    ({"CustomAttributes": "a" * 1025}, "customAttributes"),
    ({"CustomAttributes": "caf\u00e9"}, "customAttributes"),
    ({"ContentType": "text/" + "x" * 1020}, "contentType"),
    ({"Accept": "application/" + "y" * 1020}, "accept"),
])
def test_headers_over_invoke_endpoints_limits_are_validation_errors(running, runtime_url, kwargs, member):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sagemaker_runtime(runtime_url).invoke_endpoint(EndpointName=running["ok"], Body=b"x", **kwargs)
    err = caught.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("ValidationError", 400)
    assert f"Value at '{member}' failed to satisfy constraint" in err["Error"]["Message"]


def test_target_model_on_a_single_model_endpoint_is_refused(running, runtime_url):
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sagemaker_runtime(runtime_url).invoke_endpoint(EndpointName=running["ok"], Body=b"x",
                                                       TargetModel="model-a.tar.gz")
    err = caught.value.response
    assert err["Error"]["Code"] == "ValidationError"
    assert "is not a multi-model endpoint and does not support target model header" in err["Error"]["Message"]
