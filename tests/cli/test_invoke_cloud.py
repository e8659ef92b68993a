"""`smctl invoke --cloud` (and a name only SageMaker has) through sagemaker-runtime, against moto's server."""

from __future__ import annotations

import json
import urllib.request

import pytest

from smctl.errors import ExitCode
from tests.helpers import create_cloud_endpoint


def _queue_answer(endpoint_url: str, body: str, content_type: str) -> None:
    """moto's documented way to say what its InvokeEndpoint answers next."""
    doc = {"results": [{"Body": body, "ContentType": content_type, "InvokedProductionVariant": "AllTraffic",
                        "CustomAttributes": "attr=1"}]}
    req = urllib.request.Request(f"{endpoint_url}/moto-api/static/sagemaker/endpoint-results",
                                 data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


@pytest.fixture
def project(tmp_path, aws_env):
    (tmp_path / "smctl.toml").write_text('[project]\nname = "churn"\n[aws]\nregion = "us-east-1"\n')
    return tmp_path


def test_invoke_cloud_sends_the_request_and_prints_the_answer(smctl, project, aws_env):
    create_cloud_endpoint("cloud-ep-1")
    _queue_answer(aws_env, '{"score": 0.9}', "application/json")
    res = smctl("--json", "invoke", "cloud-ep-1", "--cloud", "--data", '{"x": 1}', cwd=project)
    assert res.exit_code == 0, res.stderr
    r = res.json["result"]
    assert r["cloud"] is True and r["status"] == 200
    assert r["body"] == '{"score": 0.9}' and r["content_type"] == "application/json"
    assert r["content_type_sent"] == "application/json"


def test_a_name_only_sagemaker_has_is_invoked_there(smctl, project, aws_env, docker_client):
    create_cloud_endpoint("cloud-only-ep")
    _queue_answer(aws_env, "1,0\n", "text/csv")
    res = smctl("invoke", "cloud-only-ep", "--data", "1,2", "--content-type", "text/csv", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "1,0\n"
    assert "SageMaker endpoint cloud-only-ep" in res.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["some-ep", "--cloud", "--local"], "--cloud and --local"),
    (["http://127.0.0.1:8080", "--cloud"], "needs the SageMaker endpoint's name"),
])
def test_contradictions_are_usage_errors(smctl, project, args, words):
    res = smctl("invoke", *args, "--data", "x", cwd=project)
    assert res.exit_code == ExitCode.USAGE and words in res.stderr
