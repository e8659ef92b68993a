"""The credentials endpoint keeps its secrets and tidies up: no key, secret or token anywhere but where it must be,
no agent or network left after a failure, Ctrl-C or local-stop, and only the run's own containers answered."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import TEST_LABELS, WORKER, WORKER_LABEL
from tests.integration import credentials_fixtures, serving_fixtures
from tests.integration.credentials_fixtures import (
    HOLDER,
    ROLE,
    agents,
    assert_network_released,
    network_ids,
    new_agents,
    own_agents,
    run_containers,
    run_of,
    served,
    unique_name,
    wait_gone,
)
from tests.integration.serving_fixtures import Foreground, endpoint_containers

pytestmark = pytest.mark.docker
aws_client_image = credentials_fixtures.aws_client_image
bridge_moto = credentials_fixtures.bridge_moto
caller = credentials_fixtures.caller
endpoint_name = serving_fixtures.endpoint_name

MAX_SCANNED = 64 * 1024 * 1024
# Until SIGTERM, polling: stops at once when the run ends (PID 1 ignores a SIGTERM it does not trap).
WAIT_FOR_TERM = "sh -c 'trap \"exit 0\" TERM; while :; do sleep 0.2; done'"


def _files_changed_since(root: Path, since: float) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                st = path.lstat()
            except OSError:  # removed meanwhile
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime >= since and st.st_size <= MAX_SCANNED:
                yield path


def _where(secrets: dict[str, str], texts: dict[str, str], files: list[Path]) -> list[str]:
    """Every (secret, place) pair where a secret's plain text shows up."""
    found = [f"{what} in {place}" for place, text in texts.items() for what, s in secrets.items() if s in text]
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:  # removed meanwhile, or not readable as a file
            continue
        found += [f"{what} in {path}" for what, s in secrets.items() if s.encode() in data]
    return found


def _serve(smctl, client, image: str, name: str, cwd: Path, *args: str):
    """A detached endpoint of the aws-client image: (local-serve's result, its container)."""
    res = smctl("--json", "local-serve", "--image", image, "--name", name, "--detach", "--port", "0", *args, cwd=cwd)
    assert res.exit_code == 0, res.stderr
    (container,) = endpoint_containers(client, name)
    return res, container


def test_no_secret_shows_up_in_inspect_argv_files_or_output(smctl, aws_client_image, caller, endpoint_name,
                                                            tmp_path, docker_client):
    since = time.time() - 1
    name = endpoint_name("leak")
    outputs: dict[str, str] = {}
    started, container = _serve(smctl, docker_client, aws_client_image, name, tmp_path, *caller.probe_env(),
                                "--role", ROLE)
    outputs["local-serve --json"] = started.stdout + started.stderr
    for args in (("--json", "invoke", name, "--data", "{}"), ("invoke", name, "--data", "{}"),
                 ("--json", "endpoints"), ("logs", name)):
        res = smctl(*args)
        assert res.exit_code == 0, res.stderr
        outputs[" ".join(args)] = res.stdout + res.stderr
    call = json.loads(smctl("--json", "invoke", name, "--data", "{}").json["result"]["body"])
    assert call["arn"].endswith(f"/SMExec/{name}")
    secrets = {"caller key": caller.key, "caller secret": caller.secret,
               **{f"served {k}": v for k, v in served(call).items()}}
    run = run_of(container)
    ids = [c.id for c in run_containers(docker_client, run)]
    assert ids
    outputs["docker inspect"] = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                                               check=True).stdout
    outputs["ps"] = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "smctl.credentials.agent" in outputs["ps"]  # the agent's argv was searched too
    stopped = smctl("--json", "local-stop", name)
    assert stopped.exit_code == 0, stopped.stderr
    outputs["local-stop --json"] = stopped.stdout + stopped.stderr

    job = unique_name("leak-train")
    trained = smctl("--json", "local-train", "--image", aws_client_image, "--job-name", job, *caller.probe_env(),
                    cwd=tmp_path)
    assert trained.exit_code == 0, trained.stderr
    outputs["local-train --json"] = trained.stdout + trained.stderr
    assert "PROBE [" in (tmp_path / ".smctl" / "runs" / job / "logs.txt").read_text()  # the run folder was written

    files = sorted(set(_files_changed_since(Path("/tmp"), since)) | set(_files_changed_since(tmp_path, 0)))
    assert tmp_path / ".smctl" / "runs" / job / "logs.txt" in files
    assert _where(secrets, outputs, files) == []


def test_failed_job_leaves_no_agent_and_no_network(smctl, aws_client_image, caller, tmp_path, docker_client):
    job, started_with = unique_name("cred-fail"), own_agents()
    res = smctl("local-train", "--image", aws_client_image, "--job-name", job, "--entrypoint", "sh -c 'exit 3'",
                cwd=tmp_path)
    assert res.exit_code == 5, res.stderr
    assert "AWS credentials for the containers: session credentials of the caller" in res.stderr
    assert new_agents(started_with) == []
    assert docker_client.containers.list(all=True, filters={"label": f"smctl.job={job}"}) == []
    assert_network_released(docker_client)


