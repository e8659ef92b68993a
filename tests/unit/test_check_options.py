"""`smctl check`'s flags: --sample NAME=DIR channels, --train-only / --serve-only, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.doctor import image_judges as ij
from smctl.doctor.image_checks import CheckOptions, parse_samples, validate
from smctl.doctor.model import Status
from smctl.errors import ExitCode, UsageError


def folder(path: Path, *files: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in files:
        (path / name).write_text("1\n")
    return path


def test_bare_sample_dir_is_the_training_channel(tmp_path):
    assert parse_samples([str(tmp_path)]) == {"training": tmp_path}


def test_sample_name_equals_dir_names_any_channel(tmp_path):
    got = parse_samples([f"train={tmp_path / 'a'}", f"validation={tmp_path / 'b'}"])
    assert got == {"train": tmp_path / "a", "validation": tmp_path / "b"}


def test_existing_folder_with_an_equals_sign_stays_a_bare_dir(tmp_path):
    odd = folder(tmp_path / "x=y")
    assert parse_samples([str(odd)]) == {"training": odd}


def test_sample_channel_given_twice_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="channel 'training' twice"):
        parse_samples([str(tmp_path), f"training={tmp_path}"])


def test_sample_with_an_invalid_channel_name_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="valid channel name") as err:
        parse_samples([f"bad name={tmp_path}"])
    assert "--sample train=data/train" in (err.value.hint or "")


def test_empty_sample_folder_is_refused_as_sagemaker_refuses_a_channel_without_data(tmp_path):
    with pytest.raises(UsageError, match="holds no files") as err:
        validate(CheckOptions("img", samples={"train": folder(tmp_path / "empty")}))
    assert err.value.exit_code is ExitCode.USAGE


def test_missing_sample_folder_names_the_channel(tmp_path):
    with pytest.raises(UsageError, match="is not a folder \\(the channel 'val'\\)"):
        validate(CheckOptions("img", samples={"val": tmp_path / "missing"}))


def test_train_only_and_serve_only_exclude_each_other():
    with pytest.raises(UsageError, match="exclude each other"):
        validate(CheckOptions("img", train=False, serve=False))


def test_sample_with_serve_only_and_model_with_train_only_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="--serve-only skips it"):
        validate(CheckOptions("img", samples={"training": folder(tmp_path / "s", "a.csv")}, train=False))
    with pytest.raises(UsageError, match="--train-only skips it"):
        validate(CheckOptions("img", model=tmp_path, serve=False))


def test_rules_of_a_job_the_image_does_not_do_are_skipped_not_passed():
    assert {r.status for r in ij.skipped_train("not run: --serve-only")} == {Status.SKIP}
    serve = ij.skipped_serve("not run: --train-only")
    assert [r.id for r in serve] == ["serve.listen", "serve.ping", "serve.invocations", "serve.sigterm"]
    assert {r.status for r in serve} == {Status.SKIP}
