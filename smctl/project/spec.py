"""smctl.toml -> a frozen, validated ProjectSpec; relative paths resolved against the file's folder."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from smctl.contract import layout
from smctl.contract.hyperparameters import encode_hyperparameters
from smctl.contract.transform import MAX_CONCURRENT_X_PAYLOAD
from smctl.errors import ConfigError, UsageError
from smctl.project import checks, schema
from smctl.project.schema import Bad, Ctx, Problem
from smctl.project.sections import (
    AwsSection,
    BuildSection,
    ChannelSpec,
    ProcessSection,
    ProjectSection,
    ProjectSpec,
    ServeSection,
    TrainSection,
    TransformSection,
)

CONFIG_NAME = "smctl.toml"
T = TypeVar("T")


def override(value: T | None, default: T) -> T:
    """A command-line flag's value when given (not None), else the file's."""
    return default if value is None else value


def find_config(start: Path | None = None, explicit: Path | None = None) -> Path | None:
    """The explicit file (or FOLDER/smctl.toml), else the nearest smctl.toml in start and its parents, stopping
    at the repository root (a folder holding .git); None when there is none.

    Raises:
        ConfigError: the explicit path does not exist.
    """
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        if explicit.is_dir() and (explicit / CONFIG_NAME).is_file():
            return (explicit / CONFIG_NAME).resolve()
        if explicit.is_file():
            return explicit.resolve()
        raise ConfigError(f"config file {explicit} does not exist",
                          "check the path given to --config, or leave --config out to use ./smctl.toml")
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
        if (candidate / ".git").exists():
            return None
    return None


def load_project(explicit: Path | None = None, start: Path | None = None) -> ProjectSpec:
    """find_config + load_spec: the project's spec, or the all-defaults spec when there is no smctl.toml.

    Raises:
        ConfigError: the explicit file is missing, or the file found is unreadable or invalid.
    """
    return load_spec(find_config(start, explicit))


def load_spec(path: Path | None) -> ProjectSpec:
    """Parse and validate one smctl.toml (None: every default, paths relative to the current folder).

    Raises:
        ConfigError: the file is unreadable, is not TOML, or breaks the schema (every problem is listed).
    """
    if path is None:
        return _build({}, None)
    source = Path(path).expanduser().resolve()
    return _build(_read_toml(source), source)


def _read_toml(source: Path) -> dict[str, Any]:
    from smctl.compat import tomllib

    try:
        with source.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {source} does not exist",
                          "check the path given to --config, or leave --config out to use ./smctl.toml") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read: {exc.strerror or exc}",
                          "check the file's permissions, or pass another file with --config PATH") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: is not UTF-8 text (byte {exc.start})",
                          "save smctl.toml as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        reason = re.sub(r"\s*\(at .*\)$", "", str(exc))
        if where:
            line, col = int(where[1]), int(where[2])
            raise ConfigError(f"{source}: invalid TOML at line {line}, column {col}: {reason}",
                              f"fix line {line} of {source.name} (TOML syntax: https://toml.io)",
                              details={"file": str(source), "line": line, "column": col}) from None
        raise ConfigError(f"{source}: invalid TOML: {exc}", f"fix the syntax of {source.name} (https://toml.io)",
                          details={"file": str(source)}) from None


def _build(data: Mapping[str, Any], source: Path | None) -> ProjectSpec:
    root = source.parent if source else None
    ctx = Ctx(root or Path.cwd())
    problems: list[Problem] = []
    tables = _sections(data, problems)
    v = {name: schema.read_table(tables[name], fields, name, ctx, problems)
         for name, fields in schema.SECTIONS.items()}
    p, b, a, t, s, x, pr = (v[k] for k in ("project", "build", "aws", "train", "serve", "transform", "process"))

    # derived defaults: each names the key it comes from in the README
    p["name"] = p["name"] or checks.sanitise_name(ctx.base.name)
    p["image"] = p["image"] or p["name"]
    if b["serve_dockerfile"] and not b["serve_image"]:
        b["serve_image"] = f"{p['image']}-serve"
    if a["ecr_repository"] is None:
        a["ecr_repository"] = p["image"]
        try:
            schema.ecr_repository(p["image"], ctx)
        except Bad as bad:
            problems.append(Problem("aws.ecr_repository",
                                    f"aws.ecr_repository (default: project.image {p['image']!r}) must be "
                                    f"{bad.expected}", "set [aws] ecr_repository to a valid ECR name"))
    t["image"] = t["image"] or f"{p['image']}:{p['tag']}"
    pr["image"] = pr["image"] or t["image"]
    s["image"] = s["image"] or f"{b['serve_image'] or p['image']}:{p['tag']}"
    s["name"] = s["name"] or checks.endpoint_name(p["name"])
    x["image"] = x["image"] or s["image"]
    x["model"] = x["model"] if x["model"] is not None else s["model"]
    t["channels"] = _channels(t["channels"], t["input_mode"], ctx, problems)
    _cross_checks(t, x, problems)

    if problems:
        raise _config_error(source, problems)
    return ProjectSpec(
        root=root, source=source,
        project=ProjectSection(**p), aws=AwsSection(**a), build=BuildSection(**b),
        train=TrainSection(**t), serve=ServeSection(**s), transform=TransformSection(**x),
        process=ProcessSection(**pr),
    )


def _sections(data: Mapping[str, Any], problems: list[Problem]) -> dict[str, Mapping[str, Any]]:
    tables: dict[str, Mapping[str, Any]] = {name: {} for name in schema.SECTIONS}
    for key, value in data.items():
        if key in schema.SECTIONS and isinstance(value, dict):
            tables[key] = value
        elif key in schema.SECTIONS:
            problems.append(Problem(key, f"[{key}] must be a table, got {checks.show(value)}",
                                    f"write it as a [{key}] section with key = value lines under it"))
        elif isinstance(value, dict):
            hint = checks.did_you_mean(key, schema.SECTIONS, "[{}]") or \
                f"sections are: {', '.join(f'[{s}]' for s in schema.SECTIONS)}"
            problems.append(Problem(key, f"section [{key}] is not known", hint))
        else:
            homes = [name for name, fields in schema.SECTIONS.items() if key in {f.name for f in fields}]
            hint = f"put it under [{homes[0]}]" if homes else \
                f"keys go in sections: {', '.join(f'[{s}]' for s in schema.SECTIONS)}"
            problems.append(Problem(key, f"top-level key {key!r} is not known", hint))
    return tables


def _channels(raw: Any, default_mode: str, ctx: Ctx, problems: list[Problem]) -> tuple[ChannelSpec, ...]:
    """[train.channels.NAME] tables, or the short form NAME = "path" under [train.channels]."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.append(Problem("train.channels", f"train.channels must be a table, got {checks.show(raw)}",
                                'write [train.channels] then lines like training = "data/train"'))
        return ()
    if len(raw) > layout.MAX_CHANNELS:
        problems.append(Problem("train.channels", f"train.channels has {len(raw)} channels; SageMaker accepts "
                                f"at most {layout.MAX_CHANNELS}", "merge channels, or drop the ones not used"))
    channels = [_channel(name, value, default_mode, ctx, f"train.channels.{checks.toml_key(name)}", problems)
                for name, value in raw.items()]
    return tuple(ch for ch in channels if ch is not None)


