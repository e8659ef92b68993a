"""SageMaker's JSONPath subset for InputFilter / OutputFilter: $, .name, *, ['a','b'], [i,j], [s:e] and [i,s:e].

A small parser rather than a library: jsonpath-ng and its kin follow Python/JavaScript slices (end EXCLUSIVE),
while SageMaker's `$[1:4]` is the second through fifth element (end INCLUSIVE). Anything outside the subset is
refused at parse time, so a filter that SageMaker would reject is rejected here first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from smctl.errors import JsonPathError

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_INT = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Step:
    kind: str  # name | names | index | indexes | slice | union | wildcard
    names: tuple[str, ...] = ()
    indexes: tuple[int, ...] = ()
    start: int | None = None
    end: int | None = None
    parts: tuple[Step, ...] = ()  # union: index and slice steps, their picks concatenated in order ($[0,5:])

    @property
    def multi(self) -> bool:
        return self.kind in ("names", "indexes", "slice", "union", "wildcard")


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    @property
    def index_only(self) -> bool:
        """True when every step addresses array positions (what a CSV row, an array, accepts)."""
        return all(s.kind in ("index", "indexes", "slice", "union", "wildcard") for s in self.steps)

    def apply(self, doc: Any) -> Any:
        """The selected part of `doc`; Raises: JsonPathError naming the missing key or index."""
        return _apply(self.steps, doc, self.text)


def compile_path(text: str) -> JsonPath:
    """Parse a filter expression; Raises: JsonPathError saying what is not supported and where."""
    if not text.startswith("$"):
        raise JsonPathError(f"{text!r} must start with $")
    steps: list[Step] = []
    pos = 1
    while pos < len(text):
        ch = text[pos]
        if ch == "." and text.startswith(".[", pos):  # SageMaker accepts $.field1.['a','b']
            pos += 1
            continue
        if ch == ".":
            if text.startswith(".*", pos):
                steps.append(Step("wildcard"))
                pos += 2
                continue
            if text.startswith("..", pos):
                raise JsonPathError(f"{text!r}: deep scan '..' is not supported by SageMaker (position {pos})")
            m = _NAME.match(text, pos + 1)
            if not m:
                raise JsonPathError(f"{text!r}: expected a name after '.' at position {pos + 1}")
            steps.append(Step("name", names=(m.group(),)))
            pos = m.end()
            continue
        if ch == "[":
            close = text.find("]", pos)
            if close < 0:
                raise JsonPathError(f"{text!r}: '[' at position {pos} is never closed")
            steps.append(_bracket(text, text[pos + 1 : close].strip(), pos))
            pos = close + 1
            continue
        raise JsonPathError(f"{text!r}: unexpected {ch!r} at position {pos}")
    return JsonPath(text, tuple(steps))


def _bracket(text: str, inner: str, pos: int) -> Step:
    if inner == "*":
        return Step("wildcard")
    if inner.startswith(("'", '"')):
        names = []
        for part in _split_list(inner):
            if len(part) < 2 or part[0] not in "'\"" or part[-1] != part[0]:
                raise JsonPathError(f"{text!r}: {part!r} at position {pos} is not a quoted name")
            names.append(part[1:-1])
        return Step("name", names=(names[0],)) if len(names) == 1 else Step("names", names=tuple(names))
    items = _split_list(inner)
    if ":" in inner and len(items) > 1:  # $[0,5:]: indexes and slices together, as in AWS's own example
        return Step("union", parts=tuple(_bracket(text, item, pos) for item in items))
    if ":" in inner:
        parts = inner.split(":")
        if len(parts) != 2 or not all(p.strip() == "" or _INT.fullmatch(p.strip()) for p in parts):
            raise JsonPathError(f"{text!r}: slice [{inner}] at position {pos} must be [start:end] with integers "
                                "(steps are not supported)")
        start, end = (int(p) if p.strip() else None for p in parts)
        return Step("slice", start=start, end=end)
    if not items or not all(_INT.fullmatch(i) for i in items):
        raise JsonPathError(f"{text!r}: [{inner}] at position {pos} is not supported; use [0], [1,3], [1:4], "
                            "['name'] or [*] (filters like [?(...)] are not supported by SageMaker)")
    indexes = tuple(int(i) for i in items)
    return Step("index", indexes=indexes) if len(indexes) == 1 else Step("indexes", indexes=indexes)


def _split_list(inner: str) -> list[str]:
    return [p.strip() for p in inner.split(",")]


def _apply(steps: tuple[Step, ...], doc: Any, text: str) -> Any:
    for n, step in enumerate(steps):
        if step.multi:
            selected = _select(step, doc, text)
            rest = steps[n + 1 :]
            if not rest:
                return selected
            if isinstance(selected, dict):
                return {k: _apply(rest, v, text) for k, v in selected.items()}
            return [_apply(rest, v, text) for v in selected]
        doc = _select(step, doc, text)
    return doc


def _select(step: Step, doc: Any, text: str) -> Any:
    if step.kind == "wildcard":
        if isinstance(doc, dict):
            return list(doc.values())
        if isinstance(doc, list):
            return list(doc)
        raise JsonPathError(f"{text}: '*' needs an object or array, got {_kind(doc)}")
    if step.kind in ("name", "names"):
        if not isinstance(doc, dict):
            raise JsonPathError(f"{text}: needs an object to take {', '.join(map(repr, step.names))} from, "
                                f"got {_kind(doc)}")
        missing = [k for k in step.names if k not in doc]
        if missing:
            raise JsonPathError(f"{text}: no key {missing[0]!r} (keys: {', '.join(map(repr, list(doc)[:10]))})")
        return doc[step.names[0]] if step.kind == "name" else {k: doc[k] for k in step.names}
    if not isinstance(doc, list):
        raise JsonPathError(f"{text}: needs an array (or CSV row) to index, got {_kind(doc)}")
    if step.kind == "union":
        picked: list[Any] = []
        for part in step.parts:
            got = _select(part, doc, text)
            picked.extend(got if part.kind != "index" else [got])
        return picked
    if step.kind == "slice":
        size = len(doc)
        start = 0 if step.start is None else (step.start + size if step.start < 0 else step.start)
        end = size - 1 if step.end is None else (step.end + size if step.end < 0 else step.end)
        return doc[max(start, 0) : max(end + 1, 0)]  # SageMaker's end is inclusive
    picked = []
    for i in step.indexes:
        if not -len(doc) <= i < len(doc):
            raise JsonPathError(f"{text}: index {i} is out of range for {len(doc)} element(s)")
        picked.append(doc[i])
    return picked[0] if step.kind == "index" else picked


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number")
