"""Multi-model endpoints without an engine: TargetModel rules and names, LRU choices, the shared state file, the
image label, and the judges of `smctl check --multi-model`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from smctl.doctor.image_multimodel import MODELS, MultiModelRun, judge_list, judge_run
from smctl.errors import TargetModelError, UsageError
from smctl.serving.multimodel import (
    CAPABILITY_LABEL,
    _loading_elsewhere,
    check_image_label,
    check_source,
    check_target,
    model_name,
    plan_evictions,
    read_state,
    state_lock,
    write_state,
)


@pytest.mark.parametrize("target", ["../m.tar.gz", "a/../../m.tar.gz", "/etc/passwd", "a//b.tar.gz", "./m.tar.gz",
                                    "", " m.tar.gz", "a\\b.tar.gz", "m\x00.tar.gz", "x" * 1025])
def test_target_model_outside_the_prefix_is_refused(target):
    with pytest.raises(TargetModelError) as err:
        check_target(target)
    assert err.value.hint and "--target-model" in err.value.hint


def test_model_name_is_url_safe_stable_and_distinct_per_path():
    names = {model_name(t) for t in ("m1.tar.gz", "dir/m1.tar.gz", "dir-m1.tar.gz", "m1.tgz", "ünï cödé.tar.gz")}
    assert len(names) == 5
    assert model_name("m1.tar.gz") == model_name("m1.tar.gz")
    assert model_name("m1.tar.gz").startswith("m1-")
    for name in names:
        assert all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in name), name


def test_model_name_stays_short_for_a_long_target():
    assert len(model_name("d/" * 300 + "m.tar.gz")) <= 64 + 9


def test_least_recently_used_models_are_chosen_until_the_new_one_fits():
    models = {"a": {"status": "loaded", "size": 40, "last_used": 3},
              "b": {"status": "loaded", "size": 40, "last_used": 1},
              "c": {"status": "loaded", "size": 40, "last_used": 2},
              "d": {"status": "loading", "size": 0, "last_used": 0}}
    assert plan_evictions(models, 10, 200, keep="d") == []
    assert plan_evictions(models, 50, 160, keep="d") == ["b"]
    assert plan_evictions(models, 90, 160, keep="d") == ["b", "c"]
    assert plan_evictions(models, 500, 160, keep="d") == ["b", "c", "a"]
    assert plan_evictions(models, 90, 160, keep="b") == ["c"]  # the model being loaded is never its own victim
    assert plan_evictions(models, 10**9, 0, keep="d") == []  # no known memory: only 507 answers unload


def test_measured_memory_in_use_decides_and_each_victim_frees_its_footprint():
    models = {"a": {"status": "loaded", "size": 10, "memory": 40, "last_used": 2},
              "b": {"status": "loaded", "size": 40, "memory": 5, "last_used": 1}}
    assert plan_evictions(models, 10, 200, keep="c") == []  # footprints alone: 80 + 10 fit
    assert plan_evictions(models, 10, 200, keep="c", in_use=195) == ["b"]  # the container holds more than that
    assert plan_evictions(models, 10, 200, keep="c", in_use=250) == ["b", "a"]


def test_state_file_round_trips_and_a_torn_one_reads_as_empty(tmp_path):
    write_state(tmp_path, {"m1-x": {"target": "m1.tar.gz", "status": "loaded", "size": 3, "last_used": 1.0}})
    assert read_state(tmp_path)["m1-x"]["target"] == "m1.tar.gz"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "multi-model.json").write_text('{"models": {"m1-')
    assert read_state(tmp_path) == {}


def test_state_lock_serialises_read_modify_write_across_threads(tmp_path):
    def bump(i: int) -> None:
        for _ in range(20):
            with state_lock(tmp_path):
                models = read_state(tmp_path)
                entry = models.setdefault("n", {"size": 0})
                entry["size"] += 1
                write_state(tmp_path, models)

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_state(tmp_path)["n"]["size"] == 80


def test_state_lock_holds_against_another_process(tmp_path):
    code = ("import sys; from pathlib import Path; from smctl.serving.multimodel import state_lock, read_state, "
            "write_state\nfor _ in range(30):\n  with state_lock(Path(sys.argv[1])):\n    m = read_state(Path("
            "sys.argv[1])); e = m.setdefault('n', {'size': 0}); e['size'] += 1; write_state(Path(sys.argv[1]), m)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert json.loads((tmp_path / "multi-model.json").read_text())["models"]["n"]["size"] == 90


def test_a_loading_mark_counts_only_while_its_process_lives():
    with subprocess.Popen(["sleep", "30"]) as sleeper:
        entry = {"status": "loading", "pid": sleeper.pid, "host": socket.gethostname()}
        assert _loading_elsewhere(entry)
        assert not _loading_elsewhere({**entry, "host": "another-machine"})
        sleeper.kill()
        sleeper.wait()
    assert not _loading_elsewhere(entry)
    assert not _loading_elsewhere({"status": "loaded", "pid": os.getpid(), "host": socket.gethostname()})


def test_image_without_the_capability_label_is_refused_with_the_line_to_add():
    check_image_label({CAPABILITY_LABEL: "true"}, "img")
    with pytest.raises(UsageError) as err:
        check_image_label({CAPABILITY_LABEL: "false"}, "img")
    assert "does not contain required com.amazonaws.sagemaker.capabilities.multi-models=true" in err.value.message
    assert f"LABEL {CAPABILITY_LABEL}=true" in (err.value.hint or "")


def test_source_prefix_gets_its_slash_and_a_missing_folder_is_refused(tmp_path):
    assert check_source("s3://bucket/models") == "s3://bucket/models/"
    assert check_source("s3://bucket/") == "s3://bucket/"
    assert check_source(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(UsageError):
        check_source(str(tmp_path / "missing"))


GOOD_CALLS = {"load": (200, ""), "load_again": (409, ""), "get": (200, ""), "get_unknown": (404, ""),
              "invoke": (200, ""), "invoke_unknown": (404, ""), "delete_unknown": (404, ""), "load_b": (200, ""),
              "load_c": (200, ""), "delete": (200, ""), "get_after_delete": (404, "")}


def test_judges_pass_a_container_that_keeps_the_contract():
    results = judge_run(MultiModelRun(ping_status=200, calls=GOOD_CALLS, listed=MODELS, pages=2))
    assert {r.status.value for r in results} == {"ok", "skip"}
    assert [r.id for r in results if r.status.value == "skip"] == ["multimodel.507"]


def test_judges_name_the_broken_rule_and_the_answer():
    calls = {**GOOD_CALLS, "load_again": (200, "loaded again"), "get_unknown": (500, "boom")}
    results = {r.id: r for r in judge_run(MultiModelRun(ping_status=200, calls=calls, listed=MODELS, pages=1))}
    assert results["multimodel.double_load"].status.value == "fail"
    assert "answered HTTP 200" in results["multimodel.double_load"].summary
    assert "409" in (results["multimodel.double_load"].remedy or "")
    assert results["multimodel.get_unknown"].status.value == "fail"
    assert results["multimodel.load"].status.value == "ok"


def test_list_judge_fails_when_a_page_is_lost_and_never_blames_a_failed_load():
    lost = judge_list(MultiModelRun(ping_status=200, calls=GOOD_CALLS, listed=MODELS[:2], pages=1))
    assert lost.status.value == "fail" and MODELS[2] in lost.summary
    calls = {**GOOD_CALLS, "load_c": (500, "")}
    assert judge_list(MultiModelRun(ping_status=200, calls=calls, listed=MODELS[:2], pages=1)).status.value == "ok"


def test_judges_skip_the_api_when_the_container_never_became_healthy():
    results = judge_run(MultiModelRun(start_error="exited with code 3", logs_tail=("Traceback",)))
    assert results[0].status.value == "fail" and "exited with code 3" in results[0].summary
    assert all(r.status.value == "skip" for r in results[1:])
