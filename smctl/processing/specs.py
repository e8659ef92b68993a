"""--input / --output values (and [process] inputs / outputs): NAME=PATH|s3://...[,OPTION=VALUE...]."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from smctl.contract import processing as contract
from smctl.contract.location import as_location
from smctl.errors import UsageError
from smctl.processing.plan import ProcessingInput, ProcessingOutput

INPUT_OPTIONS = {"local_path": "local_path", "mode": "input_mode", "distribution": "distribution",
                 "compression": "compression"}
OUTPUT_OPTIONS = {"local_path": "local_path", "upload": "upload_mode"}


def _split(flag: str, item: str, known: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    name, sep, rest = item.partition("=")
    if not sep or not name or not rest:
        raise UsageError(f"{flag} {item!r} is not NAME=PATH", f"write it as {flag} data=path/to/folder "
                         f"(options after commas: {', '.join(known)})")
    source, *options = rest.split(",")
    values: dict[str, str] = {}
    for opt in options:
        key, eq, value = opt.partition("=")
        if not eq or key not in known:
            raise UsageError(f"{flag} {name}: option {opt!r} is not known", f"options are: {', '.join(known)}")
        values[known[key]] = value
    return name, source, values


def _parse(flag: str, item: str, known: dict[str, str]) -> tuple[str, str, PurePosixPath, dict[str, str]]:
    """(name, PATH or s3:// URI, LocalPath, the other options by field name)."""
    name, where, opts = _split(flag, item, known)
    text = opts.pop("local_path", None)
    if text is None:
        return name, where, (contract.default_input_path(name) if flag == "--input" else
                             contract.default_output_path(name)), opts
    if not text.startswith("/"):
        raise UsageError(f"{flag} {name}: local_path {text!r} is not an absolute container path",
                         f"write it as local_path={contract.PROCESSING}/...")
    return name, where, PurePosixPath(text), opts


def parse_input(item: str, base_dir: Path) -> ProcessingInput:
    """Raises: UsageError naming the input and the fix (the rules themselves: contract.validate_io)."""
    name, source, path, opts = _parse("--input", item, INPUT_OPTIONS)
    return ProcessingInput(contract.InputConfig(name, path, **opts), as_location(source, base_dir))


def parse_output(item: str, base_dir: Path) -> ProcessingOutput:
    """Raises: UsageError naming the output and the fix."""
    name, dest, path, opts = _parse("--output", item, OUTPUT_OPTIONS)
    return ProcessingOutput(contract.OutputConfig(name, path, **opts), as_location(dest, base_dir))
