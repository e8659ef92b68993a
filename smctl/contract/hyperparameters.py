"""Hyperparameters as SageMaker hands them to the container: a string -> string map within its limits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from smctl.errors import UsageError

MAX_HYPERPARAMETERS = 100
MAX_HP_KEY = 256
MAX_HP_VALUE = 2500
HP_ENCODINGS = ("json", "str")


def encode_hyperparameters(values: Mapping[str, Any], encoding: str = "json") -> dict[str, str]:
    """Turn hyperparameters into the string->string map SageMaker writes.

    Non-string values: "json" is what framework (script-mode) estimators send, json.dumps(v), so True -> "true",
    [1, 2] -> "[1, 2]"; "str" is what the generic Estimator sends, str(v), so True -> "True". A value the user
    already wrote as a string passes unchanged in both (CONTRACT §1), as the SDK's ModelTrainer does; framework
    estimators would quote it ("x" -> "\"x\""), which the toolkit's json.loads turns back into the same string.

    Raises:
        UsageError: more than 100 entries, or a key or value over SageMaker's limits.
    """
    if encoding not in HP_ENCODINGS:
        raise UsageError(f"unknown hyperparameter encoding {encoding!r}", f"use one of: {', '.join(HP_ENCODINGS)}")
    if len(values) > MAX_HYPERPARAMETERS:
        raise UsageError(
            f"{len(values)} hyperparameters given; SageMaker accepts at most {MAX_HYPERPARAMETERS}",
            "pass the rest in a config file inside a channel instead",
        )
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_HP_KEY:
            raise UsageError(f"hyperparameter name {key!r} must be 1-{MAX_HP_KEY} characters",
                             f"rename it: SageMaker takes names of 1 to {MAX_HP_KEY} characters")
        if isinstance(value, str):
            text = value
        elif encoding == "json":
            text = json.dumps(value)
        else:
            text = str(value)
        if len(text) > MAX_HP_VALUE:
            raise UsageError(
                f"hyperparameter {key!r} is {len(text)} characters once encoded; SageMaker allows {MAX_HP_VALUE}",
                "shorten it, or pass large settings as a file in a channel",
            )
        out[key] = text
    return out
