"""BatchStrategy packing: whole records, input order, never over MaxPayloadInMB counted in bytes."""

from __future__ import annotations

import pytest

from smctl.errors import RecordTooLargeError
from smctl.transform.batching import MB, plan_batches


def _spans(batches):
    return [(b.first, b.count, b.size) for b in batches]


def test_multi_record_fills_a_batch_to_exactly_the_limit():
    assert _spans(plan_batches([4, 6, 5, 5], "MultiRecord", 10)) == [(0, 2, 10), (2, 2, 10)]


def test_one_byte_over_the_limit_starts_a_new_batch():
    assert _spans(plan_batches([4, 7, 5], "MultiRecord", 10)) == [(0, 1, 4), (1, 1, 7), (2, 1, 5)]


def test_a_record_exactly_at_the_limit_fits_alone():
    assert _spans(plan_batches([MB, 1], "MultiRecord", MB)) == [(0, 1, MB), (1, 1, 1)]


def test_a_record_one_byte_over_the_limit_names_its_number():
    with pytest.raises(RecordTooLargeError) as err:
        plan_batches([10, MB + 1, 3], "MultiRecord", MB)
    assert (err.value.record, err.value.size, err.value.limit) == (2, MB + 1, MB)
    assert "record 2 is 1,048,577 bytes" in str(err.value)


def test_single_record_is_one_record_per_batch_and_still_checks_the_limit():
    assert _spans(plan_batches([3, 2], "SingleRecord", 10)) == [(0, 1, 3), (1, 1, 2)]
    with pytest.raises(RecordTooLargeError):
        plan_batches([11], "SingleRecord", 10)


def test_no_limit_puts_every_record_in_one_batch():
    assert _spans(plan_batches([5] * 1000, "MultiRecord", None)) == [(0, 1000, 5000)]
    assert plan_batches([], "MultiRecord", None) == []


def test_batches_cover_every_record_once_in_order():
    sizes = [(i * 7919) % 97 + 1 for i in range(2000)]
    batches = plan_batches(sizes, "MultiRecord", 500)
    assert [b.index for b in batches] == list(range(len(batches)))
    covered = [i for b in batches for i in range(b.first, b.first + b.count)]
    assert covered == list(range(len(sizes)))
    assert all(b.size == sum(sizes[b.first:b.first + b.count]) <= 500 for b in batches)
    # greedy: adding the next record to any batch would break the limit
    assert all(b.size + sizes[b.first + b.count] > 500 for b in batches[:-1])
