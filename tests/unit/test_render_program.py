"""The generated `train`, `serve` and serving code, run outside Docker (SMCTL_OPT_ML stands in for /opt/ml)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.test import Client

from smctl.contract import layout
from smctl.contract.hyperparameters import encode_hyperparameters
from smctl.contract.layout import ChannelConfig
from smctl.project.render import ScaffoldOptions, plan_scaffold
from smctl.project.scaffold import write_scaffold

IRIS_MEANS = [5.843, 3.057, 3.758, 1.199]  # of the 150 rows, to 3 places


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / "demo"
    write_scaffold(folder, plan_scaffold(ScaffoldOptions(preset="python", name="demo"), folder))
    return folder


def _load(path: Path, name: str) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def serving(project: Path) -> ModuleType:
    return _load(project / "program" / "serving.py", "generated_serving")


def _opt_ml(root: Path, project: Path, hyperparameters: dict[str, Any], encoding: str = "json",
            channels: tuple[ChannelConfig, ...] = (ChannelConfig("training", content_type="text/csv"),)) -> Path:
    """An /opt/ml tree as SageMaker lays it out, written by smctl's own layout module."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / layout.HYPERPARAMETERS_JSON).write_text(
        layout.dump_config(encode_hyperparameters(hyperparameters, encoding)))
    (config / layout.INPUTDATACONFIG_JSON).write_text(layout.dump_config(layout.input_data_config(channels)))
    for channel in channels:
        shutil.copytree(project / "data" / "train", root / "input" / "data" / channel.name)
    return root


