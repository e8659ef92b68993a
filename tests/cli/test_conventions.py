"""The CLI conventions every command relies on: exit codes, errors, --json, --version, fast --help."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from smctl import __version__
from smctl.errors import ExitCode
from tests.helpers import smctl_exe

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_package_version(smctl):
    res = smctl("--version")
    assert res.exit_code == 0
    assert res.stdout == f"smctl {__version__}\n"


def test_python_dash_m_smctl_runs_the_cli():
    proc = subprocess.run([*smctl_exe(), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"smctl {__version__}"


def test_unknown_option_is_a_usage_error_with_hint_on_stderr(smctl):
    res = smctl("--bogus")
    assert res.exit_code == ExitCode.USAGE == 2
    assert res.stdout == ""
    assert "Error: No such option: --bogus" in res.stderr
    assert "Hint: run `smctl --help`" in res.stderr
    assert "Traceback" not in res.stderr


def test_json_mode_puts_the_error_in_one_json_document(smctl):
    res = smctl("--json", "--bogus")
    assert res.exit_code == 2
    doc = json.loads(res.stdout)  # exactly one document: json.loads fails on trailing data
    assert doc["ok"] is False
    assert doc["error"]["exit_code"] == 2
    assert "--bogus" in doc["error"]["message"]
    assert res.stderr == ""


def test_global_flags_are_accepted_after_the_command(smctl):
    res = smctl("package", "inspect", "/nonexistent/model.tar.gz", "--json")
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    assert "/nonexistent/model.tar.gz" in doc["error"]["message"]


def test_no_color_env_and_flag_produce_plain_text():
    env = {"NO_COLOR": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([*smctl_exe(), "--bogus"], capture_output=True, text=True, env=env, check=False)
    assert "\x1b[" not in proc.stderr
    proc = subprocess.run([*smctl_exe(), "--no-color", "--bogus"], capture_output=True, text=True, check=False)
    assert "\x1b[" not in proc.stderr


def test_readme_exit_code_table_matches_the_enum():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", readme, flags=re.M))
    assert {int(k): v for k, v in rows.items()} == {int(c): c.name for c in ExitCode}


def _command_paths(command, words=()):
    yield words
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*words, name))


def test_no_help_shows_a_python_type_as_the_value_name(smctl):
    import typer

    from smctl.cli.app import app

    shown = {}
    for words in _command_paths(typer.main.get_command(app)):
        res = smctl(*words, "--help")
        assert res.exit_code == 0, (words, res.stderr)
        found = re.findall(r"<(?:str|int|float|path|list\[[^>]*\]|[a-z]+ range)>", res.stdout)
        if found:
            shown[" ".join(words) or "smctl"] = sorted(set(found))
    assert shown == {}


def test_an_option_without_a_metavar_shows_its_own_name_in_capitals(smctl):
    res = smctl("package", "pack", "--help")
    assert "--level LEVEL " in res.stdout and "--region REGION " in res.stdout
    assert "-o, --output OUTPUT " in res.stdout
    assert "--upload s3://BUCKET/KEY " in res.stdout  # an explicit metavar stays
    assert "\n  DIR  " in res.stdout  # an argument shows its name only


def test_a_numeric_flag_out_of_range_names_the_range_and_the_fix(smctl, tmp_path):
    for value, fix in (("0", "--level 1"), ("10", "--level 9")):
        res = smctl("package", "pack", str(tmp_path), "--level", value)
        assert res.exit_code == ExitCode.USAGE
        assert res.stderr == (f"Error: --level must be between 1 and 9, got {value}\n"
                              f"Hint: pass a value in range, e.g. {fix}\n")


def test_a_flag_checked_by_in_range_takes_the_range_of_its_smctl_toml_key():
    import pytest

    from smctl.cli.options import in_range
    from smctl.errors import UsageError

    check = in_range("--retries", toml="transform.retries")
    assert check(0) == 0 and check(3) == 3 and check(None) is None
    with pytest.raises(UsageError) as caught:
        check(4)
    assert caught.value.message == "--retries must be between 0 and 3, got 4"
    assert caught.value.hint == "pass a value from 0 to 3 (the same range as retries in [transform] of smctl.toml)"
    with pytest.raises(UsageError, match="--count must be at least 1, got 0"):
        in_range("--count", 1)(0)


def test_hyperparameters_file_errors_say_how_to_fix_them(smctl, tmp_path):
    listed = tmp_path / "hps.json"
    listed.write_text("[1]")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    for path, hint in ((tmp_path / "nope.json", "Hint: pass an existing JSON file: --hyperparameters "),
                       (listed, 'Hint: write one object of name: value, e.g. {"epochs": 10'),
                       (broken, f"Hint: fix the JSON in {broken}")):
        res = smctl("local-train", "--image", "x", "--hyperparameters", str(path), "--dry-run", cwd=tmp_path)
        assert res.exit_code == ExitCode.USAGE
        assert hint in res.stderr, res.stderr


def test_a_smctl_toml_value_of_the_wrong_type_says_which_key_to_set(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text('[serve]\nport = "two"\n')
    res = smctl("local-serve", cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert res.stderr.endswith("serve.port must be an integer from 0 to 65535, got 'two' (str)\n"
                               "Hint: set serve.port in smctl.toml to an integer from 0 to 65535\n"), res.stderr


def test_version_with_json_is_one_json_document(smctl):
    for args in (("--version", "--json"), ("--json", "--version")):
        res = smctl(*args)
        assert res.exit_code == 0
        assert json.loads(res.stdout)["result"] == {"version": __version__}  # json.loads fails on a second document
