"""The checks smctl.toml keys and flags go through: problems, check builders, names and image references."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from smctl.contract import hyperparameters as hps
from smctl.contract import layout
from smctl.contract.location import EXPECTED_S3, Location
from smctl.contract.serving import HOST_EXPECTED, HOST_HINT, parse_host
from smctl.errors import LocationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong in smctl.toml: the dotted key, a sentence naming key and value, and the fix."""

    key: str
    message: str
    hint: str | None = None


class Bad(Exception):
    """Raised by a check: `expected` gives "KEY must be EXPECTED, got VALUE"; `items` give (subkey, text, hint)."""

    def __init__(self, expected: str = "", hint: str | None = None,
                 items: Sequence[tuple[str, str, str | None]] = ()) -> None:
        super().__init__(expected)
        self.expected = expected
        self.hint = hint
        self.items = list(items)


@dataclass(frozen=True)
class Ctx:
    base: Path  # the folder relative paths resolve against


Check = Callable[[Any, Ctx], Any]


@dataclass(frozen=True)
class Field:
    """One key: its check (validates and normalises) and its default (a raw TOML value, run through the check)."""

    name: str
    check: Check
    default: Any = None  # None: unset, or derived from other keys in spec.py


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_for(key: str, value: Any, bad: Bad) -> list[Problem]:
    """`key` is a dotted smctl.toml key (train.instance_count) or a flag (--instance-count); every problem gets a
    hint: the check's own, else one that says where to put what."""
    if bad.items:
        return [Problem(f"{key}.{sub}" if sub else key,
                        f"{key}.{toml_key(sub)} {text}" if sub else f"{key} {text}",
                        hint or _fix(f"{key}.{toml_key(sub)}" if sub and not key.startswith("-") else key))
                for sub, text, hint in bad.items]
    return [Problem(key, f"{key} must be {bad.expected}, got {show(value)} ({type(value).__name__})",
                    bad.hint or _fix(key, bad.expected))]


def _fix(key: str, expected: str | None = None) -> str:
    if key.startswith("-"):
        return f"give {key} {expected}" if expected else f"fix the value of {key}"
    return f"set {key} in smctl.toml to {expected}" if expected else f"fix {key} in smctl.toml"


def did_you_mean(word: str, choices: Iterable[str], quote: str = "'{}'") -> str | None:
    choices = list(choices)
    same_case = [c for c in choices if c.lower() == word.lower()]
    close = same_case or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {quote.format(close[0])}?" if close else None


# --- check builders -------------------------------------------------------------------------------------------

def text(pattern: str | None = None, expected: str = "a string", max_len: int = 1024, hint: str | None = None) -> Check:
    rx = re.compile(pattern) if pattern else None

    def check(v: Any, ctx: Ctx) -> str:
        if not isinstance(v, str) or not v or len(v) > max_len or (rx and not rx.fullmatch(v)):
            raise Bad(expected, hint)
        return v
    return check