def test_ctrl_c_stops_the_agent_and_removes_the_network(aws_client_image, caller, tmp_path, docker_client):
    job = unique_name("cred-int")
    fg = Foreground(["local-train", "--image", aws_client_image, "--job-name", job, "--entrypoint", WAIT_FOR_TERM],
                    cwd=tmp_path)
    try:
        fg.wait_for("started algo-1")
        (agent,) = agents(parent=fg.proc.pid)
        (container,) = docker_client.containers.list(filters={"label": f"smctl.job={job}"})
        run = run_of(container)
        fg.proc.send_signal(signal.SIGINT)
        assert fg.finish() == 130, fg.output()
    finally:
        if fg.proc.poll() is None:
            fg.proc.kill()
    wait_gone(agent)
    assert run_containers(docker_client, run) == []
    assert_network_released(docker_client)


def test_local_stop_of_a_detached_endpoint_ends_its_agent(smctl, aws_client_image, caller, endpoint_name,
                                                          tmp_path, docker_client):
    name = endpoint_name("stop")
    before = own_agents()
    _, container = _serve(smctl, docker_client, aws_client_image, name, tmp_path, *caller.probe_env())
    (agent,) = new_agents(before)
    run = run_of(container)
    assert network_ids(docker_client), "the endpoint is up: the network that owns 169.254.170.2 is there"
    # Every run's network, not this process's: a sweep of this worker's resources by label leaves it alone.
    assert not network_ids(docker_client, label=f"{WORKER_LABEL}={WORKER}")
    assert smctl("local-stop", name).exit_code == 0
    wait_gone(agent)
    assert run_containers(docker_client, run) == []
    assert_network_released(docker_client)


def test_a_terminated_agent_gives_the_address_back(smctl, aws_client_image, caller, endpoint_name, tmp_path,
                                                   docker_client):
    name = endpoint_name("term")
    before = own_agents()
    _, container = _serve(smctl, docker_client, aws_client_image, name, tmp_path, *caller.probe_env())
    (agent,) = new_agents(before)
    try:
        agent.terminate()  # `kill PID`, a shutdown: its endpoint is gone, so is its hold on 169.254.170.2
        assert wait_gone(agent) == 128 + signal.SIGTERM  # it exited through its clean-up, not killed by SIGTERM
        assert_network_released(docker_client, ignore=run_of(container))
    finally:
        assert smctl("local-stop", name).exit_code == 0


# One run after another, as fast as they go: listen on 169.254.170.2 (the network made when missing), stop, give it
# back. Prints what went wrong.
CHURN = """
import json, socket, sys
from smctl.credentials.agent import _bind
from smctl.engine.client import engine
from smctl.engine.linklocal import host_address
from smctl.errors import SmctlError
client, errors = engine(), []
for _ in range(int(sys.argv[2])):
    try:
        with host_address(client) as keep_address:
            server = _bind(keep_address, lambda: socket.create_server(("169.254.170.2", 0)))
            server.close()
    except SmctlError as exc:
        errors.append(exc.message)
print(json.dumps(errors))
"""


def test_runs_starting_while_others_end_always_get_the_address(docker_reaper):
    # Each run's end removes the network unless another listens: a start in between must make it again, not fail.
    churn = [subprocess.Popen([sys.executable, "-c", CHURN, HOLDER, "15"], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    errors = [json.loads(proc.communicate(timeout=300)[0]) for proc in churn]
    assert errors == [[], [], []]
    assert_network_released(docker_reaper)


# Run inside a container: GET the endpoint with the right and wrong token and path; prints the statuses.
ASK = """
import json, sys, urllib.error, urllib.request
uri, token = sys.argv[1:3]
def get(url, tok):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": tok}), timeout=10) as r:
            return [r.status, sorted(json.load(r))]
    except urllib.error.HTTPError as e:
        return [e.code, json.load(e)["message"]]
print(json.dumps({"right": get(uri, token), "wrong_token": get(uri, token[::-1]),
                  "wrong_path": get(uri.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000", token)}))
"""


def _endpoint_variables(container) -> tuple[str, str]:
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    return env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]


def test_only_the_runs_containers_with_its_token_and_path_get_credentials(smctl, aws_client_image, caller,
                                                                          endpoint_name, tmp_path, docker_client):
    name = endpoint_name("who")
    _, member = _serve(smctl, docker_client, aws_client_image, name, tmp_path, *caller.probe_env())
    uri, token = _endpoint_variables(member)
    try:
        code, out = member.exec_run(["python3", "-c", ASK, uri, token])
        assert code == 0, out
        inside = json.loads(out)
        outsider = docker_client.containers.run(aws_client_image, ["python3", "-c", ASK, uri, token],
                                                labels=TEST_LABELS, detach=True)
        try:
            assert outsider.wait(timeout=120)["StatusCode"] == 0, outsider.logs()
            outside = json.loads(outsider.logs(stderr=False))
        finally:
            outsider.remove(force=True)
    finally:
        assert smctl("local-stop", name).exit_code == 0
    assert inside["right"] == [200, ["AccessKeyId", "Expiration", "SecretAccessKey", "Token"]]
    assert inside["wrong_token"] == [403, "missing or wrong authorization token"]
    assert inside["wrong_path"] == [404, "not found"]
    status, message = outside["right"]
    assert status == 403 and message.endswith("is not a container of this run"), outside
    assert outside["wrong_token"][0] == 403 and outside["wrong_path"][0] == 404


def test_the_host_itself_is_not_answered(smctl, aws_client_image, caller, endpoint_name, tmp_path, docker_client):
    name = endpoint_name("host")
    _, member = _serve(smctl, docker_client, aws_client_image, name, tmp_path, *caller.probe_env())
    uri, token = _endpoint_variables(member)
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            direct.open(urllib.request.Request(uri, headers={"Authorization": token}), timeout=10)
    finally:
        assert smctl("local-stop", name).exit_code == 0
    assert refused.value.code == 403
