"""Which credentials a run's containers get, as the commands decide it: --role, --no-credentials and smctl.toml's
[aws] role through the real CLI (`local-train --dry-run --json` shows the plan's "credentials")."""

from __future__ import annotations

import pytest

from smctl.errors import ExitCode
from smctl.project.spec import load_spec

FILE_ROLE = "arn:aws:iam::123456789012:role/FromFile"
FLAG_ROLE = "arn:aws:iam::123456789012:role/service-role/FromFlag"


def planned(smctl, cwd, *args: str) -> dict:
    res = smctl("--json", "local-train", "--image", "x", "--job-name", "churn-1", "--dry-run", *args, cwd=cwd)
    assert res.exit_code == 0, res.stderr
    return res.json["result"]["credentials"]


def test_by_default_the_containers_get_the_callers_credentials(smctl, tmp_path):
    creds = planned(smctl, tmp_path)
    assert creds["source"] == "caller" and creds["profile"] is None
    assert creds["summary"] == "the caller's, from the AWS credential chain, as session credentials refreshed " \
                               "before expiry"
    assert creds["environment"] == ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]


def test_the_profile_in_smctl_toml_is_the_callers_source(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text('[aws]\nprofile = "ml"\n')
    creds = planned(smctl, tmp_path)
    assert creds["profile"] == "ml" and "from profile ml" in creds["summary"]


def test_the_role_in_smctl_toml_is_assumed_with_the_job_name_as_session(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "{FILE_ROLE}"\n')
    creds = planned(smctl, tmp_path)
    assert (creds["source"], creds["role_arn"], creds["session_name"]) == ("role", FILE_ROLE, "churn-1")


def test_the_role_flag_overrides_smctl_toml(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "{FILE_ROLE}"\n')
    creds = planned(smctl, tmp_path, "--role", FLAG_ROLE)
    assert (creds["source"], creds["role_arn"]) == ("role", FLAG_ROLE)


def test_no_credentials_wins_over_the_role_in_smctl_toml(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "{FILE_ROLE}"\n')
    assert planned(smctl, tmp_path, "--no-credentials") == {"source": "none", "summary": "none (--no-credentials)"}


def test_the_plan_on_a_terminal_names_the_source(smctl, tmp_path):
    res = smctl("local-train", "--image", "x", "--job-name", "churn-1", "--dry-run", "--role", FLAG_ROLE,
                cwd=tmp_path)
    assert f"AWS credentials for the containers: role {FLAG_ROLE} (session churn-1), refreshed before expiry" \
        in res.stdout


@pytest.mark.parametrize("command", [
    ("local-train", "--image", "x", "--dry-run"),
    ("local-serve", "--image", "x"),
    ("local-transform", "--image", "x", "--input", "in", "--output", "out"),
    ("check", "x:1"),
])
def test_role_with_no_credentials_is_a_usage_error_before_anything_runs(smctl, tmp_path, command):
    res = smctl(*command, "--role", FLAG_ROLE, "--no-credentials", cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert res.stderr == ("Error: --role and --no-credentials were both given\n"
                          "Hint: keep --role ARN to give the containers that role's credentials, or "
                          "--no-credentials for none\n")


def test_a_role_flag_that_is_not_a_role_arn_is_a_usage_error_naming_the_flag(smctl, tmp_path):
    res = smctl("local-train", "--image", "x", "--dry-run", "--role", "arn:aws:iam::123456789012:user/dev",
                cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert res.stderr == ("Error: --role must be an IAM role ARN, got 'arn:aws:iam::123456789012:user/dev' (str)\n"
                          "Hint: e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole\n")


# ---- [aws] role in smctl.toml -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arn", [FILE_ROLE, FLAG_ROLE, "arn:aws-cn:iam::123456789012:role/R"])
def test_aws_role_takes_a_role_arn(tmp_path, arn):
    (tmp_path / "smctl.toml").write_text(f'[aws]\nrole = "{arn}"\n')
    assert load_spec(tmp_path / "smctl.toml").aws.role == arn


def test_aws_role_is_unset_by_default(tmp_path):
    (tmp_path / "smctl.toml").write_text("[aws]\n")
    assert load_spec(tmp_path / "smctl.toml").aws.role is None


@pytest.mark.parametrize(("value", "shown"), [
    ('"SageMakerRole"', "'SageMakerRole' (str)"),
    ('"arn:aws:iam::123456789012:user/dev"', "'arn:aws:iam::123456789012:user/dev' (str)"),
    ('"arn:aws:iam::1234:role/R"', "'arn:aws:iam::1234:role/R' (str)"),
    ("42", "42 (int)"),
])
def test_a_bad_aws_role_names_the_key_and_shows_an_example(smctl, tmp_path, value, shown):
    (tmp_path / "smctl.toml").write_text(f"[aws]\nrole = {value}\n")
    res = smctl("local-train", "--image", "x", "--dry-run", cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert res.stderr == (f"Error: {tmp_path / 'smctl.toml'}: aws.role must be an IAM role ARN, got {shown}\n"
                          "Hint: e.g. arn:aws:iam::123456789012:role/SageMakerExecutionRole\n")


def test_aws_role_in_the_wrong_section_is_pointed_to_aws(smctl, tmp_path):
    (tmp_path / "smctl.toml").write_text(f'[train]\nrole = "{FILE_ROLE}"\n')
    res = smctl("local-train", "--image", "x", "--dry-run", cwd=tmp_path)
    assert res.exit_code == ExitCode.USAGE
    assert "[train] key 'role' is not known" in res.stderr and "role belongs under [aws]" in res.stderr
