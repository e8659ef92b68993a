"""Parsing of the repeatable KEY=VALUE style options that several commands share."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smctl.errors import UsageError

if TYPE_CHECKING:
    from smctl.contract.layout import ChannelConfig
    from smctl.contract.location import Location

CHANNEL_KEYS = {
    "content_type": "content_type",
    "mode": "input_mode",
    "input_mode": "input_mode",
    "distribution": "distribution",
    "record_wrapper": "record_wrapper",
    "compression": "compression",
    "shuffle_seed": "shuffle_seed",
}


def check_range(value: float, flag: str, lo: float | None, hi: float | None, hint: str | None = None) -> None:
    """Raises: UsageError `FLAG must be between LO and HIGH` (or `at least` / `at most`) when `value` is outside."""
    if (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    if lo is not None and hi is not None:
        rule, fix = f"between {lo} and {hi}", f"{flag} {lo}" if value < lo else f"{flag} {hi}"
    elif lo is not None:
        rule, fix = f"at least {lo}", f"{flag} {lo}"
    else:
        rule, fix = f"at most {hi}", f"{flag} {hi}"
    raise UsageError(f"{flag} must be {rule}, got {value}", hint or f"pass a value in range, e.g. {fix}")


def in_range(flag: str, lo: float | None = None, hi: float | None = None, *, toml: str | None = None,
             hint: str | None = None) -> Callable[[Any], Any]:
    """A typer callback that checks a numeric flag: `typer.Option("--retries", callback=in_range("--retries",
    toml="transform.retries"))` gives the flag the range of its smctl.toml key; or pass `lo`/`hi` directly.

    Prefer it to typer's min=/max=: the error reads `--FLAG must be between A and B` with a hint (exit 2), and
    the value keeps the fast conversion path (coercion.py). Put the range in the option's help text.
    """
    if toml is not None:
        from smctl.project.schema import integer_bounds

        section, _, key = toml.partition(".")
        lo, hi = integer_bounds(section, key)
        hint = hint or (f"pass a value from {lo} to {hi} (the same range as {key} in [{section}] of smctl.toml)"
                        if lo is not None and hi is not None else None)

    def callback(value: Any) -> Any:
        if value is not None:
            check_range(value, flag, lo, hi, hint)
        return value

    return callback


def parse_pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    """`KEY=VALUE` items into a dict; Raises: UsageError naming the flag and the bad item."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {item!r} is not KEY=VALUE", f"write it as {flag} name=value")
        out[key.strip()] = value
    return out


def parse_hyperparameters(values: Sequence[str], file: Path | None) -> dict[str, Any]:
    """--hyperparameters FILE.json first, then --hp KEY=VALUE on top (values from --hp stay strings)."""
    hps: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text())
        except FileNotFoundError:
            raise UsageError(f"hyperparameters file {file} does not exist",
                             "pass an existing JSON file: --hyperparameters hyperparameters.json") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"hyperparameters file {file} is not valid JSON: {exc}",
                             f'fix the JSON in {file}, e.g. {{"epochs": 10, "lr": 0.01}}') from None
        if not isinstance(loaded, dict):
            raise UsageError(f"hyperparameters file {file} must hold a JSON object of name -> value",
                             'write one object of name: value, e.g. {"epochs": 10, "lr": 0.01}')
        hps.update(loaded)
    hps.update(parse_pairs(values, "--hp"))
    return hps


