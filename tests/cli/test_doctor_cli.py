"""`smctl doctor` and `smctl check` through the real CLI: exit codes, one JSON document, errors with hints."""

from __future__ import annotations

import io
import uuid

import pytest
from rich.console import Console

from smctl.doctor.model import CheckResult, Report, Status


def checks(res) -> dict[str, dict]:
    doc = res.json
    report = doc["result"] if doc["ok"] else doc["error"]["details"]
    return {c["id"]: c for c in report["checks"]}




@pytest.mark.docker
def test_doctor_json_runs_every_check_and_exit_code_follows_failures(smctl, docker_client, no_aws_env, tmp_path):
    res = smctl("doctor", "--json", cwd=tmp_path)
    got = checks(res)
    for cid in ("docker.engine", "docker.builder", "docker.platform", "project", "port.8080", "disk.data_root",
                "disk.run_folder", "gpu", "aws.credentials", "aws.region"):
        assert cid in got, cid
    assert got["docker.engine"]["status"] == "ok"
    assert got["disk.data_root"]["data"]["path"] == docker_client.info()["DockerRootDir"]
    assert got["gpu"]["status"] == "ok" and "no NVIDIA GPU/driver" in got["gpu"]["summary"]
    assert got["aws.credentials"]["status"] == "warn"
    failed = [c for c in got.values() if c["status"] == "fail"]
    assert res.exit_code == (6 if failed else 0)
    assert res.json["ok"] is (not failed)


@pytest.mark.docker
def test_doctor_does_not_ask_for_buildx_as_smctl_builds_through_the_classic_builder(smctl, docker_client,
                                                                                     no_aws_env, tmp_path):
    res = smctl("doctor", "--json", cwd=tmp_path)
    builder = [c for c in checks(res).values() if c["id"].startswith("docker.build")]
    assert len(builder) == 1
    assert builder[0]["status"] == "ok", builder[0]
    assert "buildx" not in (builder[0]["remedy"] or "")


