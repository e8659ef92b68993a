"""`smctl check --multi-model IMAGE`: the capability label, then `serve` with SAGEMAKER_MULTI_MODEL=true and three
tiny models under /opt/ml/models, each rule of the /models API (SageMaker DG mms-container-apis) probed once and
judged by a pure function."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smctl.doctor import image_judges as j
from smctl.doctor.image_probes import ImageFacts
from smctl.doctor.model import CheckResult, Report, fail, ok, skip

MODELS = ("smctl-check-a", "smctl-check-b", "smctl-check-c")
UNKNOWN = "smctl-check-unknown"
CALL_TIMEOUT = 60.0
MAX_PAGES = 50
FIX = "implement SageMaker's multi-model API (DG: mms-container-apis), rebuild (smctl build) and check again"

Answer = tuple[int | None, str]  # (HTTP status or None, body excerpt or what went wrong)


@dataclass(frozen=True)
class MultiModelRun:
    start_error: str | None = None
    ping_status: int | None = None
    calls: Mapping[str, Answer] = field(default_factory=dict)
    listed: tuple[str, ...] = ()
    pages: int = 0
    list_error: str | None = None
    logs_tail: tuple[str, ...] = ()


def run_multi_model_checks(client: Any, image: str, on_event: Callable[[str], None] = lambda m: None, *,
                           startup_timeout: float = 240.0, labels: Mapping[str, str] | None = None) -> Report:
    """The static image rules, the label, and one multi-model `serve` run judged rule by rule.

    Raises: ImageNotFoundError (Hint: smctl build).
    """
    from smctl.doctor.image_checks import _local_image
    from smctl.doctor.image_probes import image_facts

    img = image_facts(_local_image(client, image), image)
    results = [j.judge_platform(img), j.judge_manifest(img), j.judge_entrypoint(img), judge_label(img)]
    run = run_multi_model(client, image, startup_timeout=startup_timeout, labels=labels or {}, on_event=on_event)
    results += judge_run(run)
    return Report(tuple(results), {"image": image, "image_id": img.id, "multi_model": True})


def judge_label(img: ImageFacts) -> CheckResult:
    from smctl.serving.multimodel import CAPABILITY_LABEL

    value = img.labels.get(CAPABILITY_LABEL)
    if str(value).strip().lower() == "true":
        return ok("multimodel.label", "multi-model label", f"{CAPABILITY_LABEL}=true", label=value)
    return fail("multimodel.label", "multi-model label",
                f"{CAPABILITY_LABEL} is {value!r}: CreateModel with Mode MultiModel refuses the image",
                f"add `LABEL {CAPABILITY_LABEL}=true` to the Dockerfile", label=value)


def run_multi_model(client: Any, image: str, *, startup_timeout: float, labels: Mapping[str, str],
                    on_event: Callable[[str], None]) -> MultiModelRun:
    """`serve` with SAGEMAKER_MULTI_MODEL=true; every call of the contract once, in the platform's order."""
    from smctl.contract.serving import CONTAINER_PORT
    from smctl.engine.containers import ContainerSpec, Mount, run_container
    from smctl.engine.labels import LABEL_KIND
    from smctl.errors import SmctlError
    from smctl.serving.multimodel import ENV_MULTI_MODEL, MODELS_DIR

    work = Path(tempfile.mkdtemp(prefix="smctl-check-mm-"))
    try:
        for name in MODELS:
            (work / name / "model").mkdir(parents=True)
            (work / name / "model" / "weights.txt").write_text(f"{name}\n")
        spec = ContainerSpec(image=image, name=f"smctl-check-mm-{uuid.uuid4().hex[:10]}", command=["serve"],
                             environment={ENV_MULTI_MODEL: "true"}, mounts=(Mount(work, str(MODELS_DIR)),),
                             ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
                             labels={LABEL_KIND: "check", **labels})
        on_event(f"running `{image} serve` with {ENV_MULTI_MODEL}=true (startup window {startup_timeout:g} s)")
        try:
            with run_container(client, spec, stop_grace=5) as container:
                return _exercise(container, startup_timeout, on_event)
        except SmctlError as err:
            return MultiModelRun(start_error=err.engine_message or err.message)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _exercise(container: Any, startup_timeout: float, on_event: Callable[[str], None]) -> MultiModelRun:
    from smctl.contract.serving import CONTAINER_PORT, PING_TIMEOUT
    from smctl.doctor.image_runs import _tail
    from smctl.engine.container import ContainerState
    from smctl.serving.multimodel import MODELS_DIR

    address = container.published_address(CONTAINER_PORT)
    if address is None:
        return MultiModelRun(start_error="the container exited before it published 8080", logs_tail=_tail(container))
    host, port = address
    started, status = time.monotonic(), None
    while time.monotonic() - started < startup_timeout:
        if container.state() not in (ContainerState.RUNNING, ContainerState.CREATED):
            return MultiModelRun(start_error="the container exited while starting", logs_tail=_tail(container))
        status = _call(host, port, "GET", "/ping", timeout=PING_TIMEOUT)[0]
        if status == 200:
            break
        time.sleep(0.5)
    if status != 200:
        return MultiModelRun(ping_status=status, logs_tail=_tail(container))
    on_event("exercising /models: load, load again, get, invoke, list (paged), unload")
    calls: dict[str, Answer] = {}

    def load(name: str) -> Answer:
        doc = {"model_name": name, "url": str(MODELS_DIR / name / "model")}
        return _call(host, port, "POST", "/models", json.dumps(doc).encode())

    calls["load"] = load(MODELS[0])
    calls["load_again"] = load(MODELS[0])
    calls["get"] = _call(host, port, "GET", f"/models/{MODELS[0]}")
    calls["get_unknown"] = _call(host, port, "GET", f"/models/{UNKNOWN}")
    calls["invoke"] = _call(host, port, "POST", f"/models/{MODELS[0]}/invoke", b"{}")
    calls["invoke_unknown"] = _call(host, port, "POST", f"/models/{UNKNOWN}/invoke", b"{}")
    calls["delete_unknown"] = _call(host, port, "DELETE", f"/models/{UNKNOWN}")
    calls["load_b"], calls["load_c"] = load(MODELS[1]), load(MODELS[2])
    listed, pages, list_error = _list_all(host, port)
    calls["delete"] = _call(host, port, "DELETE", f"/models/{MODELS[0]}")
    calls["get_after_delete"] = _call(host, port, "GET", f"/models/{MODELS[0]}")
    return MultiModelRun(ping_status=200, calls=calls, listed=tuple(listed), pages=pages, list_error=list_error,
                         logs_tail=_tail(container))