def parse_channel(item: str, default_mode: str = "File") -> tuple[ChannelConfig, Location]:
    """`NAME=PATH[,content_type=...,mode=Pipe,...]`: the flag's spelling of a [train.channels.NAME] table, checked
    by the same schema and channel rules as smctl.toml; the source comes back as typed (messages show it so).

    Raises: UsageError naming the channel and the fix.
    """
    from smctl.contract.location import as_location
    from smctl.project.spec import channel_from_flag

    name, sep, rest = item.partition("=")
    if not sep or not name or not rest:
        raise UsageError(f"--channel {item!r} is not NAME=PATH",
                         "write it as --channel training=data/train (options: ,mode=Pipe,content_type=text/csv)")
    source, *options = rest.split(",")
    table: dict[str, Any] = {"path": source}
    for opt in options:
        key, eq, value = opt.partition("=")
        if not eq or key not in CHANNEL_KEYS:
            raise UsageError(f"--channel {name}: option {opt!r} is not known",
                             f"channel options are: {', '.join(sorted(set(CHANNEL_KEYS) - {'input_mode'}))}")
        table[CHANNEL_KEYS[key]] = value
    seed = table.get("shuffle_seed")
    if seed is not None:  # the one option that is not text in smctl.toml
        if not re.fullmatch(r"[0-9]{1,19}", seed):
            raise UsageError(f"--channel {name}: shuffle_seed {seed!r} is not a whole number",
                             f"write it as --channel {name}=PATH,shuffle_seed=42")
        table["shuffle_seed"] = int(seed)
    config = channel_from_flag(name, table, default_mode).config
    return config, as_location(source, Path())  # relative to the cwd, and shown as typed


def require_image(spec: Any, image: str | None, command: str) -> None:
    """Outside a project the default image would be named after the folder: say what is missing instead.

    Raises: UsageError when neither --image nor an smctl.toml names the image.
    """
    if image is None and spec.source is None:
        raise UsageError(f"no --image given and no smctl.toml in {Path.cwd()} or its parents",
                         f"pass --image IMAGE, or run `smctl {command}` inside a project made by `smctl init`")


ROLE_HELP = ("IAM role the containers get credentials of (assumed through STS, as SageMaker's execution role; "
             "default: smctl.toml [aws] role, else your own credentials).")
NO_CREDENTIALS_HELP = "Give the containers no AWS credentials."


RoleOption = Annotated[str | None, typer.Option("--role", metavar="ARN", help=ROLE_HELP)]
NoCredentialsOption = Annotated[bool, typer.Option("--no-credentials", help=NO_CREDENTIALS_HELP)]


def check_role(role: str | None) -> str | None:
    """--role's value through [aws] role's check. Raises: UsageError naming --role and an example ARN."""
    if role is None:
        return None
    from smctl.project.checks import Bad, Ctx, problems_for
    from smctl.project.schema import SECTIONS

    field = next(f for f in SECTIONS["aws"] if f.name == "role")
    try:
        return str(field.check(role, Ctx(Path.cwd())))
    except Bad as bad:
        problem = problems_for("--role", role, bad)[0]
        raise UsageError(problem.message, problem.hint) from None


def credentials_request(spec: Any, role: str | None, no_credentials: bool, *, region: str | None = None,
                        name: str = "smctl") -> Any:
    """The run's CredentialsRequest from --role / --no-credentials and smctl.toml's [aws] (region, profile, role).

    Raises: UsageError: both flags, or --role is not a role ARN.
    """
    from smctl.contract.credentials import CredentialsMode, CredentialsRequest, session_name

    if role is not None and no_credentials:
        raise UsageError("--role and --no-credentials were both given",
                         "keep --role ARN to give the containers that role's credentials, or --no-credentials "
                         "for none")
    aws = spec.aws.with_overrides(role=role)
    if no_credentials:
        return CredentialsRequest(mode=CredentialsMode.NONE)
    mode = CredentialsMode.ROLE if aws.role else CredentialsMode.CALLER
    return CredentialsRequest(mode=mode, role_arn=aws.role, session_name=session_name(name),
                              region=region or aws.region, profile=aws.profile)


def aws_region(spec: Any, region: str | None) -> str | None:
    """--region over smctl.toml's [aws] region, through the same check as the file's key (None: neither set).

    Raises: UsageError naming --region.
    """
    found = spec.aws.with_overrides(region=region).region
    return str(found) if found else None


