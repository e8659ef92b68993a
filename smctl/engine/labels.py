"""The labels smctl puts on every container, network and volume it creates, so it can find and reap them."""

from __future__ import annotations

import os

LABEL_MANAGED = "smctl.managed"
LABEL_JOB = "smctl.job"
LABEL_KIND = "smctl.kind"
LABEL_HOST = "smctl.host"
LABEL_ENDPOINT = "smctl.endpoint"
LABEL_MODEL = "smctl.model"
LABEL_RUN_DIR = "smctl.run_dir"  # set only when smctl made the model folder (extracted or downloaded): removed on stop
KIND_SERVE = "serve"
LABEL_ASYNC = "smctl.async"  # an endpoint's asynchronous-inference config (JSON), when it has one
LABEL_CREDENTIALS = "smctl.credentials"  # the run whose credentials endpoint answers this container
LABEL_PROCESS = "smctl.process"  # the smctl process that created it: a run's final sweep touches only its own


def process_id() -> str:
    """This smctl process, as LABEL_PROCESS holds it: host name and pid (two runs of one job name stay apart)."""
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"


def extra_labels() -> dict[str, str]:
    """SMCTL_LABELS="k=v,k2=v2": labels added to every container and network smctl creates (CI bookkeeping)."""
    pairs = (item.partition("=") for item in os.environ.get("SMCTL_LABELS", "").split(",") if item.strip())
    return {k.strip(): v.strip() for k, _, v in pairs if k.strip()}
