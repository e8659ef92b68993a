"""Invoking what `smctl deploy` makes in its hosting modes, against moto's server: `--cloud --target-model` sends
TargetModel (moto keys its answers by the request's headers and body, so a different target gets a different answer)
and `--cloud --async` (--input s3://... or inline --data) queues through InvokeEndpointAsync."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from smctl.errors import ExitCode
from tests.helpers import create_cloud_endpoint


def _queue_answers(endpoint_url: str, *bodies: str) -> None:
    """moto's documented way to say what its InvokeEndpoint answers next."""
    doc = {"results": [{"Body": b, "ContentType": "text/plain", "InvokedProductionVariant": "AllTraffic"}
                       for b in bodies]}
    req = urllib.request.Request(f"{endpoint_url}/moto-api/static/sagemaker/endpoint-results",
                                 data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture
def project(tmp_path, aws_env):
    (tmp_path / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    return tmp_path


def test_target_model_is_sent_to_a_cloud_endpoint(smctl, project, aws_env):
    name = f"mme-{uuid.uuid4().hex[:8]}"
    create_cloud_endpoint(name)
    _queue_answers(aws_env, "from m1", "from m2")
    data = f"row of {name}"
    got = []
    for target in ("m1.tar.gz", "nested/m2.tar.gz", "m1.tar.gz"):
        res = smctl("--json", "invoke", name, "--cloud", "--target-model", target, "--data", data, cwd=project)
        assert res.exit_code == 0, res.stderr
        assert res.json["result"]["target_model"] == target
        got.append(res.json["result"]["body"])
    # Same body, different TargetModel: a different request; the same TargetModel again: the same answer.
    assert got == ["from m1", "from m2", "from m1"]


def test_a_bad_target_model_is_refused_before_anything_is_sent(smctl, project):
    res = smctl("invoke", "any-ep", "--cloud", "--target-model", "../escape.tar.gz", "--data", "x", cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert "Hint:" in res.stderr


def test_async_cloud_invoke_queues_the_s3_input(smctl, project):
    name = f"async-{uuid.uuid4().hex[:8]}"
    create_cloud_endpoint(name)
    res = smctl("--json", "invoke", name, "--cloud", "--async", "--input", "s3://bucket-in/req.json",
                "--inference-id", "req-1", "--content-type", "application/json", cwd=project)
    assert res.exit_code == 0, res.stderr
    r = res.json["result"]
    assert r["inference_id"] == "req-1" and r["cloud"] is True
    assert r["output_location"]  # where SageMaker will write the answer
    inline = smctl("--json", "invoke", name, "--cloud", "--async", "--data", '{"x": 1}', cwd=project)
    assert inline.exit_code == 0, inline.stderr
    assert inline.json["result"]["content_type_sent"] == "application/json" and inline.json["result"]["inference_id"]


@pytest.mark.parametrize(("args", "words"), [
    ([], "--async needs exactly one of --input s3://... and --data"),
    (["--data", "x", "--input", "s3://bucket-in/r"], "--async needs exactly one of"),
    (["--data", "x" * 128_001], "an inline async request takes at most 128,000"),
    (["--input", "/tmp/req.json"], "is not an s3:// URI"),
    (["--input", "s3://bucket-in/r", "--timeout", "1.5"], "is not a whole number of seconds"),
])
def test_async_cloud_invoke_refuses_what_invoke_endpoint_async_cannot_take(smctl, project, args, words):
    res = smctl("invoke", "some-ep", "--cloud", "--async", *args, cwd=project)
    assert res.exit_code == ExitCode.USAGE, res.stderr
    assert words in res.stderr
