"""Asynchronous inference on real endpoints: the runtime API driven by real boto3 (invoke_endpoint_async) and
`smctl invoke --async`, with inputs, answers and errors in moto's S3."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from smctl.serving.runtime_api import start_runtime
from tests.helpers import TEST_LABELS, WORKER, run_cli
from tests.integration import serving_fixtures
from tests.integration.serving_fixtures import IMAGES

pytestmark = pytest.mark.docker
endpoint_name = serving_fixtures.endpoint_name


@pytest.fixture(scope="module")
def async_image(docker_client):
    tag = f"smctl-test-serve-async:{WORKER}"
    docker_client.images.build(path=str(IMAGES / "serve-async"), tag=tag, labels=TEST_LABELS, rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def s3(aws_env):
    client = boto3.client("s3")
    bucket = f"async-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture
def runtime(docker_client):
    server = start_runtime(port=0, client=docker_client).start()
    yield server
    server.stop()


def serve(image: str, name: str, cwd, *flags: str) -> None:
    res = run_cli("local-serve", "--image", image, "--name", name, "--detach", "--port", "0", *flags, cwd=cwd)
    assert res.exit_code == 0, res.stderr


def put(s3, bucket: str, key: str, body: bytes) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def wait_for_object(s3, uri: str, limit: float = 60) -> bytes:
    """The object's bytes once the async worker has written it (the worker runs in this process's threads)."""
    bucket, key = uri[5:].split("/", 1)
    deadline = time.monotonic() + limit
    while True:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            if time.monotonic() > deadline:
                raise AssertionError(f"{uri} never appeared") from None
            time.sleep(0.1)


def runtime_client(url: str):
    return boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1")


def test_boto3_async_answer_lands_at_the_output_location(async_image, endpoint_name, s3, runtime, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out", "--async-failure",
          f"s3://{bucket}/fail")
    resp = runtime_client(runtime.url).invoke_endpoint_async(
        EndpointName=name, InputLocation=put(client, bucket, "in/a.txt", b"hello async"), ContentType="text/plain",
        Accept="text/plain", InferenceId="req-1")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert resp["InferenceId"] == "req-1"
    assert resp["OutputLocation"] == f"s3://{bucket}/out/req-1.out"
    assert resp["FailureLocation"] == f"s3://{bucket}/fail/req-1-error.out"
    assert wait_for_object(client, resp["OutputLocation"]) == b"HELLO ASYNC"
    head = client.head_object(Bucket=bucket, Key="out/req-1.out")
    assert head["ContentType"] == "text/plain"


def test_inline_body_and_the_headers_the_container_sees(async_image, endpoint_name, s3, runtime, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out")
    resp = runtime_client(runtime.url).invoke_endpoint_async(
        EndpointName=name, Body=b"__headers__", ContentType="application/json", CustomAttributes="trace=1")
    assert "FailureLocation" not in resp  # no failure path configured
    seen = json.loads(wait_for_object(client, resp["OutputLocation"]))
    assert seen["content-type"] == "application/json"
    assert seen["x-amzn-sagemaker-custom-attributes"] == "trace=1"
    assert seen["x-amzn-sagemaker-inference-id"] == resp["InferenceId"]


def test_container_error_lands_at_the_failure_location(async_image, endpoint_name, s3, runtime, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out", "--async-failure",
          f"s3://{bucket}/fail")
    resp = runtime_client(runtime.url).invoke_endpoint_async(
        EndpointName=name, InputLocation=put(client, bucket, "in/bad", b"__fail__"))
    assert wait_for_object(client, resp["FailureLocation"]) == b"model exploded on purpose"
    assert client.list_objects_v2(Bucket=bucket, Prefix="out/").get("KeyCount") == 0


def test_missing_input_is_written_as_the_failure(async_image, endpoint_name, s3, runtime, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out", "--async-failure",
          f"s3://{bucket}/fail")
    resp = runtime_client(runtime.url).invoke_endpoint_async(EndpointName=name,
                                                             InputLocation=f"s3://{bucket}/in/nothing")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202  # queued: the input is read later, as SageMaker does
    error = wait_for_object(client, resp["FailureLocation"]).decode()
    assert f"s3://{bucket}/in/nothing" in error and "does not exist" in error


def test_concurrency_is_capped_at_the_configured_maximum(async_image, endpoint_name, s3, runtime, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out", "--async-max-concurrency", "2")
    rt = runtime_client(runtime.url)
    sent = [rt.invoke_endpoint_async(EndpointName=name, Body=b"__sleep__:0.5") for _ in range(6)]
    for resp in sent:
        wait_for_object(client, resp["OutputLocation"])
    stats = json.loads(rt.invoke_endpoint(EndpointName=name, Body=b"__stats__")["Body"].read())
    assert stats["served"] == 6
    assert stats["max_in_flight"] == 2


def test_endpoint_without_async_config_is_a_validation_error(async_image, endpoint_name, runtime, aws_env,
                                                              tmp_path):
    name = endpoint_name("sync")
    serve(async_image, name, tmp_path)
    rt = runtime_client(runtime.url)
    with pytest.raises(rt.exceptions.ValidationError) as caught:
        rt.invoke_endpoint_async(EndpointName=name, InputLocation="s3://some-bucket/k")
    assert caught.value.response["Error"]["Message"] == \
        f"Endpoint {name} of account 000000000000 is not configured for asynchronous inference."
    res = run_cli("invoke", name, "--async", "--input", "s3://some-bucket/k", cwd=tmp_path)
    assert res.exit_code == 2
    assert f"endpoint {name!r} is not configured for asynchronous inference" in res.stderr
    assert "--async-output" in res.stderr


def test_cli_invoke_async_prints_where_the_answer_went(async_image, endpoint_name, s3, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out")
    src = put(client, bucket, "in/x.csv", b"a,b")
    res = run_cli("invoke", name, "--async", "--input", src, "--content-type", "text/csv", "--inference-id", "cli-1",
                  cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == f"s3://{bucket}/out/cli-1.out\n"
    assert "InferenceId cli-1" in res.stderr
    assert wait_for_object(client, f"s3://{bucket}/out/cli-1.out", limit=0) == b"A,B"
    inline = run_cli("--json", "invoke", name, "--async", "--data", "hi there", cwd=tmp_path)
    assert inline.exit_code == 0, inline.stderr
    doc = inline.json["result"]
    assert wait_for_object(client, doc["output_location"], limit=0) == b"HI THERE"


def test_cli_invoke_async_errors(async_image, endpoint_name, s3, tmp_path):
    client, bucket = s3
    name = endpoint_name("async")
    serve(async_image, name, tmp_path, "--async-output", f"s3://{bucket}/out", "--async-failure",
          f"s3://{bucket}/fail")
    missing = run_cli("invoke", name, "--async", "--input", f"s3://{bucket}/in/none", "--inference-id", "m",
                      cwd=tmp_path)
    assert missing.exit_code == 2
    assert f"the input s3://{bucket}/in/none does not exist" in missing.stderr
    assert f"error written to s3://{bucket}/fail/m-error.out" in missing.stderr
    failing = run_cli("invoke", name, "--async", "--data", "__fail__", "--inference-id", "f", cwd=tmp_path)
    assert failing.exit_code == 5
    assert wait_for_object(client, f"s3://{bucket}/fail/f-error.out", limit=0) == b"model exploded on purpose"
    slow = run_cli("invoke", name, "--async", "--data", "__sleep__:5", "--timeout", "1", "--inference-id", "t",
                   cwd=tmp_path)
    assert slow.exit_code == 5
    assert "did not answer inference t within 1 s" in slow.stderr
    assert b"timed out" in wait_for_object(client, f"s3://{bucket}/fail/t-error.out", limit=0)


def test_output_bucket_that_does_not_exist_stops_local_serve(async_image, endpoint_name, aws_env, tmp_path,
                                                              docker_client):
    name = endpoint_name("async")
    res = run_cli("local-serve", "--image", async_image, "--name", name, "--detach", "--port", "0",
                  "--async-output", "s3://no-such-bucket-smctl/out", cwd=tmp_path)
    assert res.exit_code == 4
    assert "the S3 bucket 'no-such-bucket-smctl' does not exist" in res.stderr
    assert serving_fixtures.endpoint_containers(docker_client, name) == []
