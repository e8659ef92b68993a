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


def _local_path(flag: str, name: str, text: str) -> PurePosixPath:
    path = PurePosixPath(text)
    if not text.startswith("/"):
        raise UsageError(f"{flag} {name}: local_path {text!r} is not an absolute container path",
                         f"write it as local_path={contract.PROCESSING}/...")
    return path


def parse_input(item: str, base_dir: Path) -> ProcessingInput:
    """Raises: UsageError naming the input and the fix (the rules themselves: contract.validate_io)."""
    name, source, opts = _split("--input", item, INPUT_OPTIONS)
    path = _local_path("--input", name, opts.pop("local_path")) if "local_path" in opts else \
        contract.default_input_path(name)
    config = contract.InputConfig(name, path, **opts)
    return ProcessingInput(config, as_location(source, base_dir))


def parse_output(item: str, base_dir: Path) -> ProcessingOutput:
    """Raises: UsageError naming the output and the fix."""
    name, dest, opts = _split("--output", item, OUTPUT_OPTIONS)
    path = _local_path("--output", name, opts.pop("local_path")) if "local_path" in opts else \
        contract.default_output_path(name)
    config = contract.OutputConfig(name, path, **opts)
    return ProcessingOutput(config, as_location(dest, base_dir))
