"""Parameter precedence (user, then container, then 1 / MultiRecord / 6), both spellings, and SageMaker's limits."""

from __future__ import annotations

import pytest

from smctl.errors import UsageError
from smctl.transform.batching import MB
from smctl.transform.params import UserLimits, batch_environment, check_user_limits, parse_execution_parameters, resolve


def _values(resolved):
    return {k: (v["value"], v["source"]) for k, v in resolved.as_dict().items()}


def test_defaults_when_neither_user_nor_container_says_anything():
    assert _values(resolve(UserLimits(), {})) == {"MaxPayloadInMB": (6, "default"),
                                                  "BatchStrategy": ("MultiRecord", "default"),
                                                  "MaxConcurrentTransforms": (1, "default")}


def test_user_beats_container_beats_default_for_each_value_separately():
    container, _ = parse_execution_parameters(b'{"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD"}')
    resolved = resolve(UserLimits(strategy="MultiRecord"), container)
    assert _values(resolved) == {"MaxPayloadInMB": (6, "default"), "BatchStrategy": ("MultiRecord", "user"),
                                 "MaxConcurrentTransforms": (4, "container")}
    assert resolved.payload_limit == 6 * MB


@pytest.mark.parametrize("spelling", ["MultiRecord", "MULTI_RECORD"])
def test_both_spellings_of_the_strategy_are_accepted(spelling):
    assert check_user_limits(None, spelling, None).strategy == "MultiRecord"
    found, problems = parse_execution_parameters(f'{{"BatchStrategy": "{spelling}"}}'.encode())
    assert (found, problems) == ({"strategy": "MultiRecord"}, [])


def test_zero_payload_means_no_limit_and_zero_concurrency_means_unset():
    limits = check_user_limits(0, None, 0)
    assert limits.max_concurrent is None
    resolved = resolve(limits, {"max_concurrent": 50})
    assert resolved.payload_limit is None
    assert resolved.max_concurrent.value == 50  # no product rule without a payload limit


@pytest.mark.parametrize(("payload", "strategy", "concurrent", "message"), [
    (101, None, None, "--max-payload 101 is outside SageMaker's range of 0-100 MB"),
    (-1, None, None, "--max-payload -1"),
    (None, "Batch", None, "--strategy 'Batch' is not a batch strategy"),
    (None, None, -2, "--max-concurrent -2 is negative"),
    (20, None, 6, "--max-concurrent 6 x --max-payload 20 = 120 MB is over SageMaker's limit of 100"),
])
def test_user_values_sagemaker_refuses_are_usage_errors(payload, strategy, concurrent, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        check_user_limits(payload, strategy, concurrent)
    assert err.value.hint


def test_concurrency_times_payload_is_checked_on_the_values_in_force():
    with pytest.raises(UsageError, match=r"MaxConcurrentTransforms 20 \(container\) x MaxPayloadInMB 6 \(default\)"):
        resolve(UserLimits(), {"max_concurrent": 20})
    assert resolve(UserLimits(max_payload_mb=100), {}).max_payload_mb.value == 100


def test_bad_container_values_are_ignored_with_a_warning():
    found, problems = parse_execution_parameters(b'{"MaxPayloadInMB": 500, "BatchStrategy": "BATCH", '
                                                 b'"MaxConcurrentTransforms": "4"}')
    assert found == {}
    assert len(problems) == 3 and all("ignored" in p for p in problems)
    assert parse_execution_parameters(b"<html>")[0] == {}


def test_batch_environment_sets_only_what_the_user_set():
    assert batch_environment(UserLimits()) == {"SAGEMAKER_BATCH": "true"}
    assert batch_environment(UserLimits(0, "SingleRecord", 2)) == {
        "SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "SAGEMAKER_BATCH_STRATEGY": "SINGLE_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2"}
