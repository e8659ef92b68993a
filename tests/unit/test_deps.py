"""Dependency capture: imports read with ast, mapped to the distributions installed here, merged into requirements."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from smctl.errors import UsageError
from smctl.project import deps

PSUTIL = f"psutil=={metadata.version('psutil')}"
PYYAML = f"PyYAML=={metadata.version('PyYAML')}"


def _project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_imports_are_top_level_names_of_absolute_imports_anywhere_in_the_file():
    source = ("from __future__ import annotations\nimport os.path, psutil as ps\nfrom yaml.loader import Loader\n"
              "from . import sibling\nfrom .pkg import thing\n"
              "def f():\n    import numpy\n    try:\n        import ujson\n    except ImportError:\n        pass\n")
    assert deps.imported_modules({"a.py": source}) == {"__future__", "os", "psutil", "yaml", "numpy", "ujson"}


def test_third_party_imports_are_pinned_and_stdlib_and_local_modules_are_not(tmp_path):
    root = _project(tmp_path, {
        "train.py": "import json, sys\nimport psutil\nimport helpers\nfrom mypkg.sub import x\nimport yaml\n",
        "helpers.py": "import collections\n",
        "mypkg/__init__.py": "",
        "mypkg/sub.py": "x = 1\n",
    })
    report = deps.scan_project(root)
    assert sorted(p.line for p in report.pins) == sorted([PSUTIL, PYYAML])
    assert {p.module for p in report.pins} == {"psutil", "yaml"}
    assert report.unmapped == ()
    assert report.files == ("helpers.py", "mypkg/__init__.py", "mypkg/sub.py", "train.py")


def test_modules_nothing_installed_provides_are_reported_not_pinned(tmp_path):
    root = _project(tmp_path, {"a.py": "import surely_not_installed_anywhere\nimport sklearn\n"})
    report = deps.scan_project(root)
    assert report.unmapped == ("sklearn", "surely_not_installed_anywhere") and report.pins == ()
    (root / "requirements.txt").write_text("scikit-learn==1.6.1\n")
    assert deps.scan_project(root).unmapped == ("surely_not_installed_anywhere",)  # covered by its project name


def test_merge_keeps_every_user_line_and_adds_only_what_is_missing(tmp_path):
    user = ("# mine\n--extra-index-url https://example.invalid/simple\nPSUTIL>=5  # any recent one\n"
            "requests[socks]==2.31.0 ; python_version >= '3.8'")  # no trailing newline on purpose
    root = _project(tmp_path, {"a.py": "import psutil, yaml, requests\n", "requirements.txt": user})
    report = deps.scan_project(root)
    assert [p.line for p in report.missing] == [PYYAML]
    assert report.text == f"{user}\n\n{deps.ADDED_HEADER}\n{PYYAML}\n"
    assert deps.write_requirements(report) is True
    assert (root / "requirements.txt").read_text() == report.text
    again = deps.scan_project(root)
    assert again.up_to_date and again.text == report.text
    assert deps.write_requirements(again) is False


def test_write_creates_the_file_when_there_is_none_and_leaves_no_temp_file(tmp_path):
    root = _project(tmp_path, {"a.py": "import psutil\n"})
    assert deps.write_requirements(deps.scan_project(root)) is True
    assert (root / "requirements.txt").read_text() == f"{deps.ADDED_HEADER}\n{PSUTIL}\n"
    assert sorted(p.name for p in root.iterdir()) == ["a.py", "requirements.txt"]


def test_sources_include_python_scripts_without_extension_and_skip_environments(tmp_path):
    root = _project(tmp_path, {
        "program/train": "#!/usr/bin/env python3\nimport psutil\n",
        "program/run.sh": "#!/bin/sh\nimport nothing\n",
        "program/notes": "import nothing\n",
        ".venv/lib/x.py": "import a\n",
        "venv/x.py": "import b\n",
        "pkg/__pycache__/x.py": "import c\n",
        ".hidden/x.py": "import d\n",
    })
    assert list(deps.read_sources(root)) == ["program/train"]


def test_a_file_that_does_not_parse_is_a_usage_error_naming_it(tmp_path):
    root = _project(tmp_path, {"bad.py": "import os\ndef broken(:\n"})
    with pytest.raises(UsageError, match=r"bad\.py line 2") as info:
        deps.scan_project(root)
    assert "fix the syntax error in bad.py" in info.value.hint


def test_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is not a folder"):
        deps.scan_project(tmp_path / "nope")


def test_a_missing_requirements_file_is_reported_and_write_creates_it_even_with_nothing_to_pin(tmp_path):
    root = _project(tmp_path, {"a.py": "import json\n"})
    report = deps.scan_project(root)
    assert report.exists is False and report.up_to_date and report.pins == ()
    assert report.as_dict()["requirements_exists"] is False
    assert deps.write_requirements(report) is True
    assert (root / "requirements.txt").read_text() == deps.NOTHING_TO_PIN
    again = deps.scan_project(root)
    assert again.exists and again.up_to_date and deps.write_requirements(again) is False


def test_a_requirements_path_that_is_a_folder_is_a_usage_error(tmp_path):
    root = _project(tmp_path, {"a.py": "import psutil\n"})
    (root / "requirements.txt").mkdir()
    with pytest.raises(UsageError, match="requirements.txt is not a file") as info:
        deps.scan_project(root)
    assert "-r FILE" in info.value.hint


def test_write_into_a_folder_that_does_not_exist_is_a_usage_error_naming_it(tmp_path):
    root = _project(tmp_path, {"a.py": "import psutil\n"})
    report = deps.scan_project(root, tmp_path / "reqs" / "prod.txt")
    with pytest.raises(UsageError, match=f"the folder {tmp_path / 'reqs'} does not exist") as info:
        deps.write_requirements(report)
    assert f"mkdir -p {tmp_path / 'reqs'}" in info.value.hint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]
