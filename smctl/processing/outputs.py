"""A processing job's outputs: what its containers wrote to each LocalPath, delivered to a folder or S3."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from smctl.errors import SmctlError, UsageError
from smctl.events import OnEvent

if TYPE_CHECKING:
    from smctl.processing.plan import ProcessingOutput, ProcessingPlan


def check_destinations(outputs: Sequence[ProcessingOutput], region: str | None) -> None:
    """Before any container starts: every local destination writable, every S3 bucket there.

    Raises:
        UsageError: a local destination cannot be written.
        AwsError: a bucket is missing, or no credentials for it.
    """
    for o in outputs:
        if o.destination.is_s3:
            from smctl.aws.s3 import check_bucket

            check_bucket(o.destination, region=region)
        else:  # the folder appears when there is something to put in it
            from smctl.training.artifacts import missing_ancestors
            from smctl.training.run import drop_empty_folders
            from smctl.training.rundir import check_writable

            created = missing_ancestors(o.destination.path)
            try:
                check_writable(o.destination.path, f"output {o.config.name!r} folder", f"--output {o.config.name}=PATH")
            finally:
                drop_empty_folders(o.destination.path, created)


class Delivery:
    """Copies (or uploads) the files of outputs' LocalPath folders on every host to their destinations; a file
    is delivered whole or not at all (temp file + rename locally; S3 objects appear whole), each once per change."""

    def __init__(self, plan: ProcessingPlan, on_event: OnEvent) -> None:
        self.plan = plan
        self.on_event = on_event
        self._sent: dict[tuple[str, str], tuple[int, int]] = {}  # (output, key) -> (size, mtime_ns) delivered
        self._lock = threading.Lock()
        self.delivered: dict[str, int] = {o.config.name: 0 for o in plan.job.outputs}

    def sync(self, outputs: Sequence[ProcessingOutput]) -> None:
        """Deliver every new or changed file of `outputs` (several hosts' files of one key: the last host wins).

        Raises:
            SmctlError: a file cannot be written or uploaded.
        """
        with self._lock:
            for o in outputs:
                for host in self.plan.hosts:
                    folder = host.root / "outputs" / o.config.name
                    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
                        key = path.relative_to(folder).as_posix()
                        st = path.stat()
                        if self._sent.get((o.config.name, key)) == (st.st_size, st.st_mtime_ns):
                            continue
                        self._deliver(o, path, key)
                        self._sent[(o.config.name, key)] = (st.st_size, st.st_mtime_ns)
                        self.delivered[o.config.name] += 1

    def _deliver(self, output: ProcessingOutput, path: Path, key: str) -> None:
        dest = output.destination
        if dest.is_s3:
            from smctl.aws.s3 import upload_file

            uri = f"{dest.uri.rstrip('/')}/{key}"
            upload_file(path, uri, region=self.plan.job.region)
            self.on_event("upload", {"output": output.config.name, "uri": uri})
            return
        target = dest.path / key
        tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise UsageError(f"output {output.config.name!r}: cannot write {target}: {exc.strerror or exc}",
                             "free some space there (or fix its permissions), or send the output elsewhere: "
                             f"--output {output.config.name}=PATH") from None


class ContinuousUploads:
    """S3UploadMode Continuous: outputs delivered while the job runs (every `interval` seconds) and at the end."""

    def __init__(self, delivery: Delivery, outputs: Sequence[ProcessingOutput], interval: float = 1.0) -> None:
        self.delivery, self.outputs, self.interval = delivery, outputs, interval
        self.error: SmctlError | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="smctl-continuous", daemon=True)

    def start(self) -> ContinuousUploads:
        if self.outputs:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            try:
                self.delivery.sync(self.outputs)
            except SmctlError as exc:  # reported at the end; the job keeps running, as SageMaker's does
                self.error = exc

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
