"""Serving without the engine: the endpoint plan, /proc/net/tcp judging, and who holds a port."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from smctl.errors import UsageError
from smctl.serving.endpoint import ServeConfig, needs_engine_facts, plan_endpoint
from smctl.serving.ports import PortHolder, check_port, find_port_holder, port_is_free, process_listening
from smctl.serving.readiness import judge_listeners, parse_proc_net_tcp

# /proc/net/tcp and tcp6 of a container running `python -m http.server 8080 --bind 127.0.0.1` plus a socket on
# [::]:5000 and an established connection (state 01).
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 020011AC:1F90 010011AC:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:0 0
"""


def test_proc_net_tcp_lists_only_listening_sockets():
    assert parse_proc_net_tcp(PROC_NET_TCP) == [("127.0.0.1", 8080), ("::", 5000)]


def test_listening_on_loopback_only_is_fatal():
    kind, message = judge_listeners([("127.0.0.1", 8080)])
    assert kind == "fatal"
    assert "127.0.0.1:8080" in message


def test_listening_on_another_port_is_a_warning():
    kind, message = judge_listeners([("0.0.0.0", 5000)])
    assert kind == "warn"
    assert "port 5000 but not on 8080" in message


@pytest.mark.parametrize("listeners", [[], [("0.0.0.0", 8080)], [("::", 8080), ("127.0.0.1", 9000)]])
def test_listening_on_every_interface_is_fine(listeners):
    assert judge_listeners(listeners) is None


def _config(tmp_path: Path, **kw) -> ServeConfig:
    return ServeConfig(image="my-model:latest", name="my-model", project_root=tmp_path, **kw)


def test_plan_runs_serve_with_the_model_limits_labels_and_port(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    plan = plan_endpoint(_config(tmp_path, model=model, port=9000, instance_type="ml.m5.xlarge",
                                 read_only_model=True, environment={"A": "1"}), engine_cpus=2)
    c = plan.container
    assert (c.command, c.name, c.environment) == (["serve"], "smctl-endpoint-my-model", {"A": "1"})
    assert [(m.source, m.target, m.read_only) for m in c.mounts] == [(model, "/opt/ml/model", True)]
    assert c.ports == {"8080/tcp": ("127.0.0.1", 9000)}
    assert c.mem_limit == 16 * 1024**3
    assert c.nano_cpus == 2 * 10**9  # 4 vCPUs asked, the engine has 2
    assert c.labels == {"smctl.kind": "serve", "smctl.endpoint": "my-model", "smctl.model": str(model)}
    assert plan.model_kind == "folder"


def test_an_archive_is_extracted_into_the_run_folder(tmp_path):
    (tmp_path / "model.tar.gz").write_bytes(b"")
    plan = plan_endpoint(_config(tmp_path, model=tmp_path / "model.tar.gz", port=0))
    run_dir = tmp_path / ".smctl" / "endpoints" / "my-model"
    assert (plan.model_kind, plan.model_dir) == ("archive", run_dir / "model")
    assert plan.container.labels["smctl.run_dir"] == str(run_dir)
    assert plan.container.ports == {"8080/tcp": ("127.0.0.1", None)}  # --port 0: the engine picks


@pytest.mark.parametrize(("kw", "message"), [
    ({"port": 65536}, "port 65536 is out of range"),
    ({"name": "-bad"}, "endpoint name '-bad' is not valid"),
    ({"startup_timeout": 0}, "startup timeout 0 s is not positive"),
    ({"environment": {"1BAD": "x"}}, "environment variable name '1BAD' is not valid"),
    ({"instance_type": "ml.m5.huge"}, "unknown instance type"),
    ({"model": "/nonexistent/model"}, "model /nonexistent/model does not exist"),
    ({"instance_type": "ml.t3.medium"}, "ml.t3.medium is not a SageMaker hosting instance type"),
    ({"instance_type": "ml.r5.large", "instance_use": "transform"},
     "ml.r5.large is not a SageMaker transform instance type"),
])
def test_plan_rejects_bad_input(tmp_path, kw, message):
    with pytest.raises(UsageError, match=message):
        plan_endpoint(ServeConfig(**{"image": "m:1", "name": "m", "project_root": tmp_path, **kw}))


@pytest.mark.parametrize(("kw", "needed"), [
    ({"instance_type": "ml.m5.xlarge"}, True),  # 4 vCPUs: capped to what the engine has
    ({"instance_type": "ml.g5.xlarge"}, True),
    ({"instance_type": "local"}, False),  # no limits and no GPUs: the plan does not depend on the engine
    ({"instance_type": "local_gpu"}, True),  # --gpus auto: GPUs only when the engine has them
    ({"instance_type": "local_gpu", "gpus": "all"}, False),
    ({"instance_type": "local_gpu", "gpus": "none"}, False),
    ({"instance_type": "ml.m5.huge"}, False),  # plan_endpoint rejects it
])
def test_engine_facts_are_asked_only_when_the_plan_uses_them(tmp_path, kw, needed):
    config = ServeConfig(**{"image": "m:1", "name": "m", "project_root": tmp_path, **kw})
    assert needs_engine_facts(config) is needed
    if not needed and kw["instance_type"] != "ml.m5.huge":
        assert plan_endpoint(config) == plan_endpoint(config, engine_cpus=1, engine_has_gpus=True)


def test_check_port_accepts_0_to_65535():
    check_port(0)
    check_port(65535)
    with pytest.raises(UsageError):
        check_port(-1)


def test_a_listening_socket_is_found_with_its_process():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
        holder = find_port_holder(port)
        assert holder == process_listening(port)
    assert holder is not None
    assert (holder.kind, holder.ident) == ("process", str(os.getpid()))
    assert holder.fix() == f"kill {os.getpid()}"
    assert port_is_free(port)
    assert find_port_holder(port) is None


def test_holder_descriptions_name_the_fix():
    endpoint = PortHolder("container", "smctl-endpoint-a", "0123456789abcdef", "a")
    assert endpoint.describe() == "smctl endpoint 'a' (container smctl-endpoint-a, id 0123456789ab)"
    assert endpoint.fix() == "smctl local-stop a"
    other = PortHolder("container", "web", "fedcba9876543210")
    assert (other.describe(), other.fix()) == ("container web, id fedcba987654", "docker rm -f web")
    proxy = PortHolder("process", "docker-proxy", "77")
    assert "Docker container" in proxy.describe()
    assert "docker ps" in proxy.fix()
