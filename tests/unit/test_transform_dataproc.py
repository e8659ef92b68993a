"""InputFilter / JoinSource / OutputFilter for CSV, JSON and JSON Lines, as CONTRACT.md §3 describes."""

from __future__ import annotations

import pytest

from smctl.errors import UsageError
from smctl.transform.dataproc import (
    DataError,
    filter_input,
    line_count,
    media_type,
    parse_records,
    plan_processing,
    process_response,
)


def _plan(ct="text/csv", accept=None, input_filter=None, join="None", output_filter=None, split="Line",
          assemble="Line"):
    return plan_processing(content_type=ct, accept=accept, input_filter=input_filter, join_source=join,
                           output_filter=output_filter, split_type=split, assemble_with=assemble)


def test_nothing_to_do_when_every_filter_is_root_and_no_join():
    assert _plan(input_filter="$", output_filter="$") is None


def test_csv_input_filter_drops_the_id_column():
    dp = _plan(input_filter="$[1:]")
    parsed = parse_records([b"1,a,b\n", b'2,"x,y",c\r\n', b"3,d,e"], dp.input_format)
    assert filter_input(parsed, dp) == [b"a,b\n", b'"x,y",c\n', b"d,e\n"]


def test_csv_join_appends_prediction_columns_and_output_filter_keeps_id_and_last():
    dp = _plan(input_filter="$[1:]", join="Input", output_filter="$[0,-1]")
    inputs = parse_records([b"1,a,b\n", b"2,c,d\n"], "text/csv")
    out = process_response(b"0.9,yes\n0.1,no\n", inputs, 2, 0, dp)
    assert out == b"1,yes\n2,no"


def test_csv_values_are_never_retyped():
    dp = _plan(join="Input")
    inputs = parse_records([b"007,1.50\n"], "text/csv")
    assert process_response(b"0.10\n", inputs, 1, 0, dp) == b"007,1.50,0.10"


def test_jsonlines_join_puts_the_prediction_under_sagemakeroutput():
    dp = _plan("application/jsonlines", input_filter="$.x", join="Input", output_filter="$['id','SageMakerOutput']")
    parsed = parse_records([b'{"id": 1, "x": [1, 2]}\n', b'{"id": 2, "x": [3]}\n'], dp.input_format)
    assert filter_input(parsed, dp) == [b"[1,2]\n", b"[3]\n"]
    out = process_response(b'{"label": 1}\n{"label": 0}\n', parsed, 2, 0, dp)
    assert out == b'{"id":1,"SageMakerOutput":{"label":1}}\n{"id":2,"SageMakerOutput":{"label":0}}'


def test_a_non_object_json_input_is_wrapped_in_sagemakerinput():
    dp = _plan("application/jsonlines", join="Input")
    parsed = parse_records([b"[1, 2]\n"], dp.input_format)
    assert process_response(b"3\n", parsed, 1, 0, dp) == b'{"SageMakerInput":[1,2],"SageMakerOutput":3}'


def test_application_json_single_record_reads_a_pretty_printed_response_whole():
    dp = _plan("application/json", join="Input", split="None", assemble="None")
    parsed = parse_records([b'{"a": 1}'], dp.input_format)
    assert process_response(b'{\n  "p": 0.5\n}\n', parsed, 1, 0, dp) == b'{"a":1,"SageMakerOutput":{"p":0.5}}'


def test_output_filter_without_join_applies_to_the_prediction():
    dp = _plan("application/jsonlines", output_filter="$.label")
    assert process_response(b'{"label": 1, "p": 0.9}\n{"label": 0, "p": 0.2}\n', None, 2, 0, dp) == b"1\n0"


def test_join_fails_when_the_response_has_fewer_lines_than_records():
    dp = _plan(join="Input")
    inputs = parse_records([b"a\n", b"b\n", b"c\n"], "text/csv")
    with pytest.raises(DataError, match=r"the response to records 11-13 has 2 line\(s\) for 3 record\(s\)"):
        process_response(b"x\ny\n", inputs, 3, 10, dp)


def test_invalid_json_names_the_record():
    with pytest.raises(DataError) as err:
        parse_records([b'{"ok": 1}\n', b"{not json\n"], "application/jsonlines")
    assert err.value.record == 2
    assert "record 2: is not valid application/jsonlines" in str(err.value)


def test_a_filter_that_misses_names_the_record():
    dp = _plan("application/jsonlines", input_filter="$.features")
    parsed = parse_records([b'{"features": 1}\n', b'{"other": 2}\n'], dp.input_format)
    with pytest.raises(DataError, match="record 2: --input-filter .*no key 'features'"):
        filter_input(parsed, dp)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ct": "application/x-recordio-protobuf", "input_filter": "$[1:]"}, "needs --content-type"),
    ({"ct": None, "join": "Input"}, "needs --content-type"),
    ({"input_filter": "$.id"}, "CSV rows only have positions"),
    ({"input_filter": "$[1:]", "split": "None"}, "needs --split-type Line and --assemble-with Line"),
    ({"join": "Input", "assemble": "None"}, "needs --split-type Line and --assemble-with Line"),
    ({"ct": "application/jsonlines", "split": "RecordIO", "join": "Input"}, "works on text records"),
    ({"input_filter": "$..x"}, "--input-filter"),
])
def test_processing_that_sagemaker_would_refuse_is_a_usage_error(kwargs, message):
    with pytest.raises(UsageError, match=message):
        _plan(**kwargs)


def test_media_type_ignores_parameters_and_folds_jsonlines_spellings():
    assert media_type("text/csv; charset=utf-8") == "text/csv"
    assert media_type("application/x-jsonlines") == "application/jsonlines"
    assert media_type(None) is None


def test_line_count_counts_an_unterminated_last_line():
    assert [line_count(b""), line_count(b"a\nb"), line_count(b"a\nb\n"), line_count(b"\n")] == [0, 2, 2, 1]


@pytest.mark.parametrize("kw", [{"join": "Input"}, {"output_filter": "$[0,-1]"}])
def test_a_join_or_output_filter_needs_an_accept_sagemaker_can_process(kw):
    with pytest.raises(UsageError) as err:
        _plan(accept="application/x-npy", **kw)
    assert "needs --accept text/csv" in err.value.message and "got application/x-npy" in err.value.message
    assert _plan(accept=None, **kw) is not None  # no Accept: the content type's format is used