def channel_from_flag(name: str, table: Mapping[str, Any], default_mode: str) -> ChannelSpec:
    """A --channel flag's channel through the same keys and checks as [train.channels.NAME] (paths from the cwd).

    Raises:
        UsageError: the first problem, naming the flag, the key and the fix.
    """
    problems: list[Problem] = []
    channel = _channel(name, dict(table), default_mode, Ctx(Path.cwd()), f"--channel {name}", problems)
    if problems or channel is None:
        raise UsageError(problems[0].message, problems[0].hint)
    return channel


def _channel(name: str, value: Any, default_mode: str, ctx: Ctx, label: str,
             problems: list[Problem]) -> ChannelSpec | None:
    """One channel from its path or table; each problem found is added to `problems`."""
    if not layout.CHANNEL_NAME.fullmatch(name):
        problems.append(Problem(label, f"channel name {name!r} is not valid",
                                "channel names are 1-64 letters, digits, '.', '-' and '_'"))
        return None
    table = {"path": value} if isinstance(value, str) else value
    if not isinstance(table, dict):
        problems.append(Problem(label, f"{label} must be a path or a table, got {checks.show(value)} "
                                f"({type(value).__name__})", f'write {checks.toml_key(name)} = "data/{name}"'))
        return None
    fields = schema.read_table(table, schema.CHANNEL, label, ctx, problems)
    if "path" not in table:
        problems.append(Problem(f"{label}.path", f"[{label}] needs a path",
                                f'add path = "data/{name}" (a local folder or s3://bucket/prefix)'))
    if fields["path"] is None:
        return None
    fields["input_mode"] = fields["input_mode"] or default_mode
    channel = ChannelSpec(name=name, **fields)
    try:  # the rules across keys (Gzip needs Pipe) are the domain's: one validator for flags, file and code
        layout.validate_channel(channel.config)
    except UsageError as err:
        problems.append(Problem(label, err.message, err.hint))
    return channel


def _cross_checks(t: dict[str, Any], x: dict[str, Any], problems: list[Problem]) -> None:
    for key, value in t["hyperparameters"].items():
        try:
            encode_hyperparameters({key: value}, t["hyperparameter_encoding"])
        except UsageError as err:
            problems.append(Problem(f"train.hyperparameters.{key}",
                                    f"train.hyperparameters.{checks.toml_key(key)}: {err.message}", err.hint))
    concurrent, payload = x["max_concurrent"], x["max_payload_mb"]
    if concurrent and payload and concurrent * payload > MAX_CONCURRENT_X_PAYLOAD:
        problems.append(Problem("transform.max_concurrent",
                                f"transform.max_concurrent * transform.max_payload_mb must be <= "
                                f"{MAX_CONCURRENT_X_PAYLOAD}, got {concurrent} * {payload} = {concurrent * payload}",
                                "lower one of them (SageMaker rejects the job otherwise)"))


def _config_error(source: Path | None, problems: list[Problem]) -> ConfigError:
    where = str(source) if source else CONFIG_NAME
    details = {"file": where, "problems": [dataclasses.asdict(p) for p in problems]}
    if len(problems) == 1:
        return ConfigError(f"{where}: {problems[0].message}", problems[0].hint, details=details)
    lines = "\n".join(f"  - {p.message}" + (f"; {p.hint}" if p.hint else "") for p in problems)
    return ConfigError(f"{where}: {len(problems)} problems:\n{lines}", f"fix each key listed above in {where}",
                       details=details)
