"""`--help` of check, doctor, build and push: option values are shown as what they look like, not Python types."""

from __future__ import annotations

import re

import pytest

PYTHON_TYPE = re.compile(r"<(?:str|path|int|float|bool|list\[[^>]*\])>")


@pytest.mark.parametrize("command", ["check", "doctor", "build", "push"])
def test_help_shows_what_an_option_value_looks_like_not_a_python_type(smctl, command):
    res = smctl(command, "--help")
    assert res.exit_code == 0
    options = res.stdout.split("Options:", 1)[1]
    assert not PYTHON_TYPE.search(options), PYTHON_TYPE.findall(options)
    assert "[[" not in res.stdout.splitlines()[0]  # the usage line: [CONTEXT], not [[CONTEXT]]


def test_check_help_names_its_values(smctl):
    out = smctl("check", "--help").stdout
    for shown in ("--sample NAME=DIR", "--startup-timeout SECONDS", "--model PATH", "--train-only", "--serve-only"):
        assert shown in out, shown
