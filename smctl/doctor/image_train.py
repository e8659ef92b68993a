"""`train` for `smctl check`, run exactly as `local-train` runs it: the same plan (hostname algo-1, SageMaker's
config files, channels, limits), the same runner, one host, the --sample folders as its channels."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from smctl.contract.credentials import CredentialsRequest
from smctl.contract.failure import FAILURE_REASON_LIMIT
from smctl.doctor.image_runs import TrainRun
from smctl.engine.labels import LABEL_KIND
from smctl.errors import CredentialsEndpointError, RoleNotAssumableError, SmctlError, UsageError

INSTANCE_TYPE = "ml.m5.xlarge"
STOP_GRACE = 5.0  # a check that timed out stops `train` quickly (SageMaker's 120 s only matter to local-train)


def run_train(image: str, *, channels: Mapping[str, Path], timeout: float, labels: Mapping[str, str],
              on_event: Callable[[str], None], credentials: CredentialsRequest | None = None) -> TrainRun:
    """`IMAGE train` as local-train runs it, with `channels` (name -> folder) as its data; stopped after `timeout`.

    Raises:
        UsageError: a channel name or folder the training plan refuses.
    """
    from smctl.contract.layout import ChannelConfig
    from smctl.contract.location import Location
    from smctl.training.inputs import ChannelInput
    from smctl.training.plan import TrainingJob
    from smctl.training.preflight import prepare
    from smctl.training.run import run_job

    root = Path(tempfile.mkdtemp(prefix="smctl-check-"))
    try:
        job = TrainingJob(image=image, project_root=root, job_name=f"check-{uuid.uuid4().hex[:10]}",
                          instance_type=INSTANCE_TYPE, instance_count=1, credentials=credentials,
                          channels=tuple(ChannelInput(ChannelConfig(name), Location.from_path(path.resolve()))
                                         for name, path in channels.items()))

        def forward(kind: str, data: dict[str, Any]) -> None:
            if kind in ("info", "warning", "stopped", "credentials") and data.get("message"):
                on_event(str(data["message"]))

        plan = _labelled(prepare(job, forward), labels)
        shown = ", ".join(f"{name}={path}" for name, path in channels.items())
        on_event(f"running `{image} train` as training job {plan.job_name} on host algo-1"
                 + (f" with channels {shown}" if shown else " without data"))
        t0 = time.monotonic()
        try:
            result = run_job(plan, forward, keep=True, stop_after=timeout, stop_grace=STOP_GRACE)
        except SmctlError as err:
            if isinstance(err, UsageError | RoleNotAssumableError | CredentialsEndpointError):
                raise
            return TrainRun(bool(channels), start_error=err.engine_message or err.message)
        host = plan.hosts[0]
        model = host.root / "model"
        model_files = tuple(sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()))
        exit_code = result.hosts[0].exit_code if result.hosts else None
        failure = result.hosts[0].failure if result.hosts else None
        return TrainRun(
            bool(channels), None, None if result.status == "Stopped" else exit_code, result.status == "Stopped",
            round(time.monotonic() - t0, 2), tuple(result.log_tail[-20:]), model_files,
            failure[:FAILURE_REASON_LIMIT] if failure else None, tuple(channels))
    finally:
        _remove_tree(image, root)


def _labelled(plan: Any, labels: Mapping[str, str]) -> Any:
    """The plan with its containers labelled as `check`'s (plus the caller's labels), so reapers find them."""
    hosts = [replace(h, container=replace(h.container, labels={**h.container.labels, LABEL_KIND: "check", **labels}))
             for h in plan.hosts]
    return replace(plan, hosts=hosts)


def _remove_tree(image: str, path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # files a root container wrote that the runner could not hand back
        from smctl.engine.client import engine
        from smctl.engine.containers import chown_tree

        with contextlib.suppress(Exception):
            client = engine(timeout=60)
            try:
                chown_tree(client, image, path, os.getuid(), os.getgid())
            finally:
                client.close()
        shutil.rmtree(path, ignore_errors=True)