def cloud_region(spec: Any, region: str | None) -> str:
    """The region a SageMaker call goes to: --region, [aws] region, then the AWS configuration's.

    Raises: UsageError (a malformed --region), AwsError (none anywhere).
    """
    from smctl.aws.session import REGION_HINT, session
    from smctl.errors import AwsError

    found = aws_region(spec, region) or session(None, spec.aws.profile).region_name
    if not found:
        raise AwsError("no AWS region is configured: SageMaker jobs are regional", REGION_HINT)
    return str(found)


def require_role(spec: Any, role: str | None, what: str) -> str:
    """--role over [aws] role (the same check as the file's key). Raises: UsageError when neither names one."""
    found = spec.aws.with_overrides(role=role).role
    if not found:
        raise UsageError(f"a SageMaker {what} needs an execution role",
                         "pass --role arn:aws:iam::ACCOUNT:role/NAME, or set [aws] role in smctl.toml")
    return str(found)


def require_ecr_image(image: str, command: str = "train") -> None:
    """Raises: UsageError unless `image` is an ECR image URI (SageMaker pulls its images from ECR)."""
    from smctl.aws.ecr import ecr_registry_of_image

    if ecr_registry_of_image(image) is None:
        raise UsageError(f"SageMaker cannot pull {image}: its images come from Amazon ECR",
                         f"push it on the way: smctl {command} --push; or push it first (smctl push) and pass its "
                         "URI: --image ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG")


PushOption = Annotated[bool, typer.Option(
    "--push", help="Push the local image to ECR first (as smctl push does) and run the job with it.")]


def cloud_image(out: Any, spec: Any, image: str, *, push: bool, region: str | None, command: str) -> str:
    """The ECR URI SageMaker pulls: `image` itself, or with --push the local image pushed first (to ECR, or to
    [aws] registry when that mirrors it), named by its ECR repository URI.

    Raises: UsageError (not an ECR URI without --push), what smctl push raises (ImageNotFoundError, AwsError...).
    """
    if not push:
        require_ecr_image(image, command)
        return image
    from smctl.aws.ecr import parse_image_uri
    from smctl.cli.output import event_printer
    from smctl.engine.images import split_reference
    from smctl.image import push as publishing

    parsed = parse_image_uri(image)
    repository = parsed.repository if parsed.registry or not spec.source else spec.aws.ecr_repository
    request = publishing.PushRequest(image=image, repository=repository, tag=split_reference(image)[1],
                                     region=region or spec.aws.region, profile=spec.aws.profile,
                                     registry=spec.aws.registry)
    result = publishing.push_image(request, event_printer(out))
    if result.ecr_uri is None:
        raise UsageError(f"--push put {image} in {result.registry}, which is not ECR: SageMaker cannot pull it",
                         "set up AWS credentials and a region for ECR (smctl doctor), or drop [aws] registry")
    out.info(f"pushed {result.image_uri} ({result.layers_text}); the job uses {result.ecr_uri}")
    return result.ecr_uri


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]


def confirm(what: str, command: str) -> None:
    """Ask `what?` on the terminal (no: abort); without a terminal, refuse and name `command --yes`.

    Raises: UsageError (no terminal), typer.Abort (the answer was no).
    """
    import sys

    if not sys.stdin.isatty():
        raise UsageError(f"{command} would {what}, and there is no terminal to ask",
                         f"confirm with --yes: {command} --yes")
    typer.confirm(f"{what}?", abort=True)


def sagemaker_client(ctx: typer.Context, region: str | None) -> tuple[Any, str, Any]:
    """(project spec, region, SageMaker client) for a command that acts on SageMaker by name.

    Raises: ConfigError (smctl.toml), UsageError/AwsError (region).
    """
    from smctl.aws import sagemaker
    from smctl.project.spec import load_project

    spec = load_project(ctx.obj.config)
    where = cloud_region(spec, region)
    return spec, where, sagemaker.client(where, spec.aws.profile)
