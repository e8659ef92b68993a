"""Asynchronous inference's settings and request checks, against SageMaker's bounds (botocore's models)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.contract import async_inference as contract
from smctl.contract.async_inference import AsyncConfig, build_async_config
from smctl.errors import AsyncConfigError, ConfigError
from smctl.project.spec import load_spec
from tests.helpers import run_cli


def test_answer_and_error_are_named_for_the_inference_id():
    config = build_async_config("s3://bucket/out/", "s3://bucket/fail", 2, 60)
    assert config.output_location("req-1") == "s3://bucket/out/req-1.out"
    assert config.failure_location("req-1") == "s3://bucket/fail/req-1-error.out"
    assert config.output_location("req-1", filename="answer.json", extension="day/1") == \
        "s3://bucket/out/day/1/answer.json"


def test_without_a_failure_path_errors_go_next_to_the_answers():
    config = build_async_config("s3://bucket")
    assert config.failure_location("x") == "s3://bucket/x-error.out"
    assert config.invocation_timeout == 900
    assert config.concurrency == contract.DEFAULT_MAX_CONCURRENT


def test_the_label_round_trips_and_a_foreign_label_is_ignored():
    config = build_async_config("s3://bucket/out", None, 7, 30)
    assert AsyncConfig.from_label(config.to_label()) == config
    assert AsyncConfig.from_label("not json") is None
    assert AsyncConfig.from_label(None) is None


def test_the_cloud_request_is_createendpointconfig_asyncinferenceconfig():
    assert build_async_config("s3://bkt/o", "s3://bkt/f", 3).cloud_request() == {
        "OutputConfig": {"S3OutputPath": "s3://bkt/o", "S3FailurePath": "s3://bkt/f"},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 3}}


@pytest.mark.parametrize(("args", "key"), [
    ((None,), "output_path"),
    (("/local/folder",), "output_path"),
    (("s3://bkt/o", "s3://BAD_BUCKET/x"), "failure_path"),
    (("s3://bkt/o", None, 0), "max_concurrent_invocations"),
    (("s3://bkt/o", None, 1001), "max_concurrent_invocations"),
    (("s3://bkt/o", None, None, 3601), "invocation_timeout"),
    (("s3://bkt/o", None, None, True), "invocation_timeout"),
])
def test_each_setting_out_of_bounds_is_named(args, key):
    with pytest.raises(AsyncConfigError) as caught:
        build_async_config(*args)
    assert caught.value.key == key
    assert caught.value.hint


@pytest.mark.parametrize(("headers", "size", "needle"), [
    ({}, 0, "Exactly one of InputLocation or Body"),
    ({contract.H_INPUT: "s3://bkt/k"}, 5, "mutually exclusive"),
    ({}, contract.MAX_INLINE_BODY + 1, "less than or equal to 128000"),
    ({contract.H_INPUT: "https://example.com/k"}, 0, "not an s3:// URI"),
    ({contract.H_INPUT: "s3://bkt/k", contract.H_TIMEOUT: "3601"}, 0, "invocationTimeoutSeconds"),
    ({contract.H_INPUT: "s3://bkt/k", contract.H_TTL: "59"}, 0, "requestTTLSeconds"),
    ({contract.H_INPUT: "s3://bkt/k", contract.H_INFERENCE_ID: "x" * 65}, 0, "inferenceId"),
    ({contract.H_INPUT: "s3://bkt/k", contract.H_FILENAME: "a.b.c"}, 0, "filename"),
])
def test_invoke_endpoint_async_refuses_what_sagemaker_refuses(headers, size, needle):
    assert needle in (contract.request_problem(headers, size) or "")


def test_a_good_request_passes():
    assert contract.request_problem({contract.H_INPUT: "s3://bkt/k", contract.H_TIMEOUT: "3600",
                                     contract.H_INFERENCE_ID: "req-1"}, 0) is None


def test_smctl_toml_async_inference_table(tmp_path: Path):
    (tmp_path / "smctl.toml").write_text('[serve.async_inference]\noutput_path = "s3://bkt/out"\n'
                                         'max_concurrent_invocations = 2\n')
    spec = load_spec(tmp_path / "smctl.toml")
    assert spec.serve.async_inference == build_async_config("s3://bkt/out", None, 2)


def test_smctl_toml_async_inference_problems_name_the_key(tmp_path: Path):
    (tmp_path / "smctl.toml").write_text('[serve.async_inference]\noutput_path = "s3://bkt/out"\n'
                                         'invocation_timeout = 0\nmax_concurent = 2\n')
    with pytest.raises(ConfigError) as caught:
        load_spec(tmp_path / "smctl.toml")
    text = caught.value.message + (caught.value.hint or "")
    assert "serve.async_inference.max_concurent" in text


def test_async_flags_without_an_output_path_are_refused(tmp_path: Path):
    res = run_cli("local-serve", "--image", "x:1", "--async-failure", "s3://bkt/f", cwd=tmp_path)
    assert res.exit_code == 2
    assert "--async-failure given without --async-output" in res.stderr


def test_async_flag_out_of_bounds_names_the_flag(tmp_path: Path):
    res = run_cli("local-serve", "--image", "x:1", "--async-output", "s3://bkt/o", "--async-max-concurrency", "0",
                  cwd=tmp_path)
    assert res.exit_code == 2
    assert "--async-max-concurrency must be a whole number from 1 to 1000" in res.stderr


def test_invoke_async_needs_one_input(tmp_path: Path):
    res = run_cli("invoke", "ep", "--async", cwd=tmp_path)
    assert res.exit_code == 2
    assert "--async needs exactly one of --input s3://... and --data" in res.stderr


def test_invoke_async_inline_data_over_the_body_limit_is_refused(tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (contract.MAX_INLINE_BODY + 1))
    res = run_cli("invoke", "ep", "--async", "--data", f"@{big}", cwd=tmp_path)
    assert res.exit_code == 2
    assert "at most 128,000" in res.stderr and "--input s3://BUCKET/KEY" in res.stderr


def test_input_without_async_is_refused(tmp_path: Path):
    res = run_cli("invoke", "ep", "--input", "s3://bkt/k", cwd=tmp_path)
    assert res.exit_code == 2
    assert "add --async" in res.stderr
