"""local-process's flags and smctl.toml's [process]: dry runs and refusals, exit codes and exact words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1\n")
    return tmp_path


def test_dry_run_json_shows_every_host_mount_variable_and_config_file(smctl, project):
    res = smctl("--json", "local-process", "--image", "proc:1", "--job-name", "p1", "--no-credentials",
                "--input", "raw=data", "--output", "out=results,upload=Continuous", "--env", "A=1",
                "--instance-count", "2", "--dry-run", "--", "--ratio", "0.2", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)["result"]
    assert doc["dry_run"] is True
    assert doc["processing_job_config"]["AppSpecification"]["ContainerArguments"] == ["--ratio", "0.2"]
    assert [h["host"] for h in doc["hosts"]] == ["algo-1", "algo-2"]
    host = doc["hosts"][1]
    assert host["container"]["environment"] == {"A": "1"}
    assert {m["target"] for m in host["container"]["mounts"]} == {
        "/opt/ml/config", "/opt/ml/output", "/opt/ml/processing/input/raw", "/opt/ml/processing/output/out"}
    assert json.loads(host["config_files"]["resourceconfig.json"])["current_host"] == "algo-2"
    assert doc["outputs"]["out"]["upload"] == "Continuous"
    assert not (project / ".smctl").exists() and not (project / "results").exists()


def test_dry_run_text_lists_mounts_and_config_files(smctl, project):
    res = smctl("local-process", "--image", "proc:1", "--job-name", "p1", "--no-credentials",
                "--input", "raw=data", "--dry-run", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "-> /opt/ml/processing/input/raw (overlay" in res.stdout
    assert "/opt/ml/config/processingjobconfig.json: {" in res.stdout


def test_process_table_in_smctl_toml_is_used_and_flags_replace_it(smctl, project):
    (project / "smctl.toml").write_text('[process]\nimage = "proc:2"\nmax_runtime = 60\narguments = ["--a"]\n'
                                        '[process.inputs]\nraw = "data,local_path=/opt/ml/processing/raw"\n'
                                        '[process.outputs]\nout = "results"\n')
    res = smctl("--json", "local-process", "--job-name", "p1", "--no-credentials", "--dry-run",
                "--output", "out=elsewhere", cwd=project)
    assert res.exit_code == 0, res.stderr
    config = json.loads(res.stdout)["result"]["processing_job_config"]
    assert config["AppSpecification"] == {"ImageUri": "proc:2", "ContainerArguments": ["--a"]}
    assert config["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}
    assert config["ProcessingInputs"][0]["S3Input"]["S3Uri"] == (project / "data").as_uri()
    assert config["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == (project / "elsewhere").as_uri()


@pytest.mark.parametrize("args, words", [
    (["--input", "raw=data,local_path=/data/raw"], "Error: input 'raw': local_path '/data/raw' is not under"),
    (["--input", "a=data,local_path=/opt/ml/processing/x", "--input", "b=data,local_path=/opt/ml/processing/x"],
     "overlaps input 'a'"),
    (["--env", "MY-KEY=1"], "Error: environment variable name 'MY-KEY' is not valid"),
    (["--max-runtime", "0"], "Error: --max-runtime must be an integer from 1 to 604800, got 0"),
    (["--args", "--a", "--", "--b"], "--args and arguments after -- were both given"),
])
def test_bad_flags_exit_2_with_a_hint(smctl, project, args, words):
    res = smctl("local-process", "--image", "proc:1", "--no-credentials", *args, "--dry-run", cwd=project)
    assert res.exit_code == 2, res.stderr
    assert words in res.stderr
    assert "Hint:" in res.stderr


def test_a_missing_input_is_refused_before_anything_runs(smctl, project):
    res = smctl("local-process", "--image", "proc:1", "--no-credentials", "--input", "raw=nowhere", cwd=project)
    assert res.exit_code == 2, res.stderr
    assert "input 'raw':" in res.stderr and "does not exist" in res.stderr
    assert "--input raw=PATH" in res.stderr


def test_an_output_folder_that_cannot_be_made_is_refused_before_anything_runs(smctl, project):
    res = smctl("local-process", "--image", "proc:1", "--no-credentials", "--output", "out=data/a.csv/results",
                cwd=project)
    assert res.exit_code == 2, res.stderr
    assert "Error: output 'out' folder" in res.stderr and "is not writable" in res.stderr
    assert "Hint: choose a folder you can write to: --output out=PATH" in res.stderr
    assert not (project / ".smctl").exists()


def test_dry_run_names_the_credentials_the_containers_get(smctl, project):
    res = smctl("--json", "local-process", "--image", "proc:1", "--job-name", "p1", "--dry-run",
                "--role", "arn:aws:iam::123456789012:role/Proc", cwd=project)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)["result"]
    assert doc["processing_job_config"]["RoleArn"] == "arn:aws:iam::123456789012:role/Proc"
    assert doc["credentials"]["role_arn"] == "arn:aws:iam::123456789012:role/Proc"


@pytest.mark.parametrize("options", ["mode=Pipe", "mode=Pipe,compression=Gzip,distribution=ShardedByS3Key"])
def test_pipe_input_is_refused_saying_why_and_what_to_run_instead(smctl, project, options):
    res = smctl("local-process", "--image", "proc:1", "--job-name", "p1", "--no-credentials",
                "--input", f"raw=data,{options}", "--output", "out=results", cwd=project)
    assert res.exit_code == 2
    assert ("Error: input 'raw': mode=Pipe is not run by local-process: SageMaker documents that a Processing input "
            "in Pipe mode is streamed into named pipes, but not where they appear in the container or how they are "
            "named, so a local run could not match it") in res.stderr
    assert ("Hint: run it locally in File mode, the default (drop mode=Pipe and compression=Gzip): --input raw=PATH; "
            "gzipped data is then read as files (open them with gzip in the script)") in res.stderr
    assert not (project / ".smctl").exists() and not (project / "results").exists()
