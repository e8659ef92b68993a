"""smctl init's rendering: golden files of every preset variant, the strict environment, the Dockerfile rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smctl.errors import ExitCode, UsageError
from smctl.project import presets
from smctl.project.render import (
    EXECUTABLES,
    ScaffoldOptions,
    dockerfile_quote,
    plan_scaffold,
    project_name,
    template_environment,
    templates_dir,
    toml_value,
)
from tests.golden.regen import GOLDEN, VARIANTS, on_disk, rendered

REGEN = "run `python -m tests.golden.regen` and review the diff"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_project_matches_golden_files_byte_for_byte(variant):
    want, got = on_disk(variant), rendered(variant)
    assert sorted(got) == sorted(want), f"{variant}: the file list changed; {REGEN}"
    for path, content in got.items():
        assert content == want[path], f"{variant}/{path} differs from its golden file; {REGEN}"


def test_every_variant_has_a_golden_folder_and_no_stale_ones():
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(VARIANTS)


def test_every_preset_is_covered_by_goldens_on_cpu_and_gpu():
    covered = {(o.preset, o.gpu or o.cuda is not None) for o in VARIANTS.values()}
    for p in presets.PRESETS.values():
        assert (p.name, False) in covered
        if p.gpu:
            assert (p.name, True) in covered


def test_templates_dir_is_the_source_tree_folder_in_a_checkout():
    assert templates_dir() == Path(__file__).resolve().parents[2] / "templates"
    assert (templates_dir() / "common" / "Dockerfile.j2").is_file()


def test_undefined_template_variable_is_an_error_not_empty_text(tmp_path):
    import jinja2

    (tmp_path / "t.j2").write_text("FROM {{ base_imag }}\n")
    env = template_environment(tmp_path)
    with pytest.raises(jinja2.UndefinedError, match="base_imag"):
        env.get_template("t.j2").render(base_image="python:3.11-slim")


def test_dockerquote_filter_escapes_quotes_backslashes_and_substitution():
    assert dockerfile_quote("train.py") == '"train.py"'
    assert dockerfile_quote('a "b" \\ $HOME') == '"a \\"b\\" \\\\ \\$HOME"'
    with pytest.raises(UsageError, match="line break"):
        dockerfile_quote("a\nRUN rm -rf /")
    env = template_environment()
    assert env.from_string("ENV X={{ v | dockerquote }}").render(v="$x") == 'ENV X="\\$x"'


def test_toml_filter_writes_valid_toml_literals():
    from smctl.compat import tomllib

    values = {"s": 'quo"te\\', "b": True, "i": 3, "f": 0.05, "l": ["a", 1]}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values


def _dockerfiles() -> list[tuple[str, str, str]]:
    return [(v, path, content.decode()) for v in VARIANTS for path, content in rendered(v).items()
            if path.startswith("Dockerfile")]


@pytest.mark.parametrize(("variant", "path", "text"), _dockerfiles(), ids=lambda x: x if "\n" not in x else "")
def test_dockerfile_follows_the_contract(variant, path, text):
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "tini" not in instructions.lower() and "dumb-init" not in instructions
    for line in re.findall(r"^ENTRYPOINT.*$", text, flags=re.M):
        assert line.split(None, 1)[1].startswith("["), f"shell-form ENTRYPOINT in {variant}/{path}: {line}"
    assert "ENV PYTHONUNBUFFERED=1" in text
    assert "COPY --from=deps /opt/venv /opt/venv" in text
    serves = "program/serve" in text
    assert ("LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in text) == serves
    assert "\r" not in text


@pytest.mark.parametrize(("variant", "path", "text"), _dockerfiles(), ids=lambda x: x if "\n" not in x else "")
def test_custom_ca_is_used_by_pip_in_the_deps_stage_and_never_reaches_the_image(variant, path, text):
    deps_stage, final_stage = text.split("\nFROM base AS deps\n")[1].split("\nFROM base\n")
    assert re.search(r"^COPY requirements(-serve)?\.txt smctl-ca\.crt\* /tmp/build/$", deps_stage, flags=re.M)
    assert "PIP_CERT=/tmp/build/ca.pem" in deps_stage
    assert "smctl-ca" not in final_stage and "/tmp/build" not in final_stage and "PIP_CERT" not in final_stage


@pytest.mark.parametrize(("variant", "path", "text"), _dockerfiles(), ids=lambda x: x if "\n" not in x else "")
def test_dockerfile_order_is_cache_friendly(variant, path, text):
    system = text.find("apt-get install")
    requirements = text.find("COPY requirements")
    code = max(text.find("COPY program/"), text.find("COPY code/"))
    assert (system == -1 or system < requirements) and requirements < code


def test_dockerignore_keeps_data_and_artifacts_out_but_lets_the_ca_in():
    ignore = rendered("python")[".dockerignore"].decode().splitlines()
    for pattern in (".smctl/", "data/", "*.tar.gz", ".git/", "__pycache__/"):
        assert pattern in ignore
    assert not any("smctl-ca" in line for line in ignore if not line.startswith("#"))


def test_train_and_serve_are_executable_and_program_files_are_not():
    plan = plan_scaffold(VARIANTS["sklearn"], Path("x"))
    assert {f.path for f in plan.files if f.executable} == set(EXECUTABLES)
    for f in plan.files:
        if f.executable:
            assert f.content.startswith(b"#!/usr/bin/env python3\n")


def test_generated_python_compiles():
    for variant in VARIANTS:
        for path, content in rendered(variant).items():
            if path.endswith(".py") or path in EXECUTABLES:
                compile(content, f"{variant}/{path}", "exec")


def test_pytorch_cpu_wheel_comes_from_the_cpu_index():
    files = rendered("pytorch")
    req = files["requirements.txt"].decode()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in req and "torch==2.6.0+cpu" in req
    assert "FROM python:3.11-slim AS base" in files["Dockerfile"].decode()


@pytest.mark.parametrize("cuda", sorted(presets.CUDA_VARIANTS))
def test_cuda_variant_uses_a_runtime_base_and_the_matching_wheel_index(cuda):
    plan = plan_scaffold(ScaffoldOptions(preset="pytorch", name="demo", cuda=cuda), Path("x"))
    dockerfile, req = plan.file("Dockerfile").content.decode(), plan.file("requirements.txt").content.decode()
    variant = presets.CUDA_VARIANTS[cuda]
    base = re.search(r"^FROM (\S+) AS base$", dockerfile, flags=re.M).group(1)
    assert base == variant.base_image and base.startswith(f"nvidia/cuda:{cuda}.") and "-runtime-" in base
    assert f"whl/{variant.torch_tag}\n" in req and f"+{variant.torch_tag}\n" in req
    assert "nvidia-driver" not in dockerfile and "python3-venv" in dockerfile


def test_separate_images_serve_on_a_small_cpu_image():
    files = rendered("pytorch-gpu-separate")
    train, serve = files["Dockerfile"].decode(), files["Dockerfile.serve"].decode()
    assert "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04 AS base" in train
    assert "FROM python:3.10-slim AS base" in serve
    assert "program/serve" not in train and "program/train" not in serve
    assert "granian" not in files["requirements.txt"].decode()
    assert "torch==2.6.0+cpu" in files["requirements-serve.txt"].decode()


def test_dlc_extends_the_aws_image_in_script_mode():
    text = rendered("dlc")["Dockerfile"].decode()
    assert ("FROM 763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311-ubuntu22.04-sagemaker"
            " AS base") in text
    assert "COPY code/train.py /opt/ml/code/train.py" in text
    assert 'ENV SAGEMAKER_PROGRAM="train.py"' in text
    gpu = rendered("dlc-gpu")["Dockerfile"].decode()
    assert "pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker AS base" in gpu


def test_dlc_region_and_version_are_options():
    plan = plan_scaffold(ScaffoldOptions(preset="dlc", name="demo", region="eu-west-1", dlc_version="2.6.0"),
                         Path("x"))
    assert ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312-ubuntu22.04-sagemaker"
            in plan.file("Dockerfile").content.decode())
    assert 'region = "eu-west-1"' in plan.file("smctl.toml").content.decode()


def test_base_image_option_replaces_the_from_line():
    plan = plan_scaffold(ScaffoldOptions(name="demo", base_image="registry.example/py:3.11"), Path("x"))
    assert "FROM registry.example/py:3.11 AS base" in plan.file("Dockerfile").content.decode()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_smctl_toml_loads_with_the_spec(variant, tmp_path):
    from smctl.project.spec import load_spec

    (tmp_path / "smctl.toml").write_bytes(rendered(variant)["smctl.toml"])
    spec = load_spec(tmp_path / "smctl.toml")
    assert spec.project.name == "demo"
    if VARIANTS[variant].preset == "processing":
        assert spec.process.inputs == {"raw": "data/raw"} and not spec.train.channel_inputs()
        return
    assert [c.name for c in spec.train.channel_inputs()] == ["training"]
    assert spec.transform.strategy == "MultiRecord" and spec.transform.accept == "text/csv"
    assert (spec.build.serve_image is not None) == VARIANTS[variant].separate_images


@pytest.mark.parametrize(("options", "message", "hint"), [
    (ScaffoldOptions(preset="keras"), "unknown preset 'keras'", "python, sklearn, xgboost, pytorch, dlc, processing"),
    (ScaffoldOptions(preset="sklearn", gpu=True), "no GPU variant", "--preset xgboost | pytorch | dlc"),
    (ScaffoldOptions(preset="pytorch", cuda="11.2"), "CUDA '11.2'", "--cuda 12.1 | 12.4 | 12.6"),
    (ScaffoldOptions(preset="pytorch", gpu=True, python="3.12"), "ships Python 3.10", "--base-image"),
    (ScaffoldOptions(name="My_Model"), "project name 'My_Model' is not valid", "--name my-model"),
    (ScaffoldOptions(python="3"), "--python '3'", "3.11"),
    (ScaffoldOptions(preset="dlc", dlc_version="latest"), "--framework-version 'latest'", "2.5.1"),
])
def test_impossible_options_are_usage_errors_with_a_hint(options, message, hint):
    with pytest.raises(UsageError) as info:
        plan_scaffold(options, Path("x"))
    assert message in info.value.message and hint in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE


def test_cuda_accepts_patch_versions_and_wheel_tags():
    assert presets.resolve_cuda("12.4.1").torch_tag == "cu124"
    assert presets.resolve_cuda("cu126").version == "12.6"


def test_project_name_comes_from_the_folder_made_valid(tmp_path):
    assert project_name(tmp_path / "My Cool_Model!", None) == "my-cool-model"
    assert project_name(tmp_path / "___", None) == "smctl-project"
    assert project_name(tmp_path / "x", None) == "x-project"  # ECR repository names need 2 characters
    with pytest.raises(UsageError):
        project_name(tmp_path / "ok", "y")
    assert project_name(tmp_path / "x", "given-name") == "given-name"
