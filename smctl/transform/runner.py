"""The request engine: split and batch each object, keep MaxConcurrentTransforms requests in flight (a thread pool;
invoker.py holds one keep-alive connection per worker), and assemble one `.out` per object in input order.
Progress goes to a callback; nothing here prints.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from smctl.errors import DataError, InvocationError, RecordTooLargeError, SplitError
from smctl.events import OnEvent
from smctl.transform.batching import MB, Batch, plan_batches
from smctl.transform.dataproc import (
    filter_input,
    line_count,
    parse_records,
    process_response,
)
from smctl.transform.invoker import Invoker, Stopped
from smctl.transform.io import InputObject, Sink, Source
from smctl.transform.params import RunSettings
from smctl.transform.splitters import split_records


@dataclass(frozen=True)
class FileFailure:
    key: str
    reason: str
    kind: str  # container (requests kept failing) | data (input or response does not fit) | output (write failed)

    def as_dict(self) -> dict[str, str]:
        return {"file": self.key, "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class RunStats:
    files: int
    transformed: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[FileFailure, ...]
    records: int
    requests: int
    retries: int
    bytes_sent: int
    bytes_written: int
    seconds: float
    line_mismatches: int

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "transformed": len(self.transformed), "skipped": list(self.skipped),
                "failed": [f.as_dict() for f in self.failed], "records": self.records, "requests": self.requests,
                "retries": self.retries, "bytes_sent": self.bytes_sent, "bytes_written": self.bytes_written,
                "seconds": round(self.seconds, 3),
                "records_per_second": round(self.records / self.seconds, 1) if self.seconds > 0 else None,
                "line_count_mismatches": self.line_mismatches}


@dataclass
class _File:
    obj: InputObject
    records: list[bytes]
    batches: list[Batch]
    inputs: list[Any] | None  # parsed input records, kept for JoinSource Input
    bodies: list[bytes | None] = field(default_factory=list)
    remaining: int = 0
    failed: bool = False
    done_bytes: int = 0
    reported_bytes: int = 0
    total_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FileProblem(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_file(source: Source, obj: InputObject, s: RunSettings) -> tuple[list[bytes], list[Batch], list[Any] | None]:
    """Read, decompress, split, filter and batch one object; Raises: FileProblem naming the record at fault."""
    data = source.read(obj)
    if s.compression == "Gzip":
        data = gunzip(data)
    framed = s.strategy == "MultiRecord"  # SageMaker strips RecordIO/TFRecord framing only for SingleRecord
    try:
        records = split_records(data, s.split_type, framed=framed)
    except SplitError as exc:
        raise FileProblem(f"is not valid {s.split_type} data: {exc}") from None
    inputs = None
    dp = s.processing
    if dp is not None and dp.parses_input:
        try:
            parsed = parse_records(records, dp.input_format)
            if dp.input_filter is not None:
                records = filter_input(parsed, dp)
        except DataError as exc:
            raise FileProblem(str(exc)) from None
        inputs = parsed if dp.join else None
    strategy = s.strategy if s.split_type != "None" else "SingleRecord"
    try:
        batches = plan_batches([len(r) for r in records], strategy, s.payload_limit)
    except RecordTooLargeError as exc:
        if s.split_type == "None":
            raise FileProblem(f"is {exc.size:,} bytes, over the payload limit of {exc.limit:,} bytes "
                              f"({exc.limit / MB:g} MB) with --split-type None") from None
        raise FileProblem(str(exc)) from None
    return records, batches, inputs


def gunzip(data: bytes) -> bytes:
    """Raises: FileProblem when the object is not gzip data."""
    import gzip
    import zlib

    try:
        from isal import igzip

        return igzip.decompress(data)
    except ImportError:
        pass
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        raise FileProblem(f"is not valid gzip data (--compression Gzip): {exc}") from None
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(f"is not valid gzip data (--compression Gzip): {exc}") from None


class Runner:
    """Transforms every input object against one container; `stop` ends the run early (Ctrl-C). After a file
    fails in the container, `healthy()` is asked (a /ping); when it says no, the files left are not attempted."""

    def __init__(self, source: Source, sink: Sink, settings: RunSettings, host: str, port: int,
                 on_event: OnEvent, stop: threading.Event | None = None,
                 healthy: Callable[[], bool] | None = None, chain: tuple[Any, ...] = ()) -> None:
        self.source, self.sink, self.s, self.on_event = source, sink, settings, on_event
        self.stop = stop or threading.Event()
        self.healthy = healthy
        self._abort: str | None = None
        self.invoker: Any = Invoker(host, port, settings, self.stop)
        if chain:  # a multi-container endpoint: every record passes each container in turn
            from smctl.transform.pipeline import ChainInvoker

            self.invoker = ChainInvoker(chain, settings, self.stop)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._transformed: list[str] = []
        self._skipped: list[str] = []
        self._failed: list[FileFailure] = []
        self._records = self._requests = self._retries = self._sent = self._written = 0
        self._mismatches = 0
        self._warned: set[str] = set()
        self._crash: BaseException | None = None

    def run(self, objects: Sequence[InputObject]) -> RunStats:
        started = time.monotonic()
        n = self.s.max_concurrent
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="smctl-transform")
        slots = threading.Semaphore(2 * n)  # bounds the batches held in memory
        try:
            for obj in objects:
                if self.stop.is_set():
                    break
                self._submit_file(obj, pool, slots)
            with self._idle:
                while self._pending:
                    self._idle.wait(0.2)
        except BaseException:
            self.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            self.invoker.close()
            raise
        pool.shutdown(wait=True)
        self.invoker.close()
        if self._crash is not None:
            raise self._crash
        if self._abort is not None:
            settled = {*self._transformed, *self._skipped, *(f.key for f in self._failed)}
            self._failed += [FileFailure(o.key, self._abort, "container") for o in objects if o.key not in settled]
        if self._mismatches > 1:
            self._warn("mismatch-total", f"{self._mismatches} responses in all had a line count different from "
                                         "their batch's record count")
        return RunStats(len(objects), tuple(self._transformed), tuple(self._skipped),
                        tuple(sorted(self._failed, key=lambda f: f.key)), self._records, self._requests,
                        self._retries, self._sent, self._written, time.monotonic() - started, self._mismatches)

    def _submit_file(self, obj: InputObject, pool: ThreadPoolExecutor, slots: threading.Semaphore) -> None:
        if self.s.resume and self.sink.exists(obj.key):
            self._skipped.append(obj.key)
            self.on_event("progress", {"records": 0, "bytes": obj.size})
            self.on_event("skipped", {"file": obj.key})
            return
        try:
            records, batches, inputs = load_file(self.source, obj, self.s)
        except FileProblem as exc:
            self._fail_file(None, obj, exc.reason, "data")
            return
        job = _File(obj, records, batches, inputs, [None] * len(batches), len(batches),
                    total_bytes=sum(b.size for b in batches))
        if not batches:  # an empty object: no request, an empty .out
            self.on_event("progress", {"records": 0, "bytes": obj.size})
            self._finish(job)
            return
        for batch in batches:
            while not slots.acquire(timeout=0.2):
                if self.stop.is_set():
                    return
            if job.failed or self.stop.is_set():
                slots.release()
                return
            with self._lock:
                self._pending += 1
            future = pool.submit(self._work, job, batch)
            future.add_done_callback(lambda f: self._done(f, slots))

    def _done(self, future: Future, slots: threading.Semaphore) -> None:
        slots.release()
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _work(self, job: _File, batch: Batch) -> None:
        try:
            self._invoke(job, batch)
        except Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - a bug: surfaced by run() in the main thread
            with self._lock:
                self._crash = self._crash or exc
            self.stop.set()

    def _invoke(self, job: _File, batch: Batch) -> None:
        if job.failed or self.stop.is_set():
            return
        records = job.records[batch.first : batch.first + batch.count]
        payload = records[0] if len(records) == 1 else b"".join(records)
        span = f"record {batch.first + 1}" if batch.count == 1 else \
            f"records {batch.first + 1}-{batch.first + batch.count}"
        try:
            body, attempts = self.invoker.invoke(payload)
        except InvocationError as exc:
            with self._lock:
                self._requests += 1 + self.s.retries
                self._retries += self.s.retries
            self._fail_file(job, job.obj, f"{span}: {exc}", "container")
            self._check_health()
            return
        with self._lock:
            self._requests += attempts
            self._retries += attempts - 1
            self._sent += len(payload)
        dp = self.s.processing
        if dp is not None and dp.parses_output:
            inputs = job.inputs[batch.first : batch.first + batch.count] if job.inputs is not None else None
            try:
                body = process_response(body, inputs, batch.count, batch.first, dp)
            except DataError as exc:
                self._fail_file(job, job.obj, str(exc), "data")
                return
        else:
            self._check_lines(job, batch, body, span)
        with job.lock:
            if job.failed:
                return
            job.bodies[batch.index] = body
            job.remaining -= 1
            last = job.remaining == 0
        with self._lock:
            self._records += batch.count
        self._progress(job, batch.size, batch.count)
        if last:
            self._finish(job)

    def _check_health(self) -> None:
        if self.healthy is None or self.stop.is_set() or self.healthy():
            return
        with self._lock:
            self._abort = self._abort or "not transformed: the container stopped answering /ping (did it exit? " \
                                         "its log lines are above)"
        self.stop.set()

    def _check_lines(self, job: _File, batch: Batch, body: bytes, span: str) -> None:
        s = self.s
        if s.strategy != "MultiRecord" or s.split_type == "None" or s.assemble_with != "Line":
            return
        lines = line_count(body)
        if lines != batch.count:
            with self._lock:
                self._mismatches += 1
            self._warn("mismatch", f"{job.obj.key}: the response to {span} has {lines} line(s) for {batch.count} "
                                   "record(s): with MultiRecord the container should answer one line per record, "
                                   "or the output will not line up with the input")
        if body.endswith(b"\n"):
            self._warn("blank-lines", "responses end with a newline and --assemble-with Line adds one after each "
                                      "response body, so the output has an empty line after each response")

    def _finish(self, job: _File) -> None:
        chunks: list[bytes] = []
        for body in job.bodies:
            assert body is not None
            chunks.append(body)
            if self.s.assemble_with == "Line":
                chunks.append(b"\n")
        try:
            where = self.sink.write(job.obj.key, chunks)
        except Exception as exc:  # noqa: BLE001 - disk full, permissions, S3: the file fails, the others go on
            self._fail_file(job, job.obj, f"could not write its output: {getattr(exc, 'message', exc)}", "output")
            return
        size = sum(len(c) for c in chunks)
        with self._lock:
            self._transformed.append(job.obj.key)
            self._written += size
        job.records, job.bodies, job.inputs = [], [], None
        self.on_event("file_done", {"file": job.obj.key, "output": where, "bytes": size})

    def _fail_file(self, job: _File | None, obj: InputObject, reason: str, kind: str) -> None:
        rest = obj.size
        if job is not None:  # its memory goes with the last batch still in flight
            with job.lock:
                if job.failed:
                    return
                job.failed = True
                rest, job.reported_bytes = obj.size - job.reported_bytes, obj.size
        with self._lock:
            self._failed.append(FileFailure(obj.key, reason, kind))
        self.on_event("progress", {"records": 0, "bytes": rest})
        self.on_event("file_failed", {"file": obj.key, "reason": reason, "kind": kind})

    def _progress(self, job: _File, size: int, count: int) -> None:
        with job.lock:
            if job.failed:
                return
            job.done_bytes += size
            target = job.obj.size * job.done_bytes // job.total_bytes if job.total_bytes else job.obj.size
            step, job.reported_bytes = target - job.reported_bytes, target
        self.on_event("progress", {"records": count, "bytes": step})

    def _warn(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        self.on_event("warning", {"message": message})