def _list_all(host: str, port: int) -> tuple[list[str], int, str | None]:
    names: list[str] = []
    token, pages = None, 0
    while pages < MAX_PAGES:
        path = "/models" + (f"?next_page_token={urllib.parse.quote(token)}" if token else "")
        status, text = _call(host, port, "GET", path)
        pages += 1
        if status != 200:
            return names, pages, f"GET {path} answered {status}: {text}"
        try:
            doc = json.loads(text)
            names += [str(m["modelName"]) for m in doc["models"]]
        except (ValueError, KeyError, TypeError):
            return names, pages, f"GET {path} answered {text!r}, not {{\"models\": [{{\"modelName\", ...}}]}}"
        token = doc.get("nextPageToken")
        if not token:
            return names, pages, None
    return names, pages, f"nextPageToken still set after {MAX_PAGES} pages"


def _call(host: str, port: int, method: str, path: str, body: bytes | None = None,
          timeout: float = CALL_TIMEOUT) -> Answer:
    import http.client

    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Accept": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(2000).decode("utf-8", errors="replace")
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


# -- judges: facts in, verdicts out -------------------------------------------------------------------------------

RULES = (  # id, title, call, the statuses the contract wants, what it means
    ("load", "POST /models loads", "load", (200,), "a model under /opt/ml/models/NAME/model loads"),
    ("double_load", "double load is 409", "load_again", (409,), "loading a loaded model_name answers 409"),
    ("get", "GET /models/NAME", "get", (200,), "a loaded model is described"),
    ("get_unknown", "unknown model is 404", "get_unknown", (404,), "GET /models/NAME of an unknown model is 404"),
    ("invoke", "POST /models/NAME/invoke", "invoke", (200,), "a loaded model answers an invocation"),
    ("invoke_unknown", "invoke unknown is 404", "invoke_unknown", (404,), "invoking an unloaded model is 404"),
    ("delete_unknown", "unload unknown is 404", "delete_unknown", (404,), "DELETE of an unloaded model is 404"),
    ("unload", "DELETE /models/NAME unloads", "delete", (200,), "a loaded model unloads"),
    ("unloaded", "unloaded model is gone", "get_after_delete", (404,), "after DELETE, GET /models/NAME is 404"),
)