@dataclass(frozen=True)
class Integer:
    """A whole number in [lo, hi] (None: open); the flag of the same key takes the same range (integer_bounds)."""

    lo: int | None = None
    hi: int | None = None
    hint: str | None = None

    def __call__(self, v: Any, ctx: Ctx) -> int:
        # TOML true is not 1: bool is a subclass of int in Python, so exclude it explicitly
        lo, hi = self.lo, self.hi
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise Bad(self.expected, self.hint)
        return v

    @property
    def expected(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"an integer from {self.lo} to {self.hi}"
        return f"an integer >= {self.lo}" if self.lo is not None else "an integer"


def integer(lo: int | None = None, hi: int | None = None, hint: str | None = None) -> Check:
    return Integer(lo, hi, hint)


def boolean(v: Any, ctx: Ctx) -> bool:
    if not isinstance(v, bool):
        raise Bad("true or false", "TOML booleans are unquoted lowercase: true / false")
    return v


def choice(*allowed: str, aliases: Mapping[str, str] | None = None) -> Check:
    aliases = dict(aliases or {})
    expected = "one of " + ", ".join(allowed) + (f" (or {', '.join(aliases)})" if aliases else "")

    def check(v: Any, ctx: Ctx) -> str:
        if isinstance(v, str) and v in allowed:
            return v
        if isinstance(v, str) and v in aliases:
            return aliases[v]
        raise Bad(expected, did_you_mean(v, allowed) if isinstance(v, str) else None)
    return check


def path(v: Any, ctx: Ctx) -> Path:
    if not isinstance(v, str) or not v:
        raise Bad("a path (string)")
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", v):
        raise Bad("a local path", "only channels, models and transform data may be s3:// URIs")
    if "\x00" in v:  # resolve() would fail with a bare ValueError (exit 70)
        raise Bad("a path without NUL characters", "remove the \\u0000 from the path")
    return (ctx.base / Path(v).expanduser()).resolve()


def str_list(v: Any, ctx: Ctx) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        raise Bad("a non-empty array of strings", 'write it as an array: entrypoint = ["python", "train.py"]')
    return tuple(v)


def _string_value(v: Any) -> str | None:
    """Strings pass; numbers become their text (users write OMP_NUM_THREADS = 4); booleans are refused."""
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return None


def str_table(key_rx: str = ".+", key_rule: str = "any name", max_entries: int = 1000,
              max_value: int = 1 << 20) -> Check:
    rx = re.compile(key_rx)

    def check(v: Any, ctx: Ctx) -> Mapping[str, str]:
        if not isinstance(v, dict):
            raise Bad("a table of NAME = \"value\"")
        items: list[tuple[str, str, str | None]] = []
        if len(v) > max_entries:
            items.append(("", f"has {len(v)} entries; SageMaker accepts at most {max_entries}", None))
        out: dict[str, str] = {}
        for key, raw in v.items():
            value = _string_value(raw)
            if not rx.fullmatch(key):
                items.append((key, "is not a valid name", f"names match {key_rule}"))
            elif value is None:
                items.append((key, f"must be a string, got {show(raw)} ({type(raw).__name__})",
                               f'quote it: {toml_key(key)} = "{str(raw).lower()}"' if isinstance(raw, bool) else None))
            elif len(value) > max_value:
                items.append((key, f"is {len(value)} characters; SageMaker allows {max_value}", None))
            else:
                out[key] = value
        if items:
            raise Bad(items=items)
        return MappingProxyType(out)
    return check


ENVIRONMENT = str_table(layout.ENV_KEY.pattern, "[a-zA-Z_][a-zA-Z0-9_]*", layout.MAX_ENVIRONMENT, layout.MAX_ENV_VALUE)


def hyperparameters(v: Any, ctx: Ctx) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise Bad("a table of name = value")
    items: list[tuple[str, str, str | None]] = []
    if len(v) > hps.MAX_HYPERPARAMETERS:
        items.append(("", f"has {len(v)} entries; SageMaker accepts at most {hps.MAX_HYPERPARAMETERS}",
                      "pass the rest in a config file inside a channel"))
    for key, value in v.items():
        if not 1 <= len(key) <= hps.MAX_HP_KEY:
            items.append((key, f"is not a valid name: names are 1-{hps.MAX_HP_KEY} characters", None))
        elif not isinstance(value, str | int | float | bool):
            items.append((key, f"must be a string, number or boolean, got {show(value)} ({type(value).__name__})",
                          f"write it as a string: {toml_key(key)} = '{value}'" if isinstance(value, list) else None))
    if items:
        raise Bad(items=items)
    return MappingProxyType(dict(v))


GPU_ID = re.compile(r"[0-9]+|GPU-[0-9a-fA-F-]+")
GPUS_EXPECTED = '"auto", "all", "none", a count, or an array of device ids'


def gpus(v: Any, ctx: Ctx) -> str:
    """Normalised to the --gpus flag's text: auto | all | none | N (a count) | id,id (device ids)."""
    if isinstance(v, str) and v.strip().lower() in ("auto", "all", "none"):
        return v.strip().lower()
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return str(v) if v else "none"
    ids = v.split(",") if isinstance(v, str) else v if isinstance(v, list) else None
    if ids and all(isinstance(i, int | str) and not isinstance(i, bool) and GPU_ID.fullmatch(str(i).strip())
                   for i in ids):
        text = ",".join(str(i).strip() for i in ids)
        # one id from an array stays an id: "1," (as --gpus 1, would), since a bare "1" is a count
        return text + "," if isinstance(v, list) and len(ids) == 1 else text
    raise Bad(GPUS_EXPECTED, 'for example gpus = "all", gpus = 2 or gpus = ["0", "1"]')


def host_address(v: Any, ctx: Ctx) -> str:
    parsed = parse_host(v) if isinstance(v, str) else None
    if parsed is None:
        raise Bad(HOST_EXPECTED, HOST_HINT)
    return parsed


def local_or_s3(v: Any, ctx: Ctx) -> Location:
    """A Location: a local path (resolved against the file's folder) or an s3:// URI, parsed here once."""
    if not isinstance(v, str):
        raise Bad("a local path or an s3:// URI")
    if "\x00" in v:  # resolve() would fail with a bare ValueError (exit 70)
        raise Bad("a local path or an s3:// URI without NUL characters", "remove the \\u0000 from the path")
    try:
        found = Location.parse(v, ctx.base)
    except LocationError as err:
        raise Bad(err.expected, "bucket names are 3-63 lowercase letters, digits, '.' and '-'"
                  if err.expected == EXPECTED_S3 else None) from None
    return found if found.is_s3 else Location.from_path(found.path.resolve())


# --- names and references --------------------------------------------------------------------------------------

NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"  # also an ECR path component
DOCKER_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOCKER_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*" \
                r"[a-zA-Z0-9]))*(?::[0-9]+)?"
