"""`smctl init --preset processing`: what it writes, and its script run outside Docker (SMCTL_OPT_ML for /opt/ml)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smctl.compat import tomllib
from smctl.contract import processing
from smctl.contract.layout import RESOURCECONFIG_JSON, dump_config
from smctl.errors import UsageError
from smctl.processing.specs import parse_input, parse_output
from smctl.project.render import ScaffoldOptions, plan_scaffold
from smctl.project.scaffold import write_scaffold
from smctl.project.spec import load_project
from tests.golden.regen import rendered


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated") / "demo"
    write_scaffold(folder, plan_scaffold(ScaffoldOptions(preset="processing", name="demo"), folder))
    return folder


def test_processing_preset_has_no_train_or_serve_and_an_exec_form_entrypoint():
    files = rendered("processing")
    assert not any(p.startswith("program/") and p != "program/process.py" for p in files)
    dockerfile = files["Dockerfile"].decode()
    assert dockerfile.rstrip().endswith('ENTRYPOINT ["python3", "/opt/program/process.py"]')
    assert "COPY program/process.py /opt/program/" in dockerfile and "LABEL com.amazonaws" not in dockerfile
    assert "[train" not in files["smctl.toml"].decode() and "local-train" not in files["README.md"].decode()


def test_processing_smctl_toml_reads_as_the_flags_would(project: Path):
    spec = load_project(project / "smctl.toml")
    p = spec.process
    assert p.image == "demo:latest" and p.arguments == ("--test-fraction", "0.2")
    inputs = [parse_input(f"{k}={v}", project) for k, v in p.inputs.items()]
    outputs = [parse_output(f"{k}={v}", project) for k, v in p.outputs.items()]
    assert [(i.config.name, str(i.config.local_path), i.source.path) for i in inputs] == [
        ("raw", "/opt/ml/processing/input/raw", project / "data" / "raw")]
    assert {o.config.name: str(o.config.local_path) for o in outputs} == {
        n: f"/opt/ml/processing/output/{n}" for n in ("train", "test", "stats")}
    processing.validate_io([i.config for i in inputs], [o.config for o in outputs])
    assert tomllib.loads((project / "smctl.toml").read_text())["process"]["outputs"]["stats"] == "data/processed/stats"


def test_separate_images_is_refused_for_the_processing_preset():
    with pytest.raises(UsageError, match="builds one image") as exc:
        plan_scaffold(ScaffoldOptions(preset="processing", separate_images=True), Path("x"))
    assert exc.value.hint == "drop --separate-images"


def _opt_ml(root: Path, project: Path, host: str = "algo-1", hosts: tuple[str, ...] = ("algo-1",)) -> Path:
    """/opt/ml as a processing job sees it: config files written by smctl's own contract code, the raw input."""
    (root / "config").mkdir(parents=True)
    (root / "config" / RESOURCECONFIG_JSON).write_text(dump_config(processing.resource_config(host, list(hosts))))
    shutil.copytree(project / "data" / "raw", root / "processing" / "input" / "raw")
    return root


def _run(project: Path, opt_ml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(project / "program" / "process.py"), *args], capture_output=True,
                          text=True, env={"SMCTL_OPT_ML": str(opt_ml), "PATH": "/usr/bin:/bin"}, timeout=60)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_script_standardises_and_splits_the_sample_data(project: Path, tmp_path: Path):
    opt_ml = _opt_ml(tmp_path / "opt_ml", project, host="algo-2", hosts=("algo-1", "algo-2"))
    res = _run(project, opt_ml, "--test-fraction", "0.2")
    assert res.returncode == 0, res.stderr
    out = opt_ml / "processing" / "output"
    train, test = _rows(out / "train" / "train-algo-2.csv"), _rows(out / "test" / "test-algo-2.csv")
    assert (len(train), len(test)) == (120, 30)
    assert {r[0] for r in train + test} == {"0", "1", "2"} and all(len(r) == 5 for r in train + test)
    stats = json.loads((out / "stats" / "stats-algo-2.json").read_text())
    assert stats["classes"] == ["setosa", "versicolor", "virginica"]
    assert stats["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert [round(m, 3) for m in stats["means"]] == [5.843, 3.057, 3.758, 1.199]
    first_feature = [float(r[1]) for r in train + test]
    assert abs(sum(first_feature) / 150) < 1e-5  # standardised: mean 0
    assert (opt_ml / "output" / "message").read_text() == "algo-2: 150 rows -> 120 train, 30 test"
    again = _opt_ml(tmp_path / "again", project)
    assert _run(project, again, "--test-fraction", "0.2").returncode == 0
    assert _rows(again / "processing" / "output" / "test" / "test-algo-1.csv") == test  # the seed fixes the split


def test_script_without_csv_files_fails_with_the_reason_as_exit_message(project: Path, tmp_path: Path):
    opt_ml = _opt_ml(tmp_path / "opt_ml", project)
    shutil.rmtree(opt_ml / "processing" / "input" / "raw")
    (opt_ml / "processing" / "input" / "raw").mkdir()
    res = _run(project, opt_ml)
    assert res.returncode == 1
    message = (opt_ml / "output" / "message").read_text()
    assert message.startswith("ValueError: no CSV files in ") and message.endswith(": is the input empty?")


def test_script_refuses_a_test_fraction_outside_0_1(project: Path, tmp_path: Path):
    opt_ml = _opt_ml(tmp_path / "opt_ml", project)
    assert _run(project, opt_ml, "--test-fraction", "1.5").returncode == 1
    assert (opt_ml / "output" / "message").read_text() == "ValueError: --test-fraction 1.5 is not between 0 and 1"


def test_script_names_the_file_and_line_of_a_short_row(project: Path, tmp_path: Path):
    opt_ml = _opt_ml(tmp_path / "opt_ml", project)
    header = (project / "data" / "raw" / "iris.csv").read_text().splitlines()[0]
    (opt_ml / "processing" / "input" / "raw" / "more.csv").write_text(f"{header}\nsetosa,5.1,3.5,1.4,0.2\nsetosa,1\n")
    assert _run(project, opt_ml).returncode == 1
    assert (opt_ml / "output" / "message").read_text() == "ValueError: more.csv line 3: 2 values, the header has 5"
