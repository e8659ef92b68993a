"""Response streaming on the real engine: a container that sends its answer in chunks over time, read by real boto3
(invoke_endpoint_with_response_stream) through smctl's runtime API, and by `smctl invoke --stream`."""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import EventStreamError

from smctl.serving.invoke import MAX_PAYLOAD
from smctl.serving.runtime_api import start_runtime
from tests.helpers import TEST_LABELS, WORKER, run_cli
from tests.integration.serving_fixtures import IMAGES, Foreground, endpoint_containers

pytestmark = pytest.mark.docker
W = WORKER.replace("gw", "")


def sagemaker_runtime(url: str):
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="eu-west-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(scope="module")
def stream_endpoint(docker_client, tmp_path_factory) -> Iterator[str]:
    """A detached endpoint of the serve-stream image; image and container removed at the end."""
    tag = f"smctl-test-serve-stream:{WORKER}"
    name = f"t{W}-stream"
    docker_client.images.build(path=str(IMAGES / "serve-stream"), tag=tag, labels=TEST_LABELS, rm=True)
    try:
        res = run_cli("local-serve", "--image", tag, "--name", name, "--detach", "--port", "0",
                      cwd=tmp_path_factory.mktemp("stream"))
        assert res.exit_code == 0, res.stderr
        yield name
    finally:
        for c in endpoint_containers(docker_client, name):
            c.remove(force=True)
        with contextlib.suppress(Exception):
            docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def runtime_url(stream_endpoint, docker_client) -> Iterator[str]:
    server = start_runtime(port=0, client=docker_client).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_parts_arrive_before_the_container_finishes(stream_endpoint, runtime_url):
    """The first PayloadPart is in the caller's hands while the container holds the rest back until a second
    request (through the same runtime API) releases it: no timing involved."""
    client = sagemaker_runtime(runtime_url)
    resp = client.invoke_endpoint_with_response_stream(EndpointName=stream_endpoint, Body=b"hold:boto3",
                                                       ContentType="text/plain")
    events = iter(resp["Body"])
    assert next(events) == {"PayloadPart": {"Bytes": b"first\n"}}
    released = client.invoke_endpoint(EndpointName=stream_endpoint, Body=b"release:boto3", ContentType="text/plain")
    assert released["Body"].read() == b"released"
    assert list(events) == [{"PayloadPart": {"Bytes": b"rest\n"}}]


def test_response_headers_are_those_sagemaker_sends(stream_endpoint, runtime_url):
    resp = sagemaker_runtime(runtime_url).invoke_endpoint_with_response_stream(
        EndpointName=stream_endpoint, Body=b"tokens:4", ContentType="application/json", Accept="text/x-tokens",
        CustomAttributes="trace=7", InferenceId="req-9")
    parts = [event["PayloadPart"]["Bytes"] for event in resp["Body"]]
    assert parts == [b"token-0 ", b"token-1 ", b"token-2 ", b"token-3 "]
    assert resp["ContentType"] == "text/x-tokens"  # the container's Content-Type, from the X-Amzn-SageMaker-Accept
    assert resp["CustomAttributes"] == "echo:trace=7"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"


def test_a_stream_that_stops_midway_is_model_stream_error(stream_endpoint, runtime_url):
    resp = sagemaker_runtime(runtime_url).invoke_endpoint_with_response_stream(
        EndpointName=stream_endpoint, Body=b"break:2")
    received = []
    with pytest.raises(EventStreamError) as caught:
        for event in resp["Body"]:
            received.append(event["PayloadPart"]["Bytes"])
    assert received == [b"part-0 ", b"part-1 "]
    assert caught.value.response["Error"]["Code"] == "ModelStreamError"
    assert "closed the connection before the response was complete" in caught.value.response["Error"]["Message"]


def test_the_error_event_carries_sagemakers_error_code(stream_endpoint, runtime_url):
    """Read raw and split by botocore's own decoder: the ModelStreamError body names ErrorCode StreamBroken."""
    request = urllib.request.Request(f"{runtime_url}/endpoints/{stream_endpoint}/invocations-response-stream",
                                     data=b"break:1", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        buffer = EventStreamBuffer()
        buffer.add_data(answer.read())
    messages = list(buffer)
    assert [m.headers[":message-type"] for m in messages] == ["event", "exception"]
    assert messages[1].headers[":exception-type"] == "ModelStreamError"
    assert json.loads(messages[1].payload)["ErrorCode"] == "StreamBroken"


def test_a_stream_over_the_timeout_is_model_invocation_time_exceeded(stream_endpoint, docker_client):
    server = start_runtime(port=0, client=docker_client)
    server.invoke_timeout = 1.0  # SageMaker's is 60 s: a stalled stream is cut there
    server.start()
    try:
        resp = sagemaker_runtime(server.url).invoke_endpoint_with_response_stream(
            EndpointName=stream_endpoint, Body=b"stall")
        with pytest.raises(EventStreamError) as caught:
            list(resp["Body"])
    finally:
        server.stop()
    assert caught.value.response["Error"] == {
        "Code": "ModelStreamError",
        "Message": "Your model primary did not complete sending the inference response in the allotted time."}


def test_an_error_before_streaming_is_model_error(stream_endpoint, runtime_url):
    client = sagemaker_runtime(runtime_url)
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName=stream_endpoint, Body=b"error")
    err = caught.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 500
    assert err["OriginalMessage"] == "model exploded before streaming"


def test_an_unknown_endpoint_is_a_validation_error(runtime_url):
    client = sagemaker_runtime(runtime_url)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName=f"t{W}-no-such-stream", Body=b"x")
    assert caught.value.response["Error"]["Message"] == f"Endpoint t{W}-no-such-stream of account 000000000000 " \
                                                        "not found."


def test_a_body_over_the_payload_limit_is_a_validation_error(stream_endpoint, runtime_url):
    client = sagemaker_runtime(runtime_url)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint_with_response_stream(EndpointName=stream_endpoint, Body=b"x" * (MAX_PAYLOAD + 1))
    assert "the maximum is 6291456 bytes" in caught.value.response["Error"]["Message"]


def test_cli_prints_parts_as_they_come(stream_endpoint, tmp_path):
    run = Foreground(["invoke", stream_endpoint, "--stream", "--local", "--data", "hold:cli"], cwd=tmp_path)
    try:
        run.wait_for("first", limit=30)
        assert run.proc.poll() is None  # the container has not finished: the rest is held back
        assert run_cli("invoke", stream_endpoint, "--local", "--data", "release:cli").exit_code == 0
        assert run.finish() == 0
    finally:
        run.proc.kill()
    out = run.output()
    assert out.index("first\n") < out.index("rest\n")
    assert "HTTP 200 streamed: first byte in" in out


def test_cli_names_the_endpoint_when_its_stream_breaks(stream_endpoint):
    res = run_cli("invoke", stream_endpoint, "--stream", "--local", "--data", "break:1")
    assert res.exit_code == 5
    assert f"endpoint {stream_endpoint} stopped its streamed answer midway" in res.stderr
    assert f"smctl logs {stream_endpoint}" in res.stderr


def test_cli_on_an_endpoint_that_does_not_exist(stream_endpoint):
    res = run_cli("invoke", f"t{W}-no-such-stream", "--stream", "--local", "--data", "x")
    assert res.exit_code == 1
    assert f"endpoint 't{W}-no-such-stream' does not exist" in res.stderr
