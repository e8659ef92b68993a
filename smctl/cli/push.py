"""`smctl push`: the local image to its ECR repository, checked to be one linux/amd64 image manifest."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smctl.cli.output import OnEvent, Output, event_printer

HELP = ("Push the image to ECR: create the repository when missing (scan on push), log in with your AWS "
        "credentials in memory only, push, and verify the registry holds one linux/amd64 image manifest. "
        "Prints REGISTRY/REPOSITORY@DIGEST on stdout. The local image keeps its REGISTRY/REPOSITORY:TAG tag, as "
        "`docker push` leaves it.")


def push(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(
        "--image", metavar="IMAGE", help="Local image to push (default: [project] image:tag).")] = None,
    repository: Annotated[str | None, typer.Option(
        "--repository", metavar="NAME",
        help="ECR repository name (default: [aws] ecr_repository, else the image's name).")] = None,
    tag: Annotated[str | None, typer.Option(
        "--tag", metavar="TAG", help="Tag to push (default: the local image's tag).")] = None,
    region: Annotated[str | None, typer.Option("--region", metavar="REGION", help="AWS region (default: [aws] region, "
                                                                  "AWS_REGION, your profile's).")] = None,
    profile: Annotated[str | None, typer.Option("--profile", metavar="NAME", help="AWS profile.")] = None,
    registry: Annotated[str | None, typer.Option(
        "--registry", metavar="HOST", help="Push to HOST[:PORT]: any registry. The ECR repository and token are "
        "still used when AWS is set up (a local mirror of ECR), unless --no-ecr; without AWS, your docker login "
        "is used.")] = None,
    no_ecr: Annotated[bool, typer.Option(
        "--no-ecr", help="With --registry: never call ECR, even when AWS credentials are set up.")] = False,
    immutable_tags: Annotated[bool, typer.Option(
        "--immutable-tags", help="Create the repository with IMMUTABLE tags.")] = False,
    login_config: Annotated[bool, typer.Option(
        "--login-config", help="Also store the registry login in ~/.docker/config.json (off: memory only).")] = False,
) -> None:
    from smctl.aws.ecr import parse_image_uri
    from smctl.engine.images import split_reference
    from smctl.image import push as publishing
    from smctl.project.spec import load_project

    out: Output = ctx.obj.out
    spec = load_project(ctx.obj.config)
    local = image or f"{spec.project.image}:{spec.project.tag}"
    if repository is None:
        repository = spec.aws.ecr_repository if spec.source else parse_image_uri(local).repository
    request = publishing.PushRequest(
        image=local, repository=repository, tag=tag or split_reference(local)[1],
        region=region or spec.aws.region, profile=profile or spec.aws.profile,
        registry=registry or spec.aws.registry, immutable_tags=immutable_tags, login_config=login_config,
        no_ecr=no_ecr,
    )
    result = publishing.push_image(request, _event_printer(out))
    out.info(f"pushed {result.image_uri} ({result.layers_text}; {result.media_type}, {result.platform}) "
             f"in {result.seconds:.1f} s")
    if result.login_config:
        out.info(f"login for {result.registry} stored in {result.login_config}")
    out.result(result.as_dict(), lambda c: c.print(result.digest_uri, markup=False))


def _event_printer(out: Output) -> OnEvent:
    def layer(data: dict[str, Any]) -> None:
        if data["changed"] and data["status"] in ("Pushing", "Pushed", "Layer already exists"):
            out.info(f"  {data['id']}: {data['status'].lower()}")
        else:
            out.debug(f"  {data['id']}: {data['status']}")

    def repository(data: dict[str, Any]) -> None:
        out.info(f"ECR repository {data['name']}: {'created (scan on push)' if data['created'] else 'exists'}")

    return event_printer(out, layer=layer, repository=repository, pushing=lambda d: out.info(f"pushing {d['image']}"))


def register(app: typer.Typer) -> None:
    app.command("push", help=HELP)(push)
