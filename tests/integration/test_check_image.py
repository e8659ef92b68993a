"""`smctl check IMAGE` against real images, one per defect, built from python:3.11-slim (no pulls)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from smctl.doctor.image_checks import CheckOptions, run_image_checks
from smctl.doctor.model import Report, Status
from smctl.errors import SmctlError
from tests.conftest import WORKER, WORKER_LABEL
from tests.helpers import TEST_LABELS

pytestmark = pytest.mark.docker

IMAGES = Path(__file__).resolve().parents[1] / "images"
CONTEXT = IMAGES / "check-common"
DEFECTS = ("good", "no-train", "crlf", "no-exec", "shell-entrypoint", "tini", "loopback", "ping-503",
           "ignore-sigterm", "algo-host")
FAST = {"startup_timeout": 8.0, "stop_grace": 3.0}
LABELS = {**TEST_LABELS, WORKER_LABEL: WORKER}  # other xdist workers' reapers leave these alone


@pytest.fixture(scope="session")
def check_images(docker_client) -> Iterator[dict[str, str]]:
    """Every test image, built once per test process under a unique tag, removed at the end."""
    tag = uuid.uuid4().hex[:8]
    built: dict[str, str] = {}
    try:
        for name in DEFECTS:
            ref = f"smctl-test-check-{name}:{tag}"
            docker_client.images.build(path=str(CONTEXT), dockerfile=str(IMAGES / f"check-{name}" / "Dockerfile"),
                                       tag=ref, labels=LABELS, rm=True, forcerm=True, pull=False)
            built[name] = ref
        yield built
    finally:
        for ref in built.values():
            with contextlib.suppress(Exception):  # already gone
                docker_client.images.remove(ref, force=True)


def check(client, image: str, **kw) -> tuple[Report, dict[str, Status]]:
    opts = CheckOptions(image=image, labels=LABELS, **{**FAST, **kw})
    report = run_image_checks(client, opts)
    return report, {c.id: c.status for c in report.checks}


def result(report: Report, cid: str):
    return next(c for c in report.checks if c.id == cid)


def test_good_image_passes_every_rule_and_trains_on_the_sample(docker_reaper, check_images, tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "a.csv").write_text("1,2\n")
    report, status = check(docker_reaper, check_images["good"], samples={"training": sample})
    assert not report.failed, [c.as_dict() for c in report.checks if c.status is Status.FAIL]
    assert set(status.values()) == {Status.OK}
    assert result(report, "train.sample").data["model_files"] == ["model.txt"]
    assert result(report, "serve.listen").data["listeners"] == ["0.0.0.0:8080"]
    assert result(report, "size").data["layers"] >= 1
    assert result(report, "nvidia_drivers").data["files"] > 1000
    assert docker_reaper.containers.list(all=True, filters={"ancestor": check_images["good"]}) == []


def test_no_train_on_path(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["no-train"])
    train = result(report, "train")
    assert train.status is Status.FAIL
    assert "no executable `train` on PATH" in train.summary
    assert "executable file not found" in train.summary
    assert status["serve.ping"] is Status.OK  # one failing rule hides nothing


def test_crlf_shebang(docker_reaper, check_images):
    report, _ = check(docker_reaper, check_images["crlf"])
    train = result(report, "train")
    assert train.status is Status.FAIL
    assert "CRLF" in train.summary and "/usr/local/bin/train" in train.summary
    assert any("python3\\r" in line for line in train.details)  # env's own words: ‘python3\r’: No such file


def test_train_without_run_bit(docker_reaper, check_images):
    report, _ = check(docker_reaper, check_images["no-exec"])
    train = result(report, "train")
    assert train.status is Status.FAIL
    assert train.remedy == "RUN chmod +x /usr/local/bin/train"


def test_shell_form_entrypoint(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["shell-entrypoint"])
    entry = result(report, "entrypoint")
    assert entry.status is Status.FAIL and "shell form" in entry.summary
    assert entry.data["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert status["serve.listen"] is Status.FAIL  # `serve` never reached entry.sh, which exited


def test_tini_entrypoint(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["tini"])
    assert status["entrypoint"] is Status.FAIL
    assert "tini" in result(report, "entrypoint").summary
    assert status["train"] is Status.OK  # tini itself passes `train` on: only the rule is broken


def test_serve_bound_to_loopback(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["loopback"], startup_timeout=60.0)
    listen = result(report, "serve.listen")
    assert listen.status is Status.FAIL
    assert listen.data["listeners"] == ["127.0.0.1:8080"]
    assert "0.0.0.0:8080" in listen.remedy
    assert status["serve.ping"] is Status.SKIP


def test_ping_never_200(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["ping-503"], startup_timeout=4.0)
    ping = result(report, "serve.ping")
    assert ping.status is Status.FAIL and "answered 503" in ping.summary
    assert status["serve.invocations"] is Status.OK  # routed, even though /ping is unhappy
    assert status["serve.sigterm"] is Status.OK


def test_ignores_sigterm(docker_reaper, check_images):
    report, _ = check(docker_reaper, check_images["ignore-sigterm"], stop_grace=2.0)
    sig = result(report, "serve.sigterm")
    assert sig.status is Status.FAIL
    assert sig.data["stopped"] is False and sig.data["grace"] == 2.0


def test_sample_run_of_a_train_that_cannot_start_fails(docker_reaper, check_images, tmp_path):
    """crlf's train dies with 127 on the sample: the rule fails with that exit code, it is not skipped."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "a.csv").write_text("1,2\n")
    report, status = check(docker_reaper, check_images["crlf"], samples={"training": sample})
    assert status["train.sample"] is Status.FAIL
    assert result(report, "train.sample").data["exit_code"] == 127


