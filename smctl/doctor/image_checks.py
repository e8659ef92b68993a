"""`smctl check IMAGE`: run the image the way SageMaker does and judge every rule of the container contract."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smctl.contract.credentials import CredentialsRequest
from smctl.doctor import image_judges as j
from smctl.doctor.model import CheckResult, Event, Report, guarded

STARTUP_TIMEOUT = 240.0  # SageMaker's default ContainerStartupHealthCheckTimeoutInSeconds
STOP_GRACE = 30.0  # serving: SIGKILL 30 s after SIGTERM
TRAIN_PROBE_SECONDS = 10.0  # without --sample: long enough to see `train` start
TRAIN_TIMEOUT = 600.0


SAMPLE_CHANNEL = "training"  # a bare --sample DIR: the channel SageMaker's framework estimators call `training`


@dataclass(frozen=True)
class CheckOptions:
    image: str
    model: Path | None = None
    samples: Mapping[str, Path] = field(default_factory=dict)  # channel name -> a folder of a few files
    startup_timeout: float = STARTUP_TIMEOUT
    stop_grace: float = STOP_GRACE
    train_timeout: float = TRAIN_TIMEOUT
    labels: Mapping[str, str] = field(default_factory=dict)
    train: bool = True  # False with --serve-only
    serve: bool = True  # False with --train-only
    credentials: CredentialsRequest | None = None  # what the train and serve runs' containers get (None: none)


def parse_samples(items: list[str]) -> dict[str, Path]:
    """`--sample NAME=DIR` (repeatable) -> {NAME: DIR}; a bare DIR (or an existing folder) is channel `training`.

    Raises: UsageError for a bad channel name or a channel given twice.
    """
    from smctl.contract.layout import CHANNEL_NAME
    from smctl.errors import UsageError

    samples: dict[str, Path] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        if sep and not Path(item).expanduser().is_dir():
            if not CHANNEL_NAME.fullmatch(name) or not rest:
                raise UsageError(f"--sample {item!r} is not NAME=DIR with a valid channel name",
                                 "write --sample train=data/train (channel names: 1-64 letters, digits, '.', '-', "
                                 "'_'), or --sample DIR for the channel `training`")
            path = Path(rest)
        else:
            name, path = SAMPLE_CHANNEL, Path(item)
        if name in samples:
            raise UsageError(f"--sample gives the channel {name!r} twice",
                             "give each channel once: --sample NAME=DIR (a bare DIR is the channel `training`)")
        samples[name] = path.expanduser()
    return samples


def validate(opts: CheckOptions) -> None:
    """Raises: UsageError for a --sample or --model that does not exist, or flags that contradict, before anything
    runs."""
    from smctl.errors import UsageError
    from smctl.training.channels import has_files

    if not opts.train and not opts.serve:
        raise UsageError("--train-only and --serve-only exclude each other",
                         "pass one of them, or neither to check both `train` and `serve`")
    if opts.samples and not opts.train:
        raise UsageError("--sample is for `train`, and --serve-only skips it", "drop --sample or --serve-only")
    if opts.model is not None and not opts.serve:
        raise UsageError("--model is for `serve`, and --train-only skips it", "drop --model or --train-only")
    for name, path in opts.samples.items():
        if not path.is_dir():
            raise UsageError(f"--sample {path} is not a folder (the channel {name!r})",
                             f"pass a folder of a few files; it becomes the channel `{name}` at "
                             f"/opt/ml/input/data/{name}")
        if not has_files(path):  # CreateTrainingJob refuses a channel without objects
            raise UsageError(f"--sample {path} holds no files (the channel {name!r}; SageMaker refuses a channel "
                             "without data)",
                             f"put a few sample files in {path}")
    if opts.model is not None and not opts.model.exists():
        raise UsageError(f"--model {opts.model} does not exist", "pass a model folder or a model.tar.gz")
    for flag, value in (("--startup-timeout", opts.startup_timeout), ("--stop-timeout", opts.stop_grace),
                        ("--train-timeout", opts.train_timeout)):
        if value <= 0:
            raise UsageError(f"{flag} must be positive, got {value:g}", f"for example {flag} 30")


def run_image_checks(client: Any, opts: CheckOptions, on_event: Event = lambda msg: None) -> Report:
    """Every rule, in order; a rule that cannot be judged is skipped, never hidden.

    Raises:
        SmctlError: the image is not in the engine (Hint: smctl build).
    """
    from smctl.doctor.image_probes import image_facts
    from smctl.doctor.image_runs import run_serve
    from smctl.doctor.image_train import run_train

    validate(opts)
    img = image_facts(_local_image(client, opts.image), opts.image)
    results: list[CheckResult] = [j.judge_platform(img), j.judge_manifest(img), j.judge_entrypoint(img)]
    on_event(f"reading {opts.image}'s files (docker create, no start)")
    lookup, listing = _static(client, opts, img)
    if opts.train:
        timeout = opts.train_timeout if opts.samples else TRAIN_PROBE_SECONDS
        train_run = run_train(opts.image, channels=opts.samples, timeout=timeout, labels=opts.labels,
                              on_event=on_event, credentials=opts.credentials)
        results += guarded("train", "`train` resolves", lambda: j.judge_train(lookup, train_run))
        results.append(j.judge_sample(train_run, opts.train_timeout))
    else:
        results += j.skipped_train("not run: --serve-only")
    if opts.serve:
        serve_run = run_serve(client, opts.image, model=opts.model, startup_timeout=opts.startup_timeout,
                              stop_grace=opts.stop_grace, labels=opts.labels, on_event=on_event,
                              credentials=opts.credentials)
        results += j.judge_serve(serve_run)
    else:
        results += j.skipped_serve("not run: --train-only")
    results += [j.judge_drivers(listing), j.judge_privileged(img), j.judge_size(img)]
    return Report(tuple(results), {"image": opts.image, "image_id": img.id})


def _static(client: Any, opts: CheckOptions, img: Any) -> tuple[Any, Any]:
    """The train lookup and the filesystem listing, both from one created (never started) container."""
    from smctl.doctor.image_probes import list_filesystem, lookup_train
    from smctl.engine.containers import ContainerSpec, create_container, remove_container
    from smctl.engine.labels import LABEL_KIND

    spec = ContainerSpec(image=opts.image, name=f"smctl-check-static-{uuid.uuid4().hex[:10]}", command=["train"],
                         labels={LABEL_KIND: "check", **opts.labels})
    container = create_container(client, spec)
    try:
        lookup = lookup_train(container, img)
        listing = list_filesystem(container)
    finally:
        remove_container(container, stop_grace=0)
    return lookup, listing


def _local_image(client: Any, image: str) -> Any:
    """Raises: ImageNotFoundError naming the image, Hint: smctl build (check never pulls: it checks what you built)."""
    from smctl.engine.images import inspect_image

    return inspect_image(client, image, hint="build it first: smctl build (or check the name with `docker images`)")
