"""Every error smctl raises carries a Hint: the command or flag that fixes it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import smctl.errors as errors
from smctl.project import schema

SMCTL = Path(errors.__file__).resolve().parent
# Constructions that rightly have no hint, with the reason.
NO_HINT = {
    ("cli/app.py", "SmctlError"): "the interrupted notice: the user stopped smctl, there is nothing to fix",
}
ERROR_CLASSES = {name for name, cls in vars(errors).items()
                 if inspect.isclass(cls) and issubclass(cls, errors.SmctlError)}


def _constructions_without_hint():
    """(file, line, class) of each `SomeSmctlError(message)` call in smctl/ that passes no hint."""
    for path in sorted(SMCTL.rglob("*.py")):
        rel = path.relative_to(SMCTL).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name not in ERROR_CLASSES or (rel, name) in NO_HINT:
                continue
            has_hint = len(node.args) >= 2 or any(k.arg in ("hint", None) for k in node.keywords)
            hint_is_none = (len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                            and node.args[1].value is None)
            if not has_hint or hint_is_none:
                yield f"{rel}:{node.lineno} {name}"


def test_every_smctl_error_raised_in_smctl_carries_a_hint():
    assert list(_constructions_without_hint()) == []


def test_the_error_class_walk_sees_the_errors_module():
    assert {"SmctlError", "UsageError", "ConfigError", "DockerError", "LocationError"} <= ERROR_CLASSES


FIELDS = [(section, f) for section, fields in schema.SECTIONS.items() for f in fields
          if (section, f.name) != ("train", "channels")] + \
    [("train.channels.training", f) for f in schema.CHANNEL]
WRONG_VALUES = (3.5, True, -1, 10**9, "", "\x00 not valid", [], {"a b": object()}, ["x"])


@pytest.mark.parametrize(("section", "field"), FIELDS, ids=[f"{s}.{f.name}" for s, f in FIELDS])
def test_every_smctl_toml_key_and_its_flag_say_how_to_fix_a_wrong_value(section, field, tmp_path):
    """Wrong types and values out of range, in smctl.toml and through the flag of the same key."""
    rejected = 0
    for value in WRONG_VALUES:
        try:
            field.check(value, schema.Ctx(tmp_path))
        except schema.Bad as bad:
            rejected += 1
            for key in (f"{section}.{field.name}", f"--{field.name.replace('_', '-')}"):
                for problem in schema.problems_for(key, value, bad):
                    assert problem.hint, (key, value, problem.message)
    assert rejected, f"{section}.{field.name} accepted every wrong value"
