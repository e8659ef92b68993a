"""The generated projects keep the contract: init, build, `IMAGE train`, then `IMAGE serve` answers /ping and
/invocations — on the real engine, through smctl's own commands."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

from smctl.engine.containers import ContainerSpec, Mount, run_container
from tests.helpers import TEST_LABELS

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _wait_ping(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url}/ping never answered 200")


@pytest.mark.parametrize("preset", ["python", "sklearn"])
def test_preset_builds_trains_and_serves(preset, smctl, tmp_path, docker_reaper, docker_client):
    name = f"e2e-{preset}-{uuid.uuid4().hex[:8]}"
    assert smctl("init", name, "--preset", preset, cwd=tmp_path).exit_code == 0
    project = tmp_path / name
    labels = [a for k, v in TEST_LABELS.items() for a in ("--label", f"{k}={v}")]
    image = f"{name}:latest"
    try:
        res = smctl("build", *labels, cwd=project)
        assert res.exit_code == 0, res.stderr
        res = smctl("--json", "local-train", "--job-name", f"{name}-train", cwd=project)
        assert res.exit_code == 0, res.stderr
        run = res.json["result"]
        assert run["status"] == "Completed"

        unpacked = tmp_path / "model"
        assert smctl("package", "unpack", run["model_artifact"], str(unpacked)).exit_code == 0
        assert any(unpacked.iterdir()), "train wrote nothing to /opt/ml/model"

        spec = ContainerSpec(image=image, name=f"{name}-serve", command=["serve"],
                             mounts=(Mount(unpacked, "/opt/ml/model", read_only=True),),
                             labels=dict(TEST_LABELS), ports={"8080/tcp": ("127.0.0.1", None)})
        with run_container(docker_client, spec) as container:
            _, port = container.published_address()
            url = f"http://127.0.0.1:{port}"
            _wait_ping(url)
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as resp:
                assert resp.read() == b""
            payload = (project / "data" / "payload.csv").read_bytes()
            rows = payload.decode().strip().splitlines()
            req = urllib.request.Request(f"{url}/invocations", data=payload, method="POST",
                                         headers={"Content-Type": "text/csv", "Accept": "text/csv"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert resp.status == 200
                answer = resp.read().decode().strip().splitlines()
            assert len(answer) == len(rows)
            bad = urllib.request.Request(f"{url}/invocations", data=b"x", method="POST",
                                         headers={"Content-Type": "application/x-unknown"})
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(bad, timeout=10)
            assert exc.value.code == 415
    finally:
        docker_client.images.remove(image, force=True)


def test_processing_preset_builds_and_runs_local_process_with_no_flags(smctl, tmp_path, docker_reaper, docker_client):
    name = f"e2e-processing-{uuid.uuid4().hex[:8]}"
    res = smctl("init", name, "--preset", "processing", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.endswith(f"Next: cd {name} && smctl build && smctl local-process\n")
    project = tmp_path / name
    labels = [a for k, v in TEST_LABELS.items() for a in ("--label", f"{k}={v}")]
    try:
        res = smctl("build", *labels, cwd=project)
        assert res.exit_code == 0, res.stderr
        res = smctl("--json", "local-process", cwd=project)
        assert res.exit_code == 0, res.stderr
        run = res.json["result"]
        assert run["status"] == "Completed"
        assert run["exit_message"] == "algo-1: 150 rows -> 120 train, 30 test"
        processed = project / "data" / "processed"
        names = ("train", "test", "stats")
        assert run["outputs"] == {n: {"destination": str(processed / n), "files": 1} for n in names}
        train = (processed / "train" / "train-algo-1.csv").read_text().splitlines()
        test = (processed / "test" / "test-algo-1.csv").read_text().splitlines()
        assert (len(train), len(test)) == (120, 30)
        assert {line.split(",")[0] for line in train + test} == {"0", "1", "2"}
        assert all(len(line.split(",")) == 5 for line in train + test)
        stats = json.loads((processed / "stats" / "stats-algo-1.json").read_text())
        assert stats["classes"] == ["setosa", "versicolor", "virginica"]
        assert stats["rows"] == {"train": 120, "test": 30}

        res = smctl("--json", "local-process", "--instance-count", "2", "--output", "stats=two-hosts", cwd=project)
        assert res.exit_code == 0, res.stderr  # every host names its files after itself: nothing overwritten
        assert sorted(p.name for p in (project / "two-hosts").iterdir()) == ["stats-algo-1.json", "stats-algo-2.json"]
    finally:
        docker_client.images.remove(f"{name}:latest", force=True)
