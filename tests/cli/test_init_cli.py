"""`smctl init` and `smctl deps` through the real CLI entry point: exit codes, messages, files on disk."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from smctl.errors import ExitCode
from tests.golden.regen import on_disk

PSUTIL = f"psutil=={metadata.version('psutil')}"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_init_writes_the_python_preset_and_lists_the_files(smctl, tmp_path):
    res = smctl("init", tmp_path / "demo")
    assert res.exit_code == 0, res.stderr
    assert _tree(tmp_path / "demo") == on_disk("python")  # the folder's name is the default project name
    assert res.stdout.startswith(f"Created python project demo (cpu) in {tmp_path / 'demo'}\n")
    assert "  + program/train\n" in res.stdout
    assert res.stdout.endswith(f"Next: cd {tmp_path / 'demo'} && smctl build && smctl local-train && "
                               "smctl local-serve\n")


def test_init_processing_preset_says_to_run_local_process_next(smctl, tmp_path):
    res = smctl("init", tmp_path / "prep", "--preset", "processing")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"Created processing project prep (cpu) in {tmp_path / 'prep'}\n")
    assert "  + program/process.py\n" in res.stdout and "program/train" not in res.stdout
    assert res.stdout.endswith(f"Next: cd {tmp_path / 'prep'} && smctl build && smctl local-process\n")


def test_init_json_reports_one_document(smctl, tmp_path):
    res = smctl("--json", "init", tmp_path / "p", "--preset", "sklearn", "--name", "iris-tree")
    doc = res.json
    assert doc["ok"] is True and doc["command"] == "init"
    assert doc["result"]["preset"] == "sklearn" and doc["result"]["name"] == "iris-tree"
    assert "data/train/iris.csv" in doc["result"]["created"] and doc["result"]["overwritten"] == []
    assert res.stderr == ""
    assert 'name = "iris-tree"' in (tmp_path / "p" / "smctl.toml").read_text()


def test_init_in_the_current_folder_by_default(smctl, tmp_path):
    folder = tmp_path / "here-it-is"
    folder.mkdir()
    res = smctl("init", cwd=folder)
    assert res.exit_code == 0, res.stderr
    assert 'name = "here-it-is"' in (folder / "smctl.toml").read_text()
    assert "Next: smctl build" in res.stdout


def test_init_into_a_non_empty_folder_without_force_writes_nothing(smctl, tmp_path):
    (tmp_path / "train.py").write_text("print('mine')\n")
    res = smctl("init", tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert f"Error: folder {tmp_path} is not empty (train.py)" in res.stderr
    assert "Hint: choose an empty or new folder, or pass --force to write into this one" in res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert _tree(tmp_path) == {"train.py": b"print('mine')\n"}


def test_init_force_overwrites_its_files_and_keeps_the_rest(smctl, tmp_path):
    assert smctl("init", tmp_path, "--name", "demo").exit_code == 0
    (tmp_path / "Dockerfile").write_text("FROM edited\n")
    (tmp_path / "mine.txt").write_text("keep\n")
    res = smctl("--json", "init", tmp_path, "--force", "--name", "demo")
    assert res.exit_code == 0, res.stdout
    assert "Dockerfile" in res.json["result"]["overwritten"] and res.json["result"]["created"] == []
    assert (tmp_path / "Dockerfile").read_bytes() == on_disk("python")["Dockerfile"]
    assert (tmp_path / "mine.txt").read_text() == "keep\n"


def test_unknown_preset_lists_the_valid_ones_and_creates_nothing(smctl, tmp_path):
    res = smctl("init", tmp_path / "new", "--preset", "tensorflow")
    assert res.exit_code == ExitCode.USAGE
    assert "Error: unknown preset 'tensorflow'" in res.stderr
    assert "Hint: choose one of: python, sklearn, xgboost, pytorch, dlc, processing (--preset NAME)" in res.stderr
    assert not (tmp_path / "new").exists()


def test_misspelt_preset_suggests_the_close_one_and_creates_nothing(smctl, tmp_path):
    res = smctl("init", tmp_path / "new", "--preset", "sklaern")
    assert res.exit_code == ExitCode.USAGE
    assert "Error: unknown preset 'sklaern'" in res.stderr
    assert ("Hint: did you mean --preset sklearn? Or choose one of: python, sklearn, xgboost, pytorch, dlc, "
            "processing (--preset NAME)") in res.stderr
    assert not (tmp_path / "new").exists()


def test_misspelt_cuda_version_suggests_the_close_one_but_an_unsupported_version_gets_the_list(smctl, tmp_path):
    res = smctl("init", tmp_path / "new", "--preset", "pytorch", "--cuda", "cu12.4")
    assert res.exit_code == ExitCode.USAGE
    assert "Error: CUDA 'cu12.4' has no matching PyTorch wheel index" in res.stderr
    assert "Hint: did you mean --cuda 12.4? Or use --cuda 12.1 | 12.4 | 12.6" in res.stderr
    res = smctl("init", tmp_path / "new", "--preset", "pytorch", "--cuda", "11.8")
    assert res.exit_code == ExitCode.USAGE
    assert "did you mean" not in res.stderr and "Hint: use --cuda 12.1 | 12.4 | 12.6" in res.stderr
    assert not (tmp_path / "new").exists()


def test_gpu_on_a_cpu_only_preset_is_a_usage_error(smctl, tmp_path):
    res = smctl("init", tmp_path / "new", "--preset", "sklearn", "--cuda", "12.4")
    assert res.exit_code == ExitCode.USAGE
    assert "Error: preset 'sklearn' has no GPU variant" in res.stderr
    assert not (tmp_path / "new").exists()


def test_gpu_and_separate_images_options_reach_the_files(smctl, tmp_path):
    res = smctl("init", tmp_path / "p", "--preset", "pytorch", "--cuda", "12.6", "--separate-images", "--name", "demo")
    assert res.exit_code == 0, res.stderr
    assert "(cuda 12.6)" in res.stdout
    assert "FROM nvidia/cuda:12.6.3-runtime-ubuntu22.04 AS base" in (tmp_path / "p" / "Dockerfile").read_text()
    assert (tmp_path / "p" / "Dockerfile.serve").is_file() and (tmp_path / "p" / "requirements-serve.txt").is_file()


def test_interactive_without_a_terminal_refuses_instead_of_hanging(smctl, tmp_path):
    res = smctl("init", tmp_path / "p", "--interactive")
    assert res.exit_code == ExitCode.USAGE
    assert "--interactive needs a terminal" in res.stderr
    assert not (tmp_path / "p").exists()


def test_init_capture_deps_pins_what_existing_code_imports(smctl, tmp_path):
    (tmp_path / "features.py").write_text("import psutil\nimport numpy\n")
    res = smctl("--json", "init", tmp_path, "--force", "--capture-deps", "--name", "demo")
    assert res.exit_code == 0, res.stdout
    assert res.json["result"]["captured"] == [PSUTIL]
    requirements = (tmp_path / "requirements.txt").read_text()
    assert requirements.startswith(on_disk("python")["requirements.txt"].decode())  # generated pins kept as they are
    assert requirements.endswith(f"{PSUTIL}\n") and requirements.count("numpy") == 1


def test_deps_dry_run_then_check_then_write(smctl, tmp_path):
    (tmp_path / "main.py").write_text("import psutil\nimport not_installed_module_xyz\n")
    (tmp_path / "requirements.txt").write_text("# mine\n")
    res = smctl("deps", tmp_path)
    assert res.exit_code == 0
    assert f"missing from {tmp_path / 'requirements.txt'}:\n  {PSUTIL}\n" in res.stdout
    assert "not pinned: not_installed_module_xyz" in res.stderr
    assert (tmp_path / "requirements.txt").read_text() == "# mine\n"

    res = smctl("deps", tmp_path, "--check")
    assert res.exit_code == ExitCode.CHECKS_FAILED
    assert f"lacks 1 package(s) the code imports: {PSUTIL}" in res.stderr
    assert f"Hint: run `smctl deps --write {tmp_path}`" in res.stderr

    res = smctl("--json", "deps", tmp_path, "--write")
    assert res.exit_code == 0 and res.json["result"]["written"] is True
    assert res.json["result"]["unmapped"] == ["not_installed_module_xyz"]
    assert (tmp_path / "requirements.txt").read_text().startswith("# mine\n")
    assert smctl("deps", tmp_path, "--check").exit_code == 0


def test_deps_check_without_a_requirements_file_fails_naming_it_until_write_creates_it(smctl, tmp_path):
    (tmp_path / "main.py").write_text("import json\n")
    req = tmp_path / "requirements.txt"
    res = smctl("deps", tmp_path)  # a dry run says so too, instead of "already names them all"
    assert res.exit_code == 0 and f"{req} does not exist (nothing to pin); run again with --write" in res.stdout

    res = smctl("deps", tmp_path, "--check")
    assert res.exit_code == ExitCode.CHECKS_FAILED
    assert f"Error: {req} does not exist\n" in res.stderr
    assert f"Hint: run `smctl deps --write {tmp_path}` to write it, and commit it" in res.stderr
    assert res.stdout == "" and not req.exists()

    res = smctl("deps", tmp_path, "--write")
    assert res.exit_code == 0 and f"wrote {req}: nothing to pin" in res.stdout
    assert req.is_file() and smctl("deps", tmp_path, "--check").exit_code == 0


def test_deps_check_without_a_requirements_file_lists_what_it_should_pin(smctl, tmp_path):
    (tmp_path / "main.py").write_text("import psutil\n")
    res = smctl("--json", "deps", tmp_path, "--check")
    assert res.exit_code == ExitCode.CHECKS_FAILED
    error = res.json["error"]
    assert error["message"] == f"{tmp_path / 'requirements.txt'} does not exist; the code imports {PSUTIL}"
    assert error["details"]["requirements_exists"] is False and error["details"]["missing"] == [PSUTIL]


def test_deps_check_with_a_requirements_path_that_does_not_exist_is_a_usage_error(smctl, tmp_path):
    (tmp_path / "main.py").write_text("import json\n")
    named = tmp_path / "reqs" / "prod.txt"
    res = smctl("deps", tmp_path, "--check", "-r", named)
    assert res.exit_code == ExitCode.USAGE
    assert f"Error: requirements file {named} does not exist" in res.stderr
    assert f"Hint: check the path given to --requirements, or create the file: `smctl deps --write {tmp_path} " \
           f"-r {named}`" in res.stderr


def test_deps_write_and_check_together_is_a_usage_error(smctl, tmp_path):
    res = smctl("deps", tmp_path, "--write", "--check")
    assert res.exit_code == ExitCode.USAGE and "--write and --check exclude each other" in res.stderr
