"""DataProcessing: InputFilter, JoinSource and OutputFilter over text/csv, application/json and application/jsonlines.

CSV rows behave as JSON arrays of strings (values are never re-typed, so "1.50" stays "1.50"); a join appends the
prediction's columns to the input row. A JSON object gets the prediction under "SageMakerOutput"; any other JSON
value becomes {"SageMakerInput": ..., "SageMakerOutput": ...}. JSON is written compact (no spaces).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smctl.errors import DataError, JsonPathError, UsageError
from smctl.transform.jsonpath import JsonPath, compile_path
from smctl.transform.splitters import strip_line_ending

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
_ALIASES = {"application/x-jsonlines": JSONLINES, "application/jsonl": JSONLINES, "application/x-ndjson": JSONLINES}
SUPPORTED = (CSV, JSON, JSONLINES)


def media_type(content_type: str | None) -> str | None:
    """`text/csv; charset=utf-8` -> `text/csv`; JSON Lines spellings folded into application/jsonlines."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


@dataclass(frozen=True)
class DataProcessing:
    input_format: str  # one of SUPPORTED
    output_format: str  # the Accept's format: how response lines are read
    input_filter: JsonPath | None
    join: bool
    output_filter: JsonPath | None

    @property
    def parses_input(self) -> bool:
        return self.input_filter is not None or self.join

    @property
    def parses_output(self) -> bool:
        return self.join or self.output_filter is not None

    def as_dict(self) -> dict[str, Any]:
        return {"input_filter": self.input_filter.text if self.input_filter else "$",
                "join_source": "Input" if self.join else "None",
                "output_filter": self.output_filter.text if self.output_filter else "$"}


def plan_processing(*, content_type: str | None, accept: str | None, input_filter: str | None,
                    join_source: str, output_filter: str | None, split_type: str,
                    assemble_with: str) -> DataProcessing | None:
    """None when nothing is filtered or joined (records then pass byte for byte).

    Raises:
        UsageError: a filter outside SageMaker's subset, or a content type / split / assembly it cannot process.
    """
    paths = {"--input-filter": _compile(input_filter, "--input-filter"),
             "--output-filter": _compile(output_filter, "--output-filter")}
    join = join_source == "Input"
    if not join and all(p is None for p in paths.values()):
        return None
    fmt = media_type(content_type)
    what = "--join-source Input" if join else next(flag for flag, p in paths.items() if p is not None)
    if fmt not in SUPPORTED:
        raise UsageError(f"{what} needs --content-type {', '.join(SUPPORTED)}, got {content_type or 'none'}",
                         "SageMaker filters and joins only CSV, JSON and JSON Lines: set --content-type text/csv "
                         "(or application/json, application/jsonlines)")
    out_fmt = media_type(accept) or fmt
    if (join or paths["--output-filter"] is not None) and out_fmt not in SUPPORTED:
        raise UsageError(f"{what} needs --accept {', '.join(SUPPORTED)}, got {accept}",
                         "SageMaker joins and filters answers only in CSV, JSON and JSON Lines: set --accept to "
                         "one of them (or leave it out to use the content type)")
    if split_type not in ("None", "Line"):
        raise UsageError(f"{what} works on text records, not --split-type {split_type}",
                         "use --split-type Line (or None) with filters and joins")
    if fmt == CSV and (split_type != "Line" or assemble_with != "Line"):
        raise UsageError(f"{what} with text/csv needs --split-type Line and --assemble-with Line "
                         f"(got {split_type} and {assemble_with})",
                         "SageMaker requires both to be Line for CSV: add --split-type Line --assemble-with Line")
    for flag, path in paths.items():
        formats = (fmt,) if flag == "--input-filter" else (fmt if join else out_fmt,)
        if path is not None and CSV in formats and not path.index_only:
            raise UsageError(f"{flag} {path.text!r} names a key, but CSV rows only have positions",
                             f"address CSV columns by index: {flag} '$[1:]' or '$[0,-1]'")
    return DataProcessing(fmt, out_fmt if out_fmt in SUPPORTED else fmt, paths["--input-filter"], join,
                          paths["--output-filter"])