def test_doctor_with_the_engine_down_still_runs_the_other_checks(smctl, monkeypatch, no_aws_env, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    res = smctl("doctor", "--json", cwd=tmp_path)
    assert res.exit_code == 6
    doc = res.json
    assert doc["ok"] is False and doc["error"]["exit_code"] == 6
    assert "docker.engine" in doc["error"]["message"]
    got = checks(res)
    engine = got["docker.engine"]
    assert engine["status"] == "fail"
    assert "not running (its socket is missing)" in engine["summary"]
    assert "unset DOCKER_HOST" in engine["remedy"]
    assert got["disk.data_root"]["status"] == "warn" and "unreachable" in got["disk.data_root"]["summary"]
    assert got["port.8080"]["status"] in ("ok", "fail")  # judged without the engine
    assert got["disk.run_folder"]["status"] in ("ok", "warn", "fail")
    assert "aws.credentials" in got and "gpu" in got


def test_failed_checks_error_says_n_of_m_checks_failed_without_repeating_the_command(smctl, monkeypatch,
                                                                                    no_aws_env, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    res = smctl("doctor", "--json", cwd=tmp_path)
    doc = res.json
    failed = [c["id"] for c in doc["error"]["details"]["checks"] if c["status"] == "fail"]
    total = len(doc["error"]["details"]["checks"])
    assert doc["error"]["message"] == f"{len(failed)} of {total} checks failed: {', '.join(failed)}"


def test_doctor_names_the_process_holding_a_port_and_how_to_free_it(smctl, held_port, monkeypatch, tmp_path):
    port, pid = held_port
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")  # the port check does not need it
    res = smctl("doctor", "--port", str(port), cwd=tmp_path)
    assert res.exit_code == 6
    assert f"FAIL  port {port}: port {port} (--port) is in use by process python" in res.stdout
    assert f"(pid {pid})" in res.stdout
    assert f"fix: kill {pid}" in res.stdout
    assert "--port 0" in res.stdout
    assert "Error: " in res.stderr and "Hint: fix what the table says" in res.stderr


def test_doctor_reads_the_serve_port_from_smctl_toml(smctl, held_port, monkeypatch, no_aws_env, tmp_path):
    port, pid = held_port
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    (tmp_path / "smctl.toml").write_text(f"[serve]\nport = {port}\n")
    res = smctl("doctor", "--json", cwd=tmp_path)
    got = checks(res)
    assert got[f"port.{port}"]["data"]["sources"] == ["smctl.toml [serve] port"]
    assert got[f"port.{port}"]["status"] == "fail"
    assert got["project.config"]["status"] == "ok"
    assert got["project.dockerfile"]["status"] == "fail"  # no Dockerfile next to smctl.toml
    assert "smctl init" in got["project.dockerfile"]["remedy"]


def test_invalid_smctl_toml_fails_the_project_check(smctl, monkeypatch, no_aws_env, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    (tmp_path / "smctl.toml").write_text("[serve]\nport = 'eighty'\n")
    got = checks(smctl("doctor", "--json", cwd=tmp_path))
    assert got["project.config"]["status"] == "fail"
    assert "serve.port" in got["project.config"]["summary"]


def test_doctor_offline_shows_key_suffix_only_and_makes_no_aws_call(smctl, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    res = smctl("doctor", "--json", cwd=tmp_path)
    got = checks(res)
    assert got["aws.credentials"]["summary"] == "found (env, key …MPLE)"
    assert got["aws.region"]["summary"] == "us-east-1"
    assert "aws.identity" not in got and "aws.ecr" not in got
    assert "AKIAIOSFODNN7EXAMPLE" not in res.stdout and "wJalrXUtnFEMI" not in res.stdout


def test_doctor_online_asks_sts_and_ecr(smctl, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    got = checks(smctl("doctor", "--online", "--json", cwd=tmp_path))
    assert got["aws.identity"]["status"] == "ok"
    assert got["aws.identity"]["data"]["account"] == "123456789012"
    assert got["aws.ecr"]["status"] == "ok"
    assert "dkr.ecr.us-east-1.amazonaws.com" in got["aws.ecr"]["data"]["endpoint"]


def test_doctor_without_credentials_warns(smctl, no_aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    got = checks(smctl("doctor", "--json", cwd=tmp_path))
    assert got["aws.credentials"]["status"] == "warn"
    assert got["aws.credentials"]["remedy"].startswith("aws configure")


# ---- --fix data-root ----------------------------------------------------------------------------------------

@pytest.mark.docker
def test_fix_with_a_missing_path_is_refused(smctl, docker_client, tmp_path):
    res = smctl("doctor", "--fix", f"data-root={tmp_path}/nope", "--daemon-json", tmp_path / "daemon.json")
    assert res.exit_code == 2
    assert f"Error: --fix data-root={tmp_path}/nope: {tmp_path}/nope does not exist" in res.stderr
    assert f"Hint: create it on the bigger filesystem first: sudo mkdir -p {tmp_path}/nope" in res.stderr
    assert not (tmp_path / "daemon.json").exists()


@pytest.mark.docker
def test_fix_on_the_data_roots_filesystem_is_refused(smctl, docker_client, tmp_path):
    root = docker_client.info()["DockerRootDir"]
    target = tmp_path / "docker"
    target.mkdir()
    import os

    if os.stat(target).st_dev != os.stat(root).st_dev:
        pytest.skip(f"{tmp_path} and {root} are on different filesystems here")
    res = smctl("doctor", "--fix", f"data-root={target}", "--daemon-json", tmp_path / "daemon.json", "--json")
    assert res.exit_code == 2
    assert "same filesystem" in res.json["error"]["message"]
    assert not (tmp_path / "daemon.json").exists()


def test_unknown_fix_is_a_usage_error(smctl):
    res = smctl("doctor", "--fix", "everything")
    assert res.exit_code == 2
    assert "Error: unknown fix 'everything'" in res.stderr
    assert "Hint: the fixes are: data-root=PATH" in res.stderr


# ---- check IMAGE --------------------------------------------------------------------------------------------

@pytest.mark.docker
def test_check_on_a_missing_image_says_build_it(smctl, docker_client):
    image = f"smctl-test-missing-{uuid.uuid4().hex[:8]}:1"
    res = smctl("check", image)
    assert res.exit_code == 2  # a missing local image is a name that does not exist: usage, as in the README
    assert f"Error: image {image} is not in the local Docker engine" in res.stderr
    assert "Hint: build it first: smctl build" in res.stderr
    assert "Traceback" not in res.stderr


def test_check_with_a_missing_sample_is_a_usage_error(smctl, tmp_path):
    res = smctl("check", "any:1", "--sample", tmp_path / "nope")
    assert res.exit_code == 2
    assert f"--sample {tmp_path}/nope is not a folder" in res.stderr


@pytest.mark.docker
def test_check_json_passes_a_good_image(smctl, docker_client, tmp_path):
    from tests.integration.test_check_image import CONTEXT, IMAGES, LABELS

    ref = f"smctl-test-check-cli:{uuid.uuid4().hex[:8]}"
    docker_client.images.build(path=str(CONTEXT), dockerfile=str(IMAGES / "check-good" / "Dockerfile"), tag=ref,
                               labels=LABELS, rm=True, forcerm=True)
    try:
        res = smctl("check", ref, "--json", "--startup-timeout", "20", "--stop-timeout", "5")
        assert res.exit_code == 0, res.stdout
        doc = res.json
        assert doc["ok"] is True and doc["command"] == "check"
        assert doc["result"]["image"] == ref
        statuses = {c["id"]: c["status"] for c in doc["result"]["checks"]}
        assert statuses["serve.ping"] == "ok" and statuses["train.sample"] == "skip"
        assert "fail" not in statuses.values()
    finally:
        docker_client.images.remove(ref, force=True)


# ---- rendering ----------------------------------------------------------------------------------------------

def test_terminal_rendering_is_a_table_with_remedies():
    from smctl.cli.doctor import render

    report = Report((CheckResult("port.8080", "port 8080", Status.FAIL, "in use by container web", ("d1",),
                                 "docker stop web"),
                     CheckResult("gpu", "GPU", Status.OK, "no NVIDIA GPU/driver")))
    buf = io.StringIO()
    render(Console(file=buf, force_terminal=True, width=150, color_system=None), report)
    text = buf.getvalue()
    assert "✖ fail" in text and "✔ ok" in text
    assert "fix: docker stop web" in text
    assert "1 ok, 1 fail" in text