def judge_run(run: MultiModelRun) -> list[CheckResult]:
    ids = ["multimodel.ping", *(f"multimodel.{r[0]}" for r in RULES), "multimodel.list", "multimodel.507"]
    if run.start_error is not None or run.ping_status != 200:
        why = run.start_error or f"/ping answered {run.ping_status} (200 expected)"
        first = fail(ids[0], "/ping in multi-model mode", why, "make `serve` answer /ping with 200 when "
                     "SAGEMAKER_MULTI_MODEL=true (see its logs below)", *run.logs_tail[-10:])
        return [first, *(skip(i, i.split(".", 1)[1], "not run: the container never became healthy") for i in ids[1:])]
    results = [ok(ids[0], "/ping in multi-model mode", "200 with SAGEMAKER_MULTI_MODEL=true")]
    for rule, title, call, want, meaning in RULES:
        status, text = run.calls.get(call, (None, "not called"))
        data = {"status": status, "body": text[:300]}
        if status in want:
            results.append(ok(f"multimodel.{rule}", title, f"{meaning}: HTTP {status}", **data))
        else:
            got = f"HTTP {status}" if status is not None else text
            results.append(fail(f"multimodel.{rule}", title, f"{meaning}, but it answered {got}",
                                f"{FIX} (SageMaker expects {' or '.join(map(str, want))})",
                                f"body: {text[:300]}", **data))
    results.append(judge_list(run))
    results.append(judge_507(run))
    return results


def judge_list(run: MultiModelRun) -> CheckResult:
    loaded = {m for m, c in zip(MODELS, ("load", "load_b", "load_c"), strict=True)
              if run.calls.get(c, (None, ""))[0] in (200, 409)}
    missing = sorted(loaded - set(run.listed))
    data = {"listed": list(run.listed), "pages": run.pages}
    if run.list_error is None and not missing:
        return ok("multimodel.list", "GET /models lists (paged)",
                  f"all {len(loaded)} loaded models over {run.pages} page(s)"
                  + (" following nextPageToken" if run.pages > 1 else ""), **data)
    why = run.list_error or f"{', '.join(missing)} missing from the list"
    return fail("multimodel.list", "GET /models lists (paged)", why,
                f"answer {{\"models\": [{{\"modelName\", \"modelUrl\"}}], \"nextPageToken\"?}} and take "
                f"?next_page_token=TOKEN; {FIX}", **data)


def judge_507(run: MultiModelRun) -> CheckResult:
    statuses = [run.calls.get(c, (None, ""))[0] for c in ("load", "load_b", "load_c")]
    if 507 in statuses:
        return ok("multimodel.507", "out of memory is 507", "a load the container had no room for answered 507: "
                  "the platform unloads the least recently used model and retries")
    others = [s for s in statuses if s not in (200, 507)]
    if others:
        return fail("multimodel.507", "out of memory is 507", f"loads answered {others}: anything but 200, 409 or "
                    "507 fails the invocation", "answer 507 when a model does not fit, so SageMaker unloads others")
    return skip("multimodel.507", "out of memory is 507", "not provoked: three tiny models fit (a load that does not "
                "fit must answer 507, not 500; local-serve --multi-model then unloads the least recently used)")
