"""`smctl check --bind-to-port IMAGE`: what a container of a multi-container endpoint or inference pipeline keeps
(SageMaker DG inference-pipeline-real-time, multi-container-direct): the accept-bind-to-port label, and `serve`
listening on SAGEMAKER_BIND_TO_PORT, not on 8080 (which another container of the endpoint holds)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from smctl.doctor import image_judges as j
from smctl.doctor.image_probes import ImageFacts
from smctl.doctor.model import CheckResult, Report, fail, ok
from smctl.serving.pipeline import BIND_TO_PORT_LABEL, port_environment

PROBE_INDEX = 1  # the image is checked as the second container of a pipeline: a port other than 8080
FIX = ("listen on int(os.environ.get('SAGEMAKER_BIND_TO_PORT', 8080)) (extra ports from SAGEMAKER_SAFE_PORT_RANGE), "
       "rebuild (smctl build) and check again")


@dataclass(frozen=True)
class BoundRun:
    bind_port: int
    start_error: str | None = None
    bound_status: int | None = None  # /ping on SAGEMAKER_BIND_TO_PORT, when the window closed
    default_status: int | None = None  # /ping on 8080 afterwards: nothing should answer there
    logs_tail: tuple[str, ...] = ()


def run_bind_port_checks(client: Any, image: str, on_event: Callable[[str], None] = lambda m: None, *,
                         startup_timeout: float = 240.0, labels: Mapping[str, str] | None = None) -> Report:
    """The static image rules, the label, and one `serve` run with the multi-container variables, rule by rule.

    Raises: ImageNotFoundError (Hint: smctl build).
    """
    from smctl.doctor.image_checks import _local_image
    from smctl.doctor.image_probes import image_facts

    img = image_facts(_local_image(client, image), image)
    results = [j.judge_platform(img), j.judge_manifest(img), j.judge_entrypoint(img), judge_label(img)]
    run = run_bound(client, image, startup_timeout=startup_timeout, labels=labels or {}, on_event=on_event)
    results += judge_bound(run)
    return Report(tuple(results), {"image": image, "image_id": img.id, "bind_to_port": run.bind_port})


def judge_label(img: ImageFacts) -> CheckResult:
    value = img.labels.get(BIND_TO_PORT_LABEL)
    if str(value).strip().lower() == "true":
        return ok("bindport.label", "bind-to-port label", f"{BIND_TO_PORT_LABEL}=true", label=value)
    return fail("bindport.label", "bind-to-port label",
                f"{BIND_TO_PORT_LABEL} is {value!r}: CreateModel refuses the image in a multi-container endpoint",
                f"add `LABEL {BIND_TO_PORT_LABEL}=true` to the Dockerfile", label=value)


def run_bound(client: Any, image: str, *, startup_timeout: float, labels: Mapping[str, str],
              on_event: Callable[[str], None]) -> BoundRun:
    """`serve` with SAGEMAKER_BIND_TO_PORT and SAGEMAKER_SAFE_PORT_RANGE as the second container of a pipeline
    gets them; both that port and 8080 published, to see which one answers."""
    from smctl.contract.serving import CONTAINER_PORT, PING_TIMEOUT
    from smctl.doctor.image_runs import _tail
    from smctl.engine.container import ContainerState
    from smctl.engine.containers import ContainerSpec, run_container
    from smctl.engine.labels import LABEL_KIND
    from smctl.errors import SmctlError
    from smctl.serving.readiness import ping_once

    env = port_environment(PROBE_INDEX)
    bind = int(env["SAGEMAKER_BIND_TO_PORT"])
    spec = ContainerSpec(image=image, name=f"smctl-check-bind-{uuid.uuid4().hex[:10]}", command=["serve"],
                         environment=env, labels={LABEL_KIND: "check", **labels},
                         ports={f"{bind}/tcp": ("127.0.0.1", None), f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)})
    on_event(f"running `{image} serve` with SAGEMAKER_BIND_TO_PORT={bind}, SAGEMAKER_SAFE_PORT_RANGE="
             f"{env['SAGEMAKER_SAFE_PORT_RANGE']} (startup window {startup_timeout:g} s)")
    try:
        with run_container(client, spec, stop_grace=5) as container:
            bound, default = container.published_address(bind), container.published_address(CONTAINER_PORT)
            if bound is None or default is None:
                return BoundRun(bind, start_error="the container exited before its ports were published",
                                logs_tail=_tail(container))
            started, status = time.monotonic(), None
            while time.monotonic() - started < startup_timeout:
                if container.state() not in (ContainerState.RUNNING, ContainerState.CREATED):
                    return BoundRun(bind, start_error="the container exited while starting", logs_tail=_tail(container))
                status = ping_once(*bound, PING_TIMEOUT)[0]
                if status == 200 or ping_once(*default, PING_TIMEOUT)[0] == 200:
                    break  # up: on the port it was given, or (no need to wait longer) on 8080 instead
                time.sleep(0.5)
            return BoundRun(bind, bound_status=status, default_status=ping_once(*default, PING_TIMEOUT)[0],
                            logs_tail=_tail(container))
    except SmctlError as err:
        return BoundRun(bind, start_error=err.engine_message or err.message)


def judge_bound(run: BoundRun) -> list[CheckResult]:
    tail = {"logs_tail": list(run.logs_tail)} if run.logs_tail else {}
    if run.start_error is not None:
        return [fail("bindport.serve", "serve on SAGEMAKER_BIND_TO_PORT", run.start_error, FIX, **tail)]
    results = []
    if run.bound_status == 200:
        results.append(ok("bindport.serve", "serve on SAGEMAKER_BIND_TO_PORT",
                          f"/ping answers 200 on {run.bind_port}"))
    else:
        results.append(fail("bindport.serve", "serve on SAGEMAKER_BIND_TO_PORT",
                            f"/ping on SAGEMAKER_BIND_TO_PORT={run.bind_port} answered {run.bound_status}, not 200: "
                            "in a pipeline SageMaker reaches the container there only", FIX, **tail))
    if run.default_status is None:
        results.append(ok("bindport.default", "8080 left free", "nothing answers on 8080"))
    else:
        results.append(fail("bindport.default", "8080 left free",
                            f"/ping also answers on 8080 ({run.default_status}): another container of the endpoint "
                            "holds 8080, so this one fails to bind or answers for it", FIX))
    return results
