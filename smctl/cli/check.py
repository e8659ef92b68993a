"""`smctl check IMAGE`: run the image as SageMaker does and report each rule of the contract as pass or fail."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smctl.cli.doctor import finish
from smctl.cli.options import NoCredentialsOption, RoleOption, credentials_request
from smctl.cli.output import Output


def check(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(metavar="IMAGE",
        help="The image to check (name:tag or id), already in the local engine.")],
    model: Annotated[Path | None, typer.Option(
        "--model", metavar="PATH", help="Model folder or model.tar.gz mounted at /opt/ml/model for `serve`.")] = None,
    sample: Annotated[list[str] | None, typer.Option(
        "--sample", metavar="NAME=DIR",
        help="A tiny training set for channel NAME (repeatable; a bare DIR is channel `training`): `train` runs "
        "on them exactly as local-train does and must write the model.")
    ] = None,
    startup_timeout: Annotated[float, typer.Option(
        "--startup-timeout", metavar="SECONDS",
        help="Seconds `serve` has to answer /ping with 200 (SageMaker: 240).")] = 240.0,
    stop_timeout: Annotated[float, typer.Option(
        "--stop-timeout", metavar="SECONDS", help="Seconds `serve` has to exit after SIGTERM (SageMaker: 30).")] = 30.0,
    train_timeout: Annotated[float, typer.Option(
        "--train-timeout", metavar="SECONDS", help="Seconds `train` may take on the --sample.")] = 600.0,
    train_only: Annotated[bool, typer.Option(
        "--train-only", help="The image only trains: check `train`, skip the `serve` rules.")] = False,
    serve_only: Annotated[bool, typer.Option(
        "--serve-only", help="The image only serves: check `serve`, skip the `train` rules.")] = False,
    role: RoleOption = None,
    no_credentials: NoCredentialsOption = False,
    multi_model: Annotated[bool, typer.Option(
        "--multi-model", help="Check a multi-model image instead: its label and the /models API (load, 409, 404, "
        "invoke, paged list, unload, 507); `train` and single-model `serve` are not run.")] = False,
    bind_to_port: Annotated[bool, typer.Option(
        "--bind-to-port", help="Check an image for multi-container endpoints and inference pipelines instead: its "
        "label and `serve` on SAGEMAKER_BIND_TO_PORT, not 8080.")] = False,
) -> None:
    """Check IMAGE against SageMaker's container contract (train, serve, signals, platform); exit 6 on a failure."""
    from smctl.doctor.image_checks import CheckOptions, parse_samples, run_image_checks, validate
    from smctl.engine.client import engine
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    if multi_model and bind_to_port:
        from smctl.errors import UsageError

        raise UsageError("--multi-model and --bind-to-port were both given: they are two kinds of endpoint",
                         f"check one at a time: smctl check --multi-model {image}, then --bind-to-port")
    if bind_to_port:
        return _check_bind_to_port(out, image, startup_timeout)
    if multi_model:
        from smctl.cli.multimodel import check_image

        return check_image(out, image, startup_timeout=startup_timeout)
    opts = CheckOptions(image=image, model=model, samples=parse_samples(sample or []),
                        startup_timeout=startup_timeout, stop_grace=stop_timeout, train_timeout=train_timeout,
                        train=not serve_only, serve=not train_only,
                        credentials=credentials_request(load_project(ctx.obj.config), role, no_credentials,
                                                        name="smctl-check"))
    validate(opts)
    client = engine(timeout=120)
    try:
        report = run_image_checks(client, opts, out.info)
    finally:
        client.close()
    finish(out, report, f"fix what the table says, rebuild (smctl build), then rerun `smctl check {image}`",
           pass_word="pass")


def _check_bind_to_port(out: Output, image: str, startup_timeout: float) -> None:
    """`smctl check --bind-to-port IMAGE`; Raises: ChecksFailedError (exit 6) when a rule fails."""
    from smctl.doctor.image_bind_port import run_bind_port_checks
    from smctl.engine.client import engine
    from smctl.errors import UsageError

    if startup_timeout <= 0:
        raise UsageError(f"--startup-timeout must be positive, got {startup_timeout:g}", "for example "
                         "--startup-timeout 60")
    client = engine(timeout=120)
    try:
        report = run_bind_port_checks(client, image, out.info, startup_timeout=startup_timeout)
    finally:
        client.close()
    finish(out, report, f"fix what the table says, rebuild (smctl build), then rerun `smctl check --bind-to-port "
           f"{image}`", pass_word="pass")


def register(app: typer.Typer) -> None:
    app.command("check")(check)
