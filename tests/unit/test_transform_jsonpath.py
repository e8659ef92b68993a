"""SageMaker's JSONPath subset, with its INCLUSIVE slice end and negative indexes."""

from __future__ import annotations

import pytest

from smctl.errors import JsonPathError
from smctl.transform.jsonpath import compile_path

ROW = ["id", "a", "b", "c", "d", "e"]
DOC = {"id": 7, "features": {"x": 1, "y": 2}, "tags": ["p", "q", "r"], "SageMakerOutput": {"label": 1}}


@pytest.mark.parametrize(("path", "expected"), [
    ("$", ROW),
    ("$[0]", "id"),
    ("$[-1]", "e"),
    ("$[1,3,5]", ["a", "c", "e"]),
    ("$[0,-1]", ["id", "e"]),
    ("$[1:4]", ["a", "b", "c", "d"]),  # second through fifth: the end is inclusive
    ("$[1:]", ["a", "b", "c", "d", "e"]),
    ("$[:2]", ["id", "a", "b"]),
    ("$[-2:]", ["d", "e"]),
    ("$[1:-2]", ["a", "b", "c", "d"]),
    ("$[4:10]", ["d", "e"]),
    ("$[*]", ROW),
    ("$[0,4:]", ["id", "d", "e"]),  # AWS's DataProcessing example $[0,5:]: an index and a slice together
    ("$[0,2:3,-1]", ["id", "b", "c", "e"]),
])
def test_index_paths_on_a_csv_row(path, expected):
    assert compile_path(path).apply(ROW) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("$.id", 7),
    ("$.features.y", 2),
    ("$['id','SageMakerOutput']", {"id": 7, "SageMakerOutput": {"label": 1}}),
    ("$['id']", 7),
    ("$.features.*", [1, 2]),
    ("$.features.['x','y']", {"x": 1, "y": 2}),
    ("$.tags[1:2]", ["q", "r"]),
    ("$.tags[-1]", "r"),
    ("$.SageMakerOutput.label", 1),
])
def test_name_paths_on_a_json_object(path, expected):
    assert compile_path(path).apply(DOC) == expected


def test_steps_after_a_multi_selector_apply_to_each_element():
    doc = {"items": [{"v": 1}, {"v": 2}]}
    assert compile_path("$.items[*].v").apply(doc) == [1, 2]


@pytest.mark.parametrize("path", ["features", "$..x", "$[?(@.x)]", "$[1:2:3]", "$.", "$[1", "$[a]", "$@",
                                  "$[0,a:]", "$[0,1:2:3]"])
def test_expressions_outside_the_subset_are_refused(path):
    with pytest.raises(JsonPathError):
        compile_path(path)


def test_index_only_tells_csv_compatible_paths():
    assert compile_path("$[1:]").index_only
    assert compile_path("$[0,5:]").index_only
    assert not compile_path("$.id").index_only
    assert compile_path("$").is_root


def test_missing_key_and_out_of_range_index_are_named():
    with pytest.raises(JsonPathError, match="no key 'nope'"):
        compile_path("$.nope").apply(DOC)
    with pytest.raises(JsonPathError, match="index 9 is out of range for 6"):
        compile_path("$[9]").apply(ROW)
    with pytest.raises(JsonPathError, match="needs an object"):
        compile_path("$.id").apply(ROW)
