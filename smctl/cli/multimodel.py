"""The CLI side of multi-model endpoints: local-serve --multi-model's checks, invoke --target-model, and the loaded
models `smctl endpoints` shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smctl.cli.output import Output

if TYPE_CHECKING:
    from smctl.serving.endpoint import ServeConfig
    from smctl.serving.invoke import Payload
    from smctl.serving.registry import Endpoint


def check_serve(client: Any, config: ServeConfig, model_flag: str | None) -> None:
    """Before anything starts: no --model beside --multi-model, and the image's capability label.

    Raises: UsageError naming the conflict or the missing label.
    """
    from smctl.engine.images import inspect_image
    from smctl.errors import UsageError
    from smctl.serving.multimodel import check_image_label, check_source, prepare_host
    from smctl.serving.registry import check_name

    if model_flag is not None:
        raise UsageError("--model and --multi-model were both given",
                         "a multi-model endpoint loads each model from its --multi-model prefix on demand: "
                         "drop --model")
    check_source(config.multi_model or "")
    check_image_label(inspect_image(client, config.image).labels, config.image)
    check_name(config.name)
    prepare_host(config.project_root / ".smctl" / "endpoints" / config.name)


def check_target_flag(target_model: str) -> None:
    """Raises: TargetModelError for a bad path, before any lookup or fetch (local endpoint or SageMaker's)."""
    from smctl.serving.multimodel import check_target

    check_target(target_model)


def invoke_target(out: Output, name: str | None, target_model: str, payload: Payload, *, accept: str | None,
                  custom_attributes: str | None, timeout: float) -> None:
    """`smctl invoke NAME --target-model PATH`: load if needed, invoke, render as a plain invoke does.

    Raises: UsageError (not a multi-model endpoint, or a URL), TargetModelError, ModelDataNotFoundError,
    ModelNotReadyError, MultiModelContractError, ModelError.
    """
    from smctl.engine.containers import docker_client
    from smctl.errors import TargetModelError
    from smctl.serving import invoke as core
    from smctl.serving.multimodel import MultiModelEndpoint, check_target, invoke_target
    from smctl.serving.registry import get_endpoint

    check_target(target_model)  # refused before anything is looked up or fetched
    if name is None:
        raise TargetModelError("--target-model needs the endpoint's name, not a URL",
                               f"smctl invoke NAME --target-model {target_model} --data ...")
    core.check_payload(len(payload.body), core.MAX_PAYLOAD)
    core.check_custom_attributes(custom_attributes)
    mme = MultiModelEndpoint.from_endpoint(get_endpoint(docker_client(), name))
    if mme is None:
        raise TargetModelError(f"endpoint {name} is not a multi-model endpoint and does not support target model "
                               "header (SageMaker's ValidationError)",
                               f"drop --target-model, or start it with: smctl local-serve --name {name} "
                               "--multi-model s3://bucket/prefix/")
    headers = {"Content-Type": payload.content_type}
    if accept:
        headers["Accept"] = accept
    if custom_attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = custom_attributes
    on_event = _events(out)
    import time

    started = time.monotonic()
    result = invoke_target(mme, target_model, payload.body, headers, timeout=timeout, on_event=on_event)
    seconds = time.monotonic() - started
    url = f"http://{mme.host}:{mme.port}/models/{result.model_name}/invoke"
    answer = core.InvokeResult(url, result.status, result.body, result.headers.get("content-type"),
                               result.headers.get("x-amzn-sagemaker-custom-attributes"), seconds)
    if result.status >= 400:
        raise core.model_error(answer, f"endpoint {name} (target model {target_model})", name, payload)
    how = "loaded now" + (f", unloaded {', '.join(result.evicted)}" if result.evicted else "") if result.loaded \
        else "already loaded"
    out.info(f"HTTP {answer.status} in {seconds * 1000:.0f} ms, {len(answer.body):,} bytes, target model "
             f"{target_model} ({how})")
    out.data_bytes(answer.body)
    out.result({"endpoint": name, "target_model": target_model, "model_name": result.model_name,
                "loaded_now": result.loaded, "evicted": result.evicted, "content_type_sent": payload.content_type,
                **answer.as_dict()})


def refuse_without_target(name: str | None) -> None:
    """Raises: TargetModelError when `name` is a multi-model endpoint (invoked without --target-model)."""
    from smctl.engine.containers import docker_client
    from smctl.errors import TargetModelError
    from smctl.serving.multimodel import MultiModelEndpoint
    from smctl.serving.registry import find_endpoint

    endpoint = find_endpoint(docker_client(), name) if name else None
    mme = MultiModelEndpoint.from_endpoint(endpoint) if endpoint is not None else None
    if mme is not None:
        raise TargetModelError(f"endpoint {name} is a multi-model endpoint: the request is missing a target model "
                               "header (SageMaker's ValidationError)",
                               f"name the model archive under {mme.source}: smctl invoke {name} --target-model "
                               "m1.tar.gz --data ...")


def _events(out: Output) -> Any:
    def on_event(kind: str, data: dict[str, Any]) -> None:
        out.info(data["message"]) if kind == "evict" else out.debug(data["message"])

    return on_event


def add_loaded_models(found: list[Endpoint], rows: list[dict[str, Any]]) -> list[str]:
    """Put `loaded_models` in the rows of multi-model endpoints; one line per such endpoint for the table."""
    from smctl.errors import SmctlError
    from smctl.serving.multimodel import MultiModelEndpoint, loaded_models

    notes = []
    for endpoint, row in zip(found, rows, strict=True):
        mme = MultiModelEndpoint.from_endpoint(endpoint) if row.get("status") == "InService" else None
        if mme is None:
            continue
        row["model"] = row["multi_model"] = mme.source
        try:
            row["loaded_models"] = loaded_models(mme, timeout=1.0)
        except SmctlError as exc:
            row["loaded_models"] = None
            notes.append(f"{endpoint.name}: loaded models unknown: {exc.message}")
            continue
        names = ", ".join(m["target"] or m["name"] for m in row["loaded_models"]) or "none yet"
        notes.append(f"{endpoint.name}: multi-model, loaded: {names}")
    return notes


def check_image(out: Output, image: str, *, startup_timeout: float) -> None:
    """`smctl check --multi-model IMAGE`; Raises: ChecksFailedError (exit 6) when a rule fails."""
    from smctl.cli.doctor import finish
    from smctl.doctor.image_multimodel import run_multi_model_checks
    from smctl.engine.client import engine

    if startup_timeout <= 0:
        from smctl.errors import UsageError

        raise UsageError(f"--startup-timeout must be positive, got {startup_timeout:g}", "for example "
                         "--startup-timeout 60")
    client = engine(timeout=120)
    try:
        report = run_multi_model_checks(client, image, out.info, startup_timeout=startup_timeout)
    finally:
        client.close()
    finish(out, report, f"fix what the table says, rebuild (smctl build), then rerun `smctl check --multi-model "
           f"{image}`", pass_word="pass")