def _compile(text: str | None, flag: str) -> JsonPath | None:
    if text is None or text.strip() == "$":
        return None
    try:
        return compile_path(text.strip())
    except JsonPathError as exc:
        raise UsageError(f"{flag}: {exc}", "SageMaker supports $, .name, *, ['a','b'], [i,j] (negative ok) and "
                         "[start:end] (end inclusive)") from None


def parse_records(records: Sequence[bytes], fmt: str) -> list[Any]:
    """Raises: DataError naming the first record that is not valid in `fmt`."""
    parsed = []
    for n, record in enumerate(records, 1):
        try:
            parsed.append(parse_value(strip_line_ending(record), fmt))
        except (ValueError, csv.Error) as exc:
            raise DataError(f"is not valid {fmt}: {exc}", n) from None
    return parsed


def parse_value(raw: bytes, fmt: str) -> Any:
    text = raw.decode("utf-8")
    if fmt == CSV:
        rows = list(csv.reader(io.StringIO(text), strict=True))
        if len(rows) > 1:
            raise ValueError("a CSV record spans several lines (embedded newlines are not supported)")
        return rows[0] if rows else []
    return json.loads(text)


def serialize(value: Any, fmt: str) -> bytes:
    """One record as a line's content (no line ending)."""
    if fmt == CSV:
        row = value if isinstance(value, list) else [value]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow([_cell(v) for v in row])
        return buf.getvalue().encode("utf-8")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def filter_input(parsed: Sequence[Any], dp: DataProcessing) -> list[bytes]:
    """The records to send after InputFilter, one line each; Raises: DataError naming the record."""
    assert dp.input_filter is not None
    out = []
    for n, value in enumerate(parsed, 1):
        try:
            out.append(serialize(dp.input_filter.apply(value), dp.input_format) + b"\n")
        except JsonPathError as exc:
            raise DataError(f"--input-filter {exc}", n) from None
    return out


def response_lines(body: bytes, count: int, fmt: str) -> list[str]:
    """The predictions in one response: one per line, or the whole body for one JSON record."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"the response is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if fmt == JSON and count == 1:
        return [text]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def process_response(body: bytes, inputs: Sequence[Any] | None, count: int, first: int,
                     dp: DataProcessing) -> bytes:
    """Join and/or OutputFilter one response; records first+1..first+count of the file (for messages).

    Raises:
        DataError: the response's line count differs from the records' (join), or a line does not parse or filter.
    """
    lines = response_lines(body, count, dp.output_format)
    span = f"records {first + 1}-{first + count}" if count > 1 else f"record {first + 1}"
    if dp.join and len(lines) != count:
        raise DataError(f"the response to {span} has {len(lines)} line(s) for {count} record(s); to join, the "
                        "container must answer one line per record")
    out_fmt = dp.input_format if dp.join else dp.output_format
    out = []
    for i, line in enumerate(lines):
        try:
            value = _prediction(line, dp.output_format)
        except (ValueError, csv.Error) as exc:
            raise DataError(f"response line {i + 1} (for {span}) is not valid {dp.output_format}: {exc}") from None
        if dp.join:
            assert inputs is not None
            value = join_record(inputs[i], value, dp.input_format)
        if dp.output_filter is not None:
            try:
                value = dp.output_filter.apply(value)
            except JsonPathError as exc:
                raise DataError(f"--output-filter {exc}", first + i + 1) from None
        out.append(serialize(value, out_fmt))
    return b"\n".join(out)


def _prediction(line: str, fmt: str) -> Any:
    return parse_value(line.encode("utf-8"), fmt) if fmt == CSV else json.loads(line)


def join_record(record: Any, prediction: Any, fmt: str) -> Any:
    """JoinSource Input: CSV columns appended; JSON objects get SageMakerOutput, other values are wrapped."""
    if fmt == CSV:
        row = record if isinstance(record, list) else [record]
        return [*row, *(prediction if isinstance(prediction, list) else [prediction])]
    if isinstance(record, dict):
        return {**record, "SageMakerOutput": prediction}
    return {"SageMakerInput": record, "SageMakerOutput": prediction}


def line_count(body: bytes) -> int:
    """Lines in a response body; a final line without a newline counts."""
    if not body:
        return 0
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
