"""`smctl local-transform` refuses bad input before it touches the engine: exit 2, the flag named, a hint."""

from __future__ import annotations

import pytest


@pytest.fixture
def data(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("1,2\n")
    return tmp_path


def _run(smctl, data, *args):
    return smctl("--json", "local-transform", "--image", "no-such-image:never", "--input", data / "in",
                 "--output", data / "out", *args, cwd=data)


@pytest.mark.parametrize(("args", "message", "hint"), [
    (("--split-type", "Lines"), "--split-type must be one of None, Line, RecordIO, TFRecord", "did you mean 'Line'"),
    (("--max-payload", "101"), "--max-payload 101 is outside SageMaker's range of 0-100 MB", "--max-payload 1-100"),
    (("--max-payload", "30", "--max-concurrent", "4"), "--max-concurrent 4 x --max-payload 30 = 120 MB is over",
     "at most 100"),
    (("--strategy", "Batched"), "--strategy 'Batched' is not a batch strategy", "SingleRecord or MultiRecord"),
    (("--retries", "5"), "--retries must be an integer from 0 to 3", None),
    (("--timeout", "0"), "--timeout must be an integer from 1 to 3600", None),
    (("--join-source", "Input", "--split-type", "Line", "--assemble-with", "Line"), "--join-source Input needs "
     "--content-type", "text/csv"),
    (("--content-type", "text/csv", "--input-filter", "$.id", "--split-type", "Line", "--assemble-with", "Line"),
     "names a key, but CSV rows only have positions", "$[1:]"),
    (("--input-filter", "$..x", "--content-type", "application/jsonlines"), "deep scan", "SageMaker supports"),
])
def test_bad_options_are_usage_errors_naming_the_flag(smctl, data, args, message, hint):
    res = _run(smctl, data, *args)
    assert res.exit_code == 2, res.stdout
    err = res.json["error"]
    assert message in err["message"]
    if hint:
        assert hint in err["hint"]
    assert not (data / "out").exists()


def test_an_empty_input_folder_is_refused(smctl, tmp_path):
    (tmp_path / "empty").mkdir()
    res = smctl("--json", "local-transform", "--image", "x", "--input", tmp_path / "empty", "--output",
                tmp_path / "out", cwd=tmp_path)
    assert res.exit_code == 2
    assert res.json["error"]["message"] == f"input {tmp_path / 'empty'} holds no files"


def test_an_output_folder_inside_the_input_is_refused(smctl, data):
    res = smctl("--json", "local-transform", "--image", "x", "--input", data / "in", "--output",
                data / "in" / "results", cwd=data)
    assert res.exit_code == 2
    assert "is inside the input" in res.json["error"]["message"]
    assert "--output" in res.json["error"]["hint"]


def test_image_and_endpoint_together_are_refused(smctl, data):
    res = _run(smctl, data, "--endpoint", "mine")
    assert res.exit_code == 2
    assert "--image and --endpoint were both given" in res.json["error"]["message"]


def test_no_input_anywhere_is_refused_with_the_toml_key(smctl, tmp_path):
    res = smctl("--json", "local-transform", "--image", "x", cwd=tmp_path)
    assert res.exit_code == 2
    assert "[transform] input" in res.json["error"]["hint"]
