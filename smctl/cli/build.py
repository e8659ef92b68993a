"""`smctl build`: the project's image, linux/amd64, one plain image manifest (what SageMaker accepts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from smctl.cli.options import parse_pairs
from smctl.cli.output import OnEvent, Output, event_printer
from smctl.units import human_size

HELP = ("Build the image for SageMaker: linux/amd64 through the engine's classic builder (one image manifest, "
        "no attestation index), labelled with the project, smctl's version and the git commit.")
CA_HELP = ("PEM CA of a TLS-intercepting proxy (env SMCTL_CA_CERT). It is added to the build context as "
           "smctl-ca.crt (your folder is not touched). Generated Dockerfiles use it in their deps stage only; a "
           "hand-written one must copy it in a build stage, e.g. `COPY requirements.txt smctl-ca.crt* /tmp/build/`, "
           "and never into the final stage.")


def build(
    ctx: typer.Context,
    context: Annotated[Path | None, typer.Argument(
        metavar="CONTEXT", help="Build context (default: [build] context in smctl.toml, else '.').")] = None,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", "-t", metavar="NAME[:TAG]", help="NAME[:TAG], repeatable (default: [project] image:tag).")] = None,
    platform: Annotated[str | None, typer.Option(
        "--platform", metavar="OS/ARCH", help="Target platform; SageMaker runs linux/amd64 only (the default).")
    ] = None,
    build_arg: Annotated[list[str] | None, typer.Option(
        "--build-arg", metavar="KEY=VALUE", help="Value for an ARG, repeatable (on top of [build] build_args).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every step.")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Pull newer versions of the FROM images.")] = False,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="PATH", help="Dockerfile (default: CONTEXT/Dockerfile, else [build] dockerfile).")
    ] = None,
    ca_cert: Annotated[Path | None, typer.Option(
        "--ca-cert", envvar="SMCTL_CA_CERT", metavar="PATH", help=CA_HELP)] = None,
    label: Annotated[list[str] | None, typer.Option("--label", metavar="KEY=VALUE",
                                                                       help="Extra image label, repeatable.")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", metavar="NAME",
        help="AWS profile for logging in to ECR base images (AWS Deep Learning Containers).")] = None,
) -> None:
    from smctl.image import build as imaging
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    section = spec.build.with_overrides(context=context, platform=platform)
    if file is not None:
        dockerfile = file.expanduser().resolve()
    elif context is not None and (section.context / "Dockerfile").is_file():
        dockerfile = section.context / "Dockerfile"  # docker's rule: CONTEXT/Dockerfile
    else:
        dockerfile = section.dockerfile
    build_args = {**section.build_args, **parse_pairs(build_arg or [], "--build-arg")}
    request = imaging.BuildRequest(
        context=section.context, dockerfile=dockerfile,
        tags=tuple(tag or [f"{spec.project.image}:{spec.project.tag}"]), project=spec.project.name,
        platform=section.platform, build_args=build_args, labels=parse_pairs(label or [], "--label"),
        no_cache=no_cache, pull=pull, ca_cert=ca_cert.expanduser() if ca_cert else None,
        aws_profile=profile or spec.aws.profile,
    )
    result = imaging.build_image(request, _event_printer(out))
    payload = result.as_dict()
    out.result(payload, lambda c: _render(c, payload))


def _event_printer(out: Output) -> OnEvent:
    return event_printer(
        out, step=lambda d: out.info(f"Step {d['number']}/{d['total']} : {d['instruction']}"),
        cached=lambda d: out.info(" ---> Using cache"),
        login=lambda d: out.info(f"logging in to {d['registry']} (ECR) for the base image {d['image']}"),
        context=lambda d: out.info(f"sending build context {d['context']} ({human_size(d['bytes'])})"),
        output=lambda d: out.debug(d["line"]), status=lambda d: out.debug(d["message"]))


def _render(console: Any, r: dict[str, Any]) -> None:
    console.print(f"{r['tags'][0]}  {r['image_id']}", markup=False)
    for extra in r["tags"][1:]:
        console.print(f"  also tagged {extra}", markup=False)
    console.print(f"  {r['platform']}, {human_size(r['size'])}, {r['steps']} steps ({r['cache_hits']} from cache), "
                  f"{r['seconds']:.1f} s", markup=False)


def register(app: typer.Typer) -> None:
    app.command("build", help=HELP)(build)
