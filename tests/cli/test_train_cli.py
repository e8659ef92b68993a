"""local-train's flags and smctl.toml go through one channel grammar: what one refuses, the other refuses too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "part-0.csv").write_text("1\n")
    return tmp_path / "data"


def test_gzip_on_a_file_mode_channel_flag_is_refused_naming_the_fix(smctl, tmp_path, data):
    res = smctl("local-train", "--image", "x", "--channel", f"train={data},compression=Gzip", "--dry-run",
                cwd=tmp_path)
    assert res.exit_code == 2, res.stderr
    assert 'Error: channel \'train\': compression Gzip needs input_mode = "Pipe"' in res.stderr
    assert "--channel train=PATH,mode=Pipe,compression=Gzip" in res.stderr


def test_gzip_on_a_file_mode_channel_in_smctl_toml_is_refused_with_the_same_words(smctl, tmp_path, data):
    (tmp_path / "smctl.toml").write_text('[train.channels.train]\npath = "data"\ncompression = "Gzip"\n')
    res = smctl("local-train", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2, res.stderr
    assert 'channel \'train\': compression Gzip needs input_mode = "Pipe"' in res.stderr
    assert "--channel train=PATH,mode=Pipe,compression=Gzip" in res.stderr


def test_gzip_on_a_pipe_channel_flag_is_planned(smctl, tmp_path, data):
    res = smctl("--json", "local-train", "--image", "x", "--job-name", "j", "--channel",
                "train=data,mode=Pipe,compression=Gzip,shuffle_seed=7", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    host = json.loads(res.stdout)["result"]["hosts"][0]
    assert host["pipe_channels"] == {"train": [str(data.resolve() / "part-0.csv")]}
    assert json.loads(host["config_files"]["inputdataconfig.json"])["train"]["TrainingInputMode"] == "Pipe"


def test_a_flag_value_gets_the_files_check(smctl, tmp_path, data):
    res = smctl("local-train", "--image", "x", "--channel", "train=data,distribution=Sharded", "--dry-run",
                cwd=tmp_path)
    assert res.exit_code == 2
    assert "--channel train.distribution must be one of FullyReplicated, ShardedByS3Key" in res.stderr


def test_a_flag_channel_replaces_the_files_channel_of_that_name(smctl, tmp_path, data):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.csv").write_text("2\n")
    (tmp_path / "smctl.toml").write_text('[train]\nimage = "x"\n[train.channels]\ntrain = "data"\n')
    res = smctl("--json", "local-train", "--channel", "train=other,mode=FastFile", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    mounts = json.loads(res.stdout)["result"]["hosts"][0]["container"]["mounts"]
    [train] = [m for m in mounts if m["target"] == "/opt/ml/input/data/train"]
    assert (train["source"], train["read_only"]) == (str((tmp_path / "other").resolve()), True)


@pytest.mark.parametrize(("flag", "value", "toml", "message"), [
    ("--hp-encoding", "yaml", 'hyperparameter_encoding = "yaml"', "must be one of json, str, got 'yaml'"),
    ("--job-name", "bad_name", 'job_name = "bad_name"', "must be 1-63 letters, digits and hyphens"),
    ("--gpus", "many", 'gpus = "many"', 'must be "auto", "all", "none", a count, or an array of device ids'),
])
def test_a_flag_and_its_smctl_toml_key_are_refused_by_the_same_check(smctl, tmp_path, flag, value, toml, message):
    res = smctl("local-train", "--image", "x", flag, value, "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2
    assert f"Error: {flag} {message}" in res.stderr
    (tmp_path / "smctl.toml").write_text(f'[train]\nimage = "x"\n{toml}\n')
    res = smctl("local-train", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2
    assert message in res.stderr


def test_flags_override_smctl_toml_keys(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text('[train]\nimage = "x"\njob_name = "from-file"\narguments = ["a"]\n'
                                         'hyperparameters = { lr = 0.1, epochs = 2 }\n')
    res = smctl("--json", "local-train", "--job-name", "from-flag", "--args", "b c", "--hp", "lr=0.5", "--dry-run",
                cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    plan = json.loads(res.stdout)["result"]
    host = plan["hosts"][0]
    assert plan["job_name"] == "from-flag"
    assert host["container"]["command"] == ["b", "c"]
    assert json.loads(host["config_files"]["hyperparameters.json"]) == {"lr": "0.5", "epochs": "2"}


def test_local_train_help_shows_what_each_value_looks_like(smctl, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = smctl("local-train", "--help")
    assert res.exit_code == 0, res.stderr
    for shown in ("--image IMAGE", "--hp KEY=VALUE", "--channel NAME=PATH[,OPT=VALUE...]", "--env KEY=VALUE",
                  "--simulate-interruption SECONDS", "--instance-count N", "--output-dir DIR"):
        assert shown in res.stdout
    assert "<" not in res.stdout  # no Python types such as <list[str]> or <float>


def test_instance_count_below_one_is_refused_by_flag_and_smctl_toml_alike(smctl, tmp_path):
    res = smctl("local-train", "--image", "x", "--instance-count", "0", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2
    assert "Error: --instance-count must be an integer >= 1, got 0" in res.stderr
    assert "Hint: the number of hosts (algo-1..N): 1 or more" in res.stderr
    (tmp_path / "smctl.toml").write_text('[train]\nimage = "x"\ninstance_count = 0\n')
    res = smctl("local-train", "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2
    assert "train.instance_count must be an integer >= 1, got 0" in res.stderr
    assert "1 or more" in res.stderr


@pytest.mark.parametrize("seconds", ["-5", "0", "inf", "3000000"])
def test_simulate_interruption_outside_its_range_is_refused_with_the_range(smctl, tmp_path, seconds):
    res = smctl("local-train", "--image", "x", "--simulate-interruption", seconds, "--dry-run", cwd=tmp_path)
    assert res.exit_code == 2, res.stderr
    assert "Error: --simulate-interruption must be a number of seconds above 0" in res.stderr
    assert "Hint: use a value above 0 and at most 2419200" in res.stderr