def _train(project: Path, opt_ml: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMCTL_OPT_ML": str(opt_ml)}
    return subprocess.run([sys.executable, str(project / "program" / "train")], env=env, capture_output=True,
                          text=True, check=False)


# ---- train --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["json", "str"])
def test_train_writes_the_model_from_the_contract_files(project, tmp_path, encoding):
    opt_ml = _opt_ml(tmp_path / "ml", project, {"precision": 3}, encoding)
    proc = _train(project, opt_ml)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((opt_ml / "model" / "model.json").read_text()) == {"means": IRIS_MEANS}
    assert json.loads((opt_ml / "output" / "data" / "metrics.json").read_text()) == {"rows": 150, "columns": 4}
    assert not (opt_ml / "output" / "failure").exists()


def test_train_parses_both_hyperparameter_encodings(project):
    train = _load(project / "program" / "train", "generated_train")
    cases = {"3": 3, "0.1": 0.1, "true": True, "True": True, "False": False, '"adam"': "adam", "adam": "adam",
             "[1, 2]": [1, 2]}
    assert {text: train.parse_value(text) for text in cases} == cases


def test_train_failure_writes_the_reason_first_then_the_traceback_and_exits_non_zero(project, tmp_path):
    opt_ml = _opt_ml(tmp_path / "ml", project, {}, channels=(ChannelConfig("validation"),))
    proc = _train(project, opt_ml)
    assert proc.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    first, rest = failure.split("\n", 1)
    assert first == "ValueError: this job has no 'training' channel (it has: ['validation'])"
    assert rest.lstrip("\n").startswith("Traceback (most recent call last):")
    assert first in proc.stderr


def test_train_refuses_pipe_mode_with_a_clear_reason(project, tmp_path):
    opt_ml = _opt_ml(tmp_path / "ml", project, {}, channels=(ChannelConfig("training", input_mode="Pipe"),))
    proc = _train(project, opt_ml)
    assert proc.returncode == 1
    assert "channel 'training' uses Pipe mode" in (opt_ml / "output" / "failure").read_text().splitlines()[0]


# ---- serve ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serve(project: Path) -> ModuleType:
    return _load(project / "program" / "serve", "generated_serve")


def test_serve_reads_workers_port_and_timeout_from_the_sagemaker_variables(serve):
    mb = 1024 * 1024
    assert serve.settings({}) == {"workers": len(os.sched_getaffinity(0)), "port": 8080, "timeout": 60,
                                  "body_limit": 6 * mb}
    assert serve.settings({"SAGEMAKER_MODEL_SERVER_WORKERS": "3", "SAGEMAKER_BIND_TO_PORT": "9090",
                           "SAGEMAKER_MODEL_SERVER_TIMEOUT": "5", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"}) == \
        {"workers": 3, "port": 9090, "timeout": 5, "body_limit": 6 * mb}  # the payload setting is batch's only
    batch = {"SAGEMAKER_BATCH": "true"}
    assert serve.settings({**batch, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20"})["body_limit"] == 20 * mb
    assert serve.settings({**batch, "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"})["body_limit"] == 0  # no limit
    assert serve.settings(batch)["body_limit"] == 6 * mb


def _granian_options(serve: ModuleType, project: Path, workers: int, **where: Any) -> dict[str, str]:
    cmd = serve.granian_command(workers, **where)
    assert cmd[:3] == [sys.executable, "-m", "granian"] and cmd[-2:] == ["--factory", "serving:create_app"]
    flags = [arg for arg in cmd[3:-2] if arg.startswith("--")]
    assert "--respawn-failed-workers" in flags  # a worker that dies is started again
    opts = dict(zip(cmd[3:-2], cmd[4:-2], strict=False))
    assert opts["--interface"] == "wsgi" and opts["--blocking-threads"] == "1"  # one request at a time per worker
    assert opts["--working-dir"] == str((project / "program").resolve())
    assert opts["--workers-kill-timeout"] == "25"  # SageMaker's SIGKILL comes 30 s after SIGTERM
    return opts


def test_one_worker_is_granian_on_the_port_itself(serve, project):
    opts = _granian_options(serve, project, 1, port=9090)
    assert (opts["--host"], opts["--port"], opts["--workers"]) == ("0.0.0.0", "9090", "1")
    assert "--uds" not in opts


def test_each_worker_behind_nginx_is_one_granian_process_on_its_own_socket(serve, project, tmp_path):
    opts = _granian_options(serve, project, 1, socket=tmp_path / "worker-0.sock")
    assert opts["--uds"] == str(tmp_path / "worker-0.sock") and opts["--workers"] == "1"
    assert int(opts["--uds-permissions"]) == 0o666  # nginx's worker process runs as nobody
    assert "--port" not in opts and "--host" not in opts


def test_nginx_balances_requests_over_kept_open_connections_to_every_worker(serve, tmp_path):
    sockets = [tmp_path / f"worker-{i}.sock" for i in range(3)]
    conf = serve.nginx_config(9090, sockets, 6291456, tmp_path)
    lines = [line.strip() for line in conf.splitlines()]
    assert "least_conn;" in lines  # each request goes to the worker with the fewest in progress
    assert [line for line in lines if line.startswith("server unix:")] == \
        [f"server unix:{s} max_fails=0;" for s in sockets]  # a worker being respawned is never taken out
    assert "listen 9090 backlog=1024;" in lines and "proxy_http_version 1.1;" in lines
    assert 'proxy_set_header Connection "";' in lines and "keepalive 48;" in lines  # upstream keep-alive
    assert "client_max_body_size 6291456;" in lines and "error_page 413 @too_large;" in lines  # refused by nginx,
    assert 'return 413 "request body over the 6291456 byte limit (6 MB)";' in lines  # in serving.py's words
    unlimited = serve.nginx_config(9090, sockets, 0, tmp_path).splitlines()
    assert "    client_max_body_size 0;" in unlimited and not any("@too_large" in line for line in unlimited)
    assert "proxy_buffering off;" in lines  # streamed answers go out as produced
    assert f"pid {tmp_path}/nginx.pid;" in lines and f"client_body_temp_path {tmp_path}/body;" in lines


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps({"means": [1.0, 2.0]}))
    return tmp_path / "model"


def _client(serving: ModuleType, model_dir: Path, inference: Path | None = None) -> Any:
    client = Client(serving.create_app(model_dir, inference))
    for _ in range(500):  # model_fn runs in a background thread: wait (bounded) for readiness
        if client.get("/ping").status_code != 503:
            break
        time.sleep(0.01)
    return client


@pytest.fixture
def client(serving: ModuleType, model_dir: Path) -> Iterator[Any]:
    yield _client(serving, model_dir)


def test_ping_is_200_with_an_empty_body_once_loaded(client):
    res = client.get("/ping")
    assert res.status_code == 200 and res.data == b""


def test_ping_is_503_until_model_fn_returns(serving, model_dir, tmp_path):
    module = tmp_path / "slow.py"
    module.write_text("import os, time\n"
                      "def model_fn(d):\n"
                      "    while not os.path.exists(os.path.join(d, 'go')):\n"
                      "        time.sleep(0.01)\n"
                      "    return 'm'\n"
                      "def predict_fn(data, model):\n    return [model]\n")
    client = Client(serving.create_app(model_dir, module))
    assert client.get("/ping").status_code == 503
    (model_dir / "go").touch()
    for _ in range(500):
        if client.get("/ping").status_code == 200:
            break
        time.sleep(0.01)
    assert client.get("/ping").status_code == 200


def test_an_invocation_reaching_a_worker_still_loading_waits_for_its_model(serving, model_dir, tmp_path,
                                                                          monkeypatch):
    """gunicorn workers load the model each: /ping may come from a ready worker, /invocations from another."""
    import threading

    module = tmp_path / "slow.py"
    module.write_text("import os, time\n"
                      "def model_fn(d):\n"
                      "    while not os.path.exists(os.path.join(d, 'go')):\n"
                      "        time.sleep(0.01)\n"
                      "    return 'm'\n"
                      "def predict_fn(data, model):\n    return [model]\n")
    client = Client(serving.create_app(model_dir, module))
    answers = []
    caller = threading.Thread(target=lambda: answers.append(
        client.post("/invocations", data="1", content_type="text/csv", headers={"Accept": "text/csv"})))
    caller.start()
    time.sleep(0.2)
    assert caller.is_alive(), "the invocation must wait for the model, not fail with 503"
    (model_dir / "go").touch()
    caller.join(timeout=30)
    assert answers[0].status_code == 200


def test_an_invocation_gives_up_just_under_the_server_timeout(serving, model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_TIMEOUT", "6")  # waits 1 s, then 503
    module = tmp_path / "never.py"
    module.write_text("import time\ndef model_fn(d):\n    time.sleep(3)\n"
                      "def predict_fn(data, model):\n    return [model]\n")
    client = Client(serving.create_app(model_dir, module))
    res = client.post("/invocations", data="1", content_type="text/csv")
    assert res.status_code == 503 and b"still loading" in res.data


def test_csv_with_n_lines_answers_n_lines(client):
    body = "".join(f"{i},{i + 1}\n" for i in range(25))
    res = client.post("/invocations", data=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert res.status_code == 200 and res.mimetype == "text/csv"
    lines = res.get_data(as_text=True).splitlines()
    assert len(lines) == 25
    assert lines[0] == str(round(((0 - 1) ** 2 + (1 - 2) ** 2) ** 0.5, 4))


@pytest.mark.parametrize("accept", [None, "*/*"])
def test_missing_or_wildcard_accept_answers_json(client, accept):
    headers = {"Content-Type": "text/csv", **({"Accept": accept} if accept else {})}
    res = client.post("/invocations", data="1,2\n4,6\n", headers=headers)
    assert res.status_code == 200 and res.mimetype == "application/json"
    assert res.get_json() == [0.0, 5.0]


def test_json_and_json_lines_bodies(client):
    res = client.post("/invocations", json={"instances": [[1, 2], [4, 6]]})
    assert res.get_json() == [0.0, 5.0]
    res = client.post("/invocations", data="[1, 2]\n[4, 6]\n",
                      headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"})
    assert res.mimetype == "application/jsonlines" and res.get_data(as_text=True) == "0.0\n5.0"


def test_npy_in_and_out(client):
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array([[1.0, 2.0], [4.0, 6.0]]))
    res = client.post("/invocations", data=buf.getvalue(),
                      headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"})
    assert res.status_code == 200
    assert np.load(io.BytesIO(res.data)).tolist() == [0.0, 5.0]


def test_unsupported_content_type_is_415_naming_the_supported_ones(client):
    res = client.post("/invocations", data=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert res.status_code == 415
    assert res.get_data(as_text=True) == ("unsupported content type 'image/png': send one of text/csv, "
                                          "application/json, application/jsonlines, application/x-npy")


def test_unsupported_accept_is_406_naming_the_supported_ones(client):
    res = client.post("/invocations", data="1,2\n", headers={"Content-Type": "text/csv", "Accept": "text/html"})
    assert res.status_code == 406 and "text/csv, application/json" in res.get_data(as_text=True)


def test_body_over_6_mb_is_413(client):
    res = client.post("/invocations", data=b"1" * (6_291_456 + 1), headers={"Content-Type": "text/csv"})
    assert res.status_code == 413 and "6291456" in res.get_data(as_text=True)


def test_batch_transform_payload_limit_follows_max_payload_in_mb(serving, model_dir, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_BATCH", "true")
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1")
    client = _client(serving, model_dir)
    res = client.post("/invocations", data=b"1,2\n" * 300_000, headers={"Content-Type": "text/csv"})
    assert res.status_code == 413


def test_error_in_user_code_is_500_with_its_message(client):
    res = client.post("/invocations", data="1,2,3\n", headers={"Content-Type": "text/csv"})
    assert res.status_code == 500
    assert res.get_data(as_text=True) == "ValueError: a row has 3 values; the model was trained on 2 columns"


def test_execution_parameters_report_workers_and_multi_record(client, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "3")
    res = client.get("/execution-parameters")
    assert res.get_json() == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


def test_transform_fn_with_predict_fn_is_an_error_at_startup(serving, model_dir, tmp_path):
    module = tmp_path / "both.py"
    module.write_text("def model_fn(d): return 1\n"
                      "def predict_fn(data, model): return data\n"
                      "def transform_fn(model, body, content_type, accept): return body\n")
    with pytest.raises(serving.HandlerError, match="defines transform_fn and also predict_fn"):
        serving.create_app(model_dir, module)


def test_transform_fn_alone_handles_the_request(serving, model_dir, tmp_path):
    module = tmp_path / "transform.py"
    module.write_text("def model_fn(d): return 'M'\n"
                      "def transform_fn(model, body, content_type, accept):\n"
                      "    return model + body.decode() + content_type, 'text/plain'\n")
    res = _client(serving, model_dir, module).post("/invocations", data="x", headers={"Content-Type": "a/b"})
    assert res.status_code == 200 and res.data == b"Mxa/b" and res.mimetype == "text/plain"


def test_inference_code_packed_in_the_model_wins(serving, model_dir):
    (model_dir / "code").mkdir()
    (model_dir / "code" / "inference.py").write_text(
        "def model_fn(d): return None\ndef predict_fn(data, model): return ['packed'] * len(data)\n")
    res = _client(serving, model_dir).post("/invocations", data="1\n2\n", headers={"Content-Type": "text/csv"})
    assert res.get_json() == ["packed", "packed"]


def test_model_fn_failure_makes_ping_fail_with_the_reason(serving, tmp_path):
    (tmp_path / "empty").mkdir()
    client = _client(serving, tmp_path / "empty")
    res = client.get("/ping")
    assert res.status_code == 500 and "FileNotFoundError" in res.get_data(as_text=True)