def test_missing_image_is_an_error_with_a_build_hint(docker_reaper):
    with pytest.raises(SmctlError) as err:
        check(docker_reaper, f"smctl-test-missing-{uuid.uuid4().hex[:8]}:1")
    assert "is not in the local Docker engine" in err.value.message
    assert "smctl build" in (err.value.hint or "")


def test_train_that_resolves_its_host_name_algo_1_first_passes_quickly(docker_reaper, check_images, tmp_path):
    """The sagemaker-training toolkit resolves resourceconfig.json's current_host (algo-1) before anything else and
    retries for 15 minutes: check runs train as local-train does, with hostname algo-1, so it trains at once."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "a.csv").write_text("1,2\n")
    report, status = check(docker_reaper, check_images["algo-host"], samples={"training": sample},
                           train_timeout=30.0)
    trained = result(report, "train.sample")
    assert trained.status is Status.OK, trained.as_dict()
    assert trained.data["model_files"] == ["training/a.csv"]
    assert trained.data["seconds"] < 20
    assert status["train"] is Status.OK


def test_samples_become_the_channels_they_name(docker_reaper, check_images, tmp_path):
    for name in ("train", "validation"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.csv").write_text("1\n")
    report, _ = check(docker_reaper, check_images["algo-host"],
                      samples={"train": tmp_path / "train", "validation": tmp_path / "validation"})
    trained = result(report, "train.sample")
    assert trained.status is Status.OK, trained.as_dict()
    assert trained.data["model_files"] == ["train/train.csv", "validation/validation.csv"]
    assert trained.data["channels"] == ["train", "validation"]


def test_serve_only_image_passes_with_serve_only_and_its_train_rules_are_skipped(docker_reaper, check_images):
    report, status = check(docker_reaper, check_images["no-train"], train=False)
    assert not report.failed, [c.as_dict() for c in report.checks if c.status is Status.FAIL]
    assert status["train"] is Status.SKIP and status["train.sample"] is Status.SKIP
    assert "--serve-only" in result(report, "train").summary
    assert status["serve.ping"] is Status.OK


def test_train_only_image_passes_with_train_only_and_its_serve_rules_are_skipped(docker_reaper, check_images,
                                                                                  tmp_path):
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "a.csv").write_text("1,2\n")
    report, status = check(docker_reaper, check_images["loopback"], serve=False, samples={"training": sample})
    assert not report.failed, [c.as_dict() for c in report.checks if c.status is Status.FAIL]
    for rule in ("serve.listen", "serve.ping", "serve.invocations", "serve.sigterm"):
        assert status[rule] is Status.SKIP, rule
    assert status["train.sample"] is Status.OK
    assert docker_reaper.containers.list(all=True, filters={"ancestor": check_images["loopback"]}) == []