REPOSITORY = rf"{DOCKER_COMPONENT}(?:/{DOCKER_COMPONENT})*"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
NAME_REF = rf"{REPOSITORY}(?::{TAG})?(?:@{DIGEST})?"
ECR_REPOSITORY = rf"(?:{NAME}/)*{NAME}"
SAGEMAKER_NAME = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"  # job and endpoint names


def repository(v: Any, ctx: Ctx) -> str:
    if isinstance(v, str) and re.fullmatch(rf"{REPOSITORY}(?::{TAG})?", v) and ":" in v:
        raise Bad("a repository name without a tag", "put the tag in [project] tag")
    return text(REPOSITORY, "a repository name: lowercase letters, digits and . _ - /", 255,
                "e.g. my-model or team/my-model (the registry goes in [aws] registry)")(v, ctx)


def image_ref(v: Any, ctx: Ctx) -> str:
    expected = "an image reference [REGISTRY/]REPOSITORY[:TAG] in lowercase"
    hint = "e.g. my-model:latest or 123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model:v1"
    if not isinstance(v, str) or len(v) > 512:
        raise Bad(expected, hint)
    first, slash, rest = v.partition("/")
    # Docker's rule: the first component is a registry only if it has a '.' or ':' or is localhost
    if slash and ("." in first or ":" in first or first == "localhost"):
        ok = re.fullmatch(DOCKER_DOMAIN, first) and re.fullmatch(NAME_REF, rest)
    else:
        ok = re.fullmatch(NAME_REF, v)
    if not ok:
        raise Bad(expected, hint)
    return v


def project_name(v: Any, ctx: Ctx) -> str:
    return text(rf"(?=.{{2,63}}$){NAME}", "2-63 lowercase letters, digits, '.', '_' or '-', starting and ending "
                "with a letter or digit", 63)(v, ctx)


def sanitise_name(folder: str) -> str:
    """A folder name made into a valid project name: 'My Model_v2' -> 'my-model-v2'."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.lower()).strip("-")[:63].strip("-")
    return name if len(name) >= 2 else f"{name or 'smctl'}-project"  # ECR names need 2 characters


def endpoint_name(project: str) -> str:
    return re.sub(r"[^a-zA-Z0-9-]+", "-", project).strip("-")[:63].strip("-") or "endpoint"


INSTANCE_TYPE = text(r"ml\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+|local|local_gpu",
                     "an ml.* instance type such as ml.m5.xlarge (or local / local_gpu)", 64)
JOB_NAME = text(SAGEMAKER_NAME, "1-63 letters, digits and hyphens, starting with a letter or digit", 63)
MIME = text(r"[^\s]+", "a MIME type such as text/csv", 256)
JSONPATH = text(r"\$.*", "a JSONPath expression starting with $ (at most 63 characters)", 63,
                "e.g. \"$\", \"$[1:]\" or \"$.features\"")


def ecr_repository(v: Any, ctx: Ctx) -> str:
    if not isinstance(v, str) or len(v) < 2:
        raise Bad("an ECR repository name of 2-256 lowercase letters, digits and . _ - /")
    return text(ECR_REPOSITORY, "an ECR repository name of 2-256 lowercase letters, digits and . _ - /",
                256, "e.g. my-model or team/my-model")(v, ctx)
