"""Global flags (--json, -v, --no-color) may stand anywhere, but an option's value is never taken for one."""

from __future__ import annotations

from tests.helpers import run_cli


def _container(result):
    assert result.exit_code == 0, result.stderr
    plan = result.json["result"]
    assert plan["dry_run"] is True
    return plan["hosts"][0]["container"]


def test_an_options_value_that_looks_like_a_global_flag_stays_the_value(tmp_path):
    result = run_cli("local-train", "--image", "img", "--args", "-v", "--dry-run", "--json", cwd=tmp_path)
    assert _container(result)["command"] == ["-v"]


def test_global_flags_after_the_command_are_still_hoisted(tmp_path):
    result = run_cli("local-train", "--json", "--image", "img", "-v", "--dry-run", "--args", "serve", cwd=tmp_path)
    assert _container(result)["command"] == ["serve"]


def test_an_equals_value_that_looks_like_a_global_flag_stays_the_value(tmp_path):
    result = run_cli("local-train", "--args=--json", "--image", "img", "--dry-run", "--json", cwd=tmp_path)
    assert _container(result)["command"] == ["--json"]
