"""`smctl local-transform` against the real engine, with a recording serving image (tests/images/transform-recorder)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from smctl.contract.recordio import recordio_frames
from smctl.transform.splitters import tfrecord_frame
from tests.helpers import TEST_LABELS, smctl_exe

pytestmark = pytest.mark.docker
IMAGES = Path(__file__).resolve().parents[1] / "images"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
WORKER_LABEL = "smctl.test.worker"  # under pytest -n, another worker's reaper leaves this worker's containers alone
RECORDER = f"smctl-test-transform-recorder:{WORKER}"
MB = 1024 * 1024


@pytest.fixture(scope="session")
def recorder(docker_client):
    docker_client.images.build(path=str(IMAGES / "transform-recorder"), tag=RECORDER, rm=True,
                               labels={**TEST_LABELS, WORKER_LABEL: WORKER})
    yield RECORDER
    with contextlib.suppress(Exception):  # already gone
        docker_client.images.remove(RECORDER, force=True)


class Work:
    """A project folder: in/ (the input), out/, model/ (mounted at /opt/ml/model: the recorder logs there)."""

    def __init__(self, root: Path, smctl, image: str, client) -> None:
        self.root, self.smctl, self.image, self.client = root, smctl, image, client
        for sub in ("in", "model"):
            (root / sub).mkdir()

    def write(self, rel: str, data: bytes) -> Path:
        path = self.root / "in" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def run(self, *args: str, env: dict[str, str] | None = None, output: str | Path | None = None):
        flags = [f for k, v in (env or {}).items() for f in ("--env", f"{k}={v}")]
        res = self.smctl("--json", "local-transform", "--image", self.image, "--input", self.root / "in",
                         "--output", output or self.root / "out", "--model", self.root / "model", *flags, *args,
                         cwd=self.root)
        doc = res.json
        job = (doc.get("result") or doc["error"].get("details") or {}).get("job_name")
        if job:
            assert not self.client.containers.list(all=True, filters={"label": f"smctl.job={job}"}), \
                "the transform container was left behind"
        return res

    def out(self, rel: str) -> bytes:
        return (self.root / "out" / (rel + ".out")).read_bytes()

    def log(self) -> list[dict]:
        path = self.root / "model" / "requests.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def requests(self) -> list[dict]:
        return [e for e in self.log() if "n" in e]

    def starts(self) -> list[dict]:
        return [e["env"] for e in self.log() if e.get("event") == "start"]


@pytest.fixture
def work(tmp_path, smctl, recorder, docker_reaper):
    return Work(tmp_path, smctl, recorder, docker_reaper)


def _params(res) -> dict:
    return {k: (v["value"], v["source"]) for k, v in res.json["result"]["parameters"].items()}


def test_line_multi_record_keeps_nested_paths_and_sets_only_sagemaker_batch(work):
    work.write("a.csv", b"a,b\nc,d\r\ne,f")
    work.write("sub/deeper/b.csv", b"g,h\n")
    res = work.run("--split-type", "Line", "--content-type", "text/csv", "--accept", "text/csv",
                   "--assemble-with", "None")
    assert res.exit_code == 0, res.stdout
    assert work.out("a.csv") == b"A,B\nC,D\nE,F\n"
    assert work.out("sub/deeper/b.csv") == b"G,H\n"
    assert work.starts() == [{"SAGEMAKER_BATCH": "true"}]
    reqs = work.requests()
    assert [(r["bytes"], r["lines"]) for r in reqs] == [(12, 3), (4, 1)]  # one MultiRecord batch per file
    assert {(r["content_type"], r["accept"]) for r in reqs} == {("text/csv", "text/csv")}
    assert _params(res) == {"MaxPayloadInMB": (6, "default"), "BatchStrategy": ("MultiRecord", "default"),
                            "MaxConcurrentTransforms": (1, "default")}
    result = res.json["result"]
    assert (result["records"], result["transformed"], result["failed"]) == (4, 2, [])


def test_single_record_sends_each_record_alone_and_passes_the_users_values(work):
    work.write("a.jsonl", b'{"x": 1}\n{"x": 2}\n{"x": 3}\n')
    res = work.run("--split-type", "Line", "--strategy", "SINGLE_RECORD", "--max-payload", "2",
                   "--max-concurrent", "2", "--assemble-with", "Line")
    assert res.exit_code == 0, res.stdout
    assert work.starts() == [{"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2",
                              "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2"}]
    assert sorted(r["head"] for r in work.requests()) == ['{"x": 1}\n', '{"x": 2}\n', '{"x": 3}\n']
    assert work.out("a.jsonl") == b'{"X": 1}\n\n{"X": 2}\n\n{"X": 3}\n\n'


def test_a_payload_exactly_at_the_limit_passes_and_one_byte_over_fails_its_file(work):
    work.write("at-limit.txt", b"a" * (MB - 1) + b"\n")
    work.write("over.txt", b"ok\n" + b"b" * MB + b"\n")
    work.write("packed.txt", (b"c" * (MB // 2 - 1) + b"\n") * 2 + b"d\n")
    res = work.run("--split-type", "Line", "--max-payload", "1")
    assert res.exit_code == 2, res.stdout  # only the data was at fault
    err = res.json["error"]
    assert "1 of 3 file(s) failed" in err["message"]
    assert "over.txt: record 2 is 1,048,577 bytes, over the payload limit of 1,048,576 bytes" in err["message"]
    assert "--resume" in err["hint"]
    assert sorted(r["bytes"] for r in work.requests()) == [2, MB, MB]
    assert not (work.root / "out" / "over.txt.out").exists()
    assert work.out("at-limit.txt") == b"A" * (MB - 1) + b"\n"


@pytest.mark.parametrize("split", ["RecordIO", "TFRecord"])
@pytest.mark.parametrize("strategy", ["SingleRecord", "MultiRecord"])
def test_binary_splits_strip_framing_only_for_single_record(work, split, strategy):
    payloads = [b"first", b"", os.urandom(1001)]
    frame = (lambda p: b"".join(recordio_frames(p))) if split == "RecordIO" else tfrecord_frame
    data = b"".join(frame(p) for p in payloads)
    work.write("data.bin", data)
    res = work.run("--split-type", split, "--strategy", strategy, "--content-type", "application/x-recordio",
                   "--assemble-with", "Line", env={"RECORDER_MODE": "size"})
    assert res.exit_code == 0, res.stdout
    sent = [r["sha256"] for r in work.requests()]
    if strategy == "SingleRecord":
        assert sent == [hashlib.sha256(p).hexdigest() for p in payloads]
    else:
        assert sent == [hashlib.sha256(data).hexdigest()]
    assert work.out("data.bin").count(b"\n") == 2 * len(sent)  # the recorder's line, then AssembleWith Line's


def test_order_is_kept_with_four_requests_in_flight(work):
    lines = [f"row-{i:04d},{i}\n".encode() for i in range(200)]
    work.write("many.csv", b"".join(lines))
    res = work.run("--split-type", "Line", "--strategy", "SingleRecord", "--max-concurrent", "4",
                   env={"RECORDER_JITTER_MS": "20"})
    assert res.exit_code == 0, res.stdout
    assert work.out("many.csv") == b"".join(lines).upper()
    assert 2 <= max(r["in_flight"] for r in work.requests()) <= 4
    assert _params(res)["MaxConcurrentTransforms"] == (4, "user")


def test_the_containers_execution_parameters_apply_unless_the_user_sets_a_value(work):
    work.write("a.csv", b"x\ny\nz\n")
    exec_params = json.dumps({"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 3})
    res = work.run("--split-type", "Line", "--strategy", "SingleRecord", env={"RECORDER_EXEC_PARAMS": exec_params})
    assert res.exit_code == 0, res.stdout
    assert _params(res) == {"MaxPayloadInMB": (3, "container"), "BatchStrategy": ("SingleRecord", "user"),
                            "MaxConcurrentTransforms": (2, "container")}
    assert len(work.requests()) == 3
    assert res.json["result"]["execution_parameters"] == {"max_concurrent": 2, "strategy": "MultiRecord",
                                                          "max_payload_mb": 3}
    (work.root / "model" / "requests.jsonl").unlink()
    res = work.run("--split-type", "Line", env={"RECORDER_EXEC_PARAMS": exec_params}, output=work.root / "out2")
    assert res.exit_code == 0, res.stdout
    assert _params(res)["BatchStrategy"] == ("MultiRecord", "container")  # MULTI_RECORD is understood
    assert len(work.requests()) == 1


def test_a_retry_saves_a_request_and_a_file_failing_after_retries_gets_no_out(work):
    work.write("a.csv", b"fine\n")
    work.write("b.csv", b"ok\npoison\n")
    work.write("c.csv", b"also fine\n")
    res = work.run("--split-type", "Line", "--strategy", "SingleRecord", "--retries", "1",
                   env={"RECORDER_FAIL_NTH": "1", "RECORDER_FAIL_MATCH": "poison"})
    assert res.exit_code == 5, res.stdout
    err = res.json["error"]
    assert err["type"] == "ContainerFailedError"
    assert "b.csv: record 2: HTTP 500" in err["message"] and "after 2 attempt(s)" in err["message"]
    details = err["details"]
    assert [f["file"] for f in details["failed"]] == ["b.csv"]
    assert details["transformed"] == 2 and details["retries"] == 2
    assert work.out("a.csv") == b"FINE\n" and work.out("c.csv") == b"ALSO FINE\n"
    assert not (work.root / "out" / "b.csv.out").exists()
    assert [r["status"] for r in work.requests()] == [500, 200, 200, 500, 500, 200]


def test_a_container_that_dies_midway_fails_the_job_without_retrying_every_file(work):
    for name in ("a", "b", "c", "d"):
        work.write(f"{name}.csv", f"{name}\n".encode())
    res = work.run("--split-type", "Line", env={"RECORDER_EXIT_NTH": "2"})
    assert res.exit_code == 5, res.stdout
    failed = {f["file"]: f["reason"] for f in res.json["error"]["details"]["failed"]}
    assert sorted(failed) == ["b.csv", "c.csv", "d.csv"]
    assert "container" in failed["b.csv"] and "after 4 attempt(s)" in failed["b.csv"]
    assert failed["c.csv"].startswith("not transformed: the container stopped answering /ping")
    assert work.out("a.csv") == b"A\n"


def test_csv_input_filter_join_and_output_filter(work):
    work.write("rows.csv", b"1,a,b\n2,c,d\n3,e,f\n")
    res = work.run("--split-type", "Line", "--assemble-with", "Line", "--content-type", "text/csv",
                   "--accept", "text/csv", "--input-filter", "$[1:]", "--join-source", "Input",
                   "--output-filter", "$[0,-1]")
    assert res.exit_code == 0, res.stdout
    assert [r["head"] for r in work.requests()] == ["a,b\nc,d\ne,f\n"]  # the id column never reaches the model
    assert work.out("rows.csv") == b"1,B\n2,D\n3,F\n"
    assert res.json["result"]["data_processing"] == {"input_filter": "$[1:]", "join_source": "Input",
                                                     "output_filter": "$[0,-1]"}


def test_jsonlines_input_filter_join_and_output_filter(work):
    work.write("rows.jsonl", b'{"id": 1, "text": "hi"}\n{"id": 2, "text": "yo"}\n')
    res = work.run("--split-type", "Line", "--assemble-with", "Line", "--content-type", "application/jsonlines",
                   "--input-filter", "$.text", "--join-source", "Input",
                   "--output-filter", "$['id','SageMakerOutput']")
    assert res.exit_code == 0, res.stdout
    assert [r["head"] for r in work.requests()] == ['"hi"\n"yo"\n']
    assert work.out("rows.jsonl") == b'{"id":1,"SageMakerOutput":"HI"}\n{"id":2,"SageMakerOutput":"YO"}\n'


def test_a_join_whose_response_lacks_a_line_fails_that_file(work):
    work.write("rows.csv", b"1,a\n2,b\n")
    res = work.run("--split-type", "Line", "--assemble-with", "Line", "--content-type", "text/csv",
                   "--join-source", "Input", env={"RECORDER_FEWER_LINES": "1"})
    assert res.exit_code == 2, res.stdout
    assert "rows.csv: the response to records 1-2 has 1 line(s) for 2 record(s)" in res.json["error"]["message"]
    assert not (work.root / "out" / "rows.csv.out").exists()


def test_invalid_json_with_an_input_filter_names_the_file_and_record(work):
    work.write("good.jsonl", b'{"f": [1]}\n')
    work.write("bad.jsonl", b'{"f": [1]}\n{"f": [2]\n')
    res = work.run("--split-type", "Line", "--content-type", "application/jsonlines", "--input-filter", "$.f")
    assert res.exit_code == 2, res.stdout
    assert "bad.jsonl: record 2: is not valid application/jsonlines" in res.json["error"]["message"]
    assert work.out("good.jsonl") == b"[1]\n"


def test_a_multi_record_answer_on_one_line_is_warned_about(work):
    work.write("rows.csv", b"a\nb\nc\n")
    res = work.run("--split-type", "Line", "--assemble-with", "Line", env={"RECORDER_MODE": "array"})
    assert res.exit_code == 0, res.stdout
    assert work.out("rows.csv") == b'["A", "B", "C"]\n\n'
    assert any("has 1 line(s) for 3 record(s)" in w for w in res.json["warnings"])


def test_zero_max_payload_streams_the_object_chunked(work):
    data = b"".join(b"%06d\n" % i for i in range(300_000))  # 2.1 MB
    work.write("big.txt", data)
    res = work.run("--max-payload", "0")
    assert res.exit_code == 0, res.stdout
    (req,) = work.requests()
    assert (req["transfer_encoding"], req["content_length"], req["bytes"]) == ("chunked", None, len(data))
    assert req["sha256"] == hashlib.sha256(data).hexdigest()


def test_resume_skips_files_whose_out_exists(work):
    work.write("a.csv", b"a\n")
    work.write("b.csv", b"b\n")
    assert work.run("--split-type", "Line").exit_code == 0
    (work.root / "out" / "a.csv.out").unlink()
    (work.root / "out" / "b.csv.out").write_bytes(b"edited by hand\n")
    before = len(work.requests())
    res = work.run("--split-type", "Line", "--resume")
    assert res.exit_code == 0, res.stdout
    assert [r["head"] for r in work.requests()[before:]] == ["a\n"]
    assert work.out("a.csv") == b"A\n" and work.out("b.csv") == b"edited by hand\n"
    assert res.json["result"]["skipped"] == ["b.csv"]


def test_s3_input_and_output_with_gzip(work, aws_env):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="transform-data")
    s3.put_object(Bucket="transform-data", Key="in/a.csv.gz", Body=gzip.compress(b"one\ntwo\n"))
    s3.put_object(Bucket="transform-data", Key="in/sub/b.csv.gz", Body=gzip.compress(b"three\n"))
    res = work.smctl("--json", "local-transform", "--image", work.image, "--input", "s3://transform-data/in/",
                     "--output", "s3://transform-data/results", "--compression", "Gzip", "--split-type", "Line",
                     "--model", work.root / "model", cwd=work.root)
    assert res.exit_code == 0, res.stdout
    got = {k: s3.get_object(Bucket="transform-data", Key=k)["Body"].read()
           for k in ("results/a.csv.gz.out", "results/sub/b.csv.gz.out")}
    assert got == {"results/a.csv.gz.out": b"ONE\nTWO\n", "results/sub/b.csv.gz.out": b"THREE\n"}


@pytest.mark.parametrize("fault", ["unreachable", "no-such-bucket"])
def test_an_s3_output_that_cannot_be_written_fails_before_any_container_starts(work, aws_env, monkeypatch, fault):
    if fault == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    work.write("a.csv", b"one\n")
    res = work.run("--split-type", "Line", output=f"s3://smctl-missing-{os.getpid()}/results")
    assert res.exit_code == 4, res.stdout
    assert f"s3://smctl-missing-{os.getpid()}/results" in res.json["error"]["message"]
    assert work.starts() == []  # the recorder logs each start of its container: there was none


def test_an_output_that_is_a_file_fails_before_any_container_starts(work):
    work.write("a.csv", b"one\n")
    (work.root / "taken").write_text("not a folder")
    res = work.run("--split-type", "Line", output=work.root / "taken")
    assert res.exit_code == 2, res.stdout
    assert res.json["error"]["message"] == f"output {work.root / 'taken'} is a file, not a folder"
    assert work.starts() == []


def test_endpoint_option_uses_a_running_local_endpoint(work):
    name = f"tr{WORKER.replace('gw', '')}-endpoint-{os.getpid()}"
    started = work.smctl("--json", "local-serve", "--image", work.image, "--name", name, "--port", "0",
                         "--model", work.root / "model", "--detach", cwd=work.root)
    assert started.exit_code == 0, started.stdout
    try:
        work.write("a.csv", b"via endpoint\n")
        res = work.smctl("--json", "local-transform", "--endpoint", name, "--input", work.root / "in",
                         "--output", work.root / "out", "--split-type", "Line", cwd=work.root)
        assert res.exit_code == 0, res.stdout
        assert work.out("a.csv") == b"VIA ENDPOINT\n"
        assert res.json["result"]["container"] == name
        assert any(f"endpoint {name} runs without SAGEMAKER_BATCH=true" in w for w in res.json["warnings"])
    finally:
        work.smctl("local-stop", name, cwd=work.root)


def test_ctrl_c_stops_cleanly_leaves_no_container_and_no_partial_out(work, docker_reaper):
    work.write("slow.csv", b"x\ny\n")
    proc = subprocess.Popen([*smctl_exe(), "local-transform", "--image", work.image, "--input", str(work.root / "in"),
                             "--output", str(work.root / "out"), "--model", str(work.root / "model"),
                             "--split-type", "Line", "--strategy", "SingleRecord", "--env", "RECORDER_SLEEP=60"],
                            cwd=work.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not work.requests():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the container never received a request"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    job = next(w for w in stderr.split() if w.startswith("transform-"))
    assert not docker_reaper.containers.list(all=True, filters={"label": f"smctl.job={job}"})
    assert not (work.root / "out").exists() or list((work.root / "out").rglob("*")) == []
