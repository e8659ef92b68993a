"""The request engine against a real (in-process, stdlib) HTTP server: concurrency, order, keep-alive, retries,
timeouts, chunked streaming, per-file failure, --resume and stopping."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from smctl.transform.batching import MB
from smctl.transform.dataproc import plan_processing
from smctl.transform.io import LocalSink, LocalSource
from smctl.transform.params import RunSettings
from smctl.transform.runner import Runner


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        if self.headers.get("Transfer-Encoding") == "chunked":
            parts = []
            while (size := int(self.rfile.readline().strip(), 16)) != 0:
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            body = b"".join(parts)
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        with srv.lock:
            srv.n += 1
            n = srv.n
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            srv.requests.append({"n": n, "body": body, "client": self.client_address[1],
                                 "chunked": self.headers.get("Transfer-Encoding"),
                                 "content_type": self.headers.get("Content-Type")})
        try:
            delay = srv.sleep + (zlib.crc32(body) % srv.jitter_ms) / 1000 if srv.jitter_ms else srv.sleep
            time.sleep(delay)
            if n in srv.fail_nth or (srv.fail_match and srv.fail_match in body):
                out, status = b"boom", 500
            else:
                lines = [ln.upper() for ln in body.split(b"\n") if ln]
                if srv.fewer and lines:
                    lines.pop()
                out, status = b"".join(ln + b"\n" for ln in lines), 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
        finally:
            with srv.lock:
                srv.in_flight -= 1


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    # A handler still answering a client the runner gave up on would print its BrokenPipe traceback into whatever
    # sys.stderr is then: a later CLI test in this worker, capturing stderr, would fail on text that is not smctl's.
    srv.handle_error = lambda request, client_address: None
    srv.lock = threading.Lock()
    srv.n = srv.in_flight = srv.max_in_flight = 0
    srv.requests = []
    srv.sleep, srv.jitter_ms, srv.fail_nth, srv.fail_match, srv.fewer = 0.0, 0, set(), b"", False
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _run(server, inp: Path, out: Path, events: list | None = None, stop=None, **settings):
    settings.setdefault("split_type", "Line")
    events = events if events is not None else []
    runner = Runner(LocalSource(inp), LocalSink(out), RunSettings(**settings), "127.0.0.1",
                    server.server_address[1], lambda kind, data: events.append((kind, data)), stop)
    return runner.run(LocalSource(inp).list())


def _lines(n: int, tag: str = "r") -> bytes:
    return b"".join(f"{tag}{i:05d},x\n".encode() for i in range(n))


def test_single_record_at_concurrency_4_keeps_input_order_over_keep_alive(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(_lines(120))
    server.jitter_ms = 15  # answers come back out of order
    stats = _run(server, tmp_path / "in", tmp_path / "out", strategy="SingleRecord", max_concurrent=4,
                 assemble_with="None")
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == _lines(120).upper()
    assert stats.records == stats.requests == 120 and stats.retries == 0
    assert 2 <= server.max_in_flight <= 4
    assert len({r["client"] for r in server.requests}) <= 4  # one keep-alive connection per worker


def test_multi_record_packs_to_the_payload_limit_and_assemble_line_adds_a_newline(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"x" * (MB - 1) + b"\n" + b"y\n" + b"z\n")
    events: list = []
    stats = _run(server, tmp_path / "in", tmp_path / "out", events, payload_limit=MB, assemble_with="Line")
    assert [len(r["body"]) for r in server.requests] == [MB, 4]
    out = (tmp_path / "out" / "a.csv.out").read_bytes()
    assert out == b"X" * (MB - 1) + b"\n\n" + b"Y\nZ\n\n"
    assert stats.records == 3
    assert any(k == "warning" and "empty line" in d["message"] for k, d in events)


def test_a_line_count_mismatch_is_warned_about(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(_lines(5))
    server.fewer = True
    events: list = []
    _run(server, tmp_path / "in", tmp_path / "out", events, assemble_with="Line")
    warnings = [d["message"] for k, d in events if k == "warning"]
    assert any("a.csv: the response to records 1-5 has 4 line(s) for 5 record(s)" in w for w in warnings)


def test_a_failing_request_is_retried_and_the_retry_counts(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(_lines(3))
    server.fail_nth = {2}
    stats = _run(server, tmp_path / "in", tmp_path / "out", strategy="SingleRecord", retries=1)
    assert stats.failed == () and stats.retries == 1 and stats.requests == 4
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == _lines(3).upper()


def test_a_file_still_failing_after_retries_gets_no_out_and_the_others_go_on(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"ok\npoison\nok\n")
    (tmp_path / "in" / "b.csv").write_bytes(b"fine\n")
    server.fail_match = b"poison"
    stats = _run(server, tmp_path / "in", tmp_path / "out", strategy="SingleRecord", retries=2)
    assert [f.key for f in stats.failed] == ["a.csv"]
    failure = stats.failed[0]
    assert failure.kind == "container"
    assert "record 2: HTTP 500" in failure.reason and "after 3 attempt(s)" in failure.reason
    assert sum(r["body"] == b"poison\n" for r in server.requests) == 3
    assert not (tmp_path / "out" / "a.csv.out").exists()
    assert (tmp_path / "out" / "b.csv.out").read_bytes() == b"FINE\n"
    assert stats.transformed == ("b.csv",)


def test_once_the_container_stops_answering_the_files_left_are_not_attempted(server, tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "in" / f"{name}.csv").write_bytes(b"poison\n" if name == "a" else b"ok\n")
    server.fail_match = b"poison"
    pings: list[bool] = []
    runner = Runner(LocalSource(tmp_path / "in"), LocalSink(tmp_path / "out"), RunSettings(split_type="Line",
                    retries=0), "127.0.0.1", server.server_address[1], lambda kind, data: None,
                    healthy=lambda: pings.append(False) or False)
    stats = runner.run(LocalSource(tmp_path / "in").list())
    assert [(f.key, f.kind) for f in stats.failed] == [("a.csv", "container"), ("b.csv", "container"),
                                                       ("c.csv", "container")]
    assert stats.failed[1].reason.startswith("not transformed: the container stopped answering /ping")
    assert len(server.requests) == 1 and pings == [False]


def test_a_request_over_the_timeout_fails_with_the_timeout_named(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"slow\n")
    server.sleep = 2.5
    stats = _run(server, tmp_path / "in", tmp_path / "out", timeout=1, retries=0)
    assert "no answer within 1 s (--timeout)" in stats.failed[0].reason


def test_zero_payload_limit_streams_the_whole_object_chunked(server, tmp_path):
    (tmp_path / "in").mkdir()
    data = _lines(50_000)  # ~450 KB
    (tmp_path / "in" / "big.csv").write_bytes(data)
    _run(server, tmp_path / "in", tmp_path / "out", split_type="None", payload_limit=None, content_type="text/csv")
    (req,) = server.requests
    assert req["chunked"] == "chunked" and req["body"] == data and req["content_type"] == "text/csv"


def test_split_none_over_the_payload_fails_that_file_naming_the_size(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big.bin").write_bytes(b"x" * (MB + 1))
    (tmp_path / "in" / "small.bin").write_bytes(b"x" * MB)
    stats = _run(server, tmp_path / "in", tmp_path / "out", split_type="None", payload_limit=MB)
    assert [(f.key, f.kind) for f in stats.failed] == [("big.bin", "data")]
    assert "1,048,577 bytes, over the payload limit of 1,048,576 bytes" in stats.failed[0].reason
    assert stats.transformed == ("small.bin",)


def test_a_record_over_the_payload_names_the_file_and_record(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"ok\n" + b"x" * MB + b"\n")
    stats = _run(server, tmp_path / "in", tmp_path / "out", payload_limit=MB)
    assert stats.failed[0].key == "a.csv"
    assert stats.failed[0].reason.startswith("record 2 is 1,048,577 bytes")
    assert server.requests == []


def test_gzip_input_is_decompressed_and_bad_gzip_fails_its_file(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv.gz").write_bytes(gzip.compress(b"a\nb\n"))
    (tmp_path / "in" / "b.csv.gz").write_bytes(b"not gzip")
    stats = _run(server, tmp_path / "in", tmp_path / "out", compression="Gzip")
    assert (tmp_path / "out" / "a.csv.gz.out").read_bytes() == b"A\nB\n"
    assert stats.failed[0].key == "b.csv.gz" and "gzip" in stats.failed[0].reason


def test_resume_skips_files_whose_out_exists(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"a\n")
    (tmp_path / "in" / "b.csv").write_bytes(b"b\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.csv.out").write_bytes(b"kept\n")
    stats = _run(server, tmp_path / "in", tmp_path / "out", resume=True)
    assert stats.skipped == ("a.csv",) and stats.transformed == ("b.csv",)
    assert [r["body"] for r in server.requests] == [b"b\n"]
    assert (tmp_path / "out" / "a.csv.out").read_bytes() == b"kept\n"


def test_join_with_too_few_response_lines_fails_the_file_clearly(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(b"1,a\n2,b\n")
    server.fewer = True
    dp = plan_processing(content_type="text/csv", accept=None, input_filter="$[1:]", join_source="Input",
                         output_filter=None, split_type="Line", assemble_with="Line")
    stats = _run(server, tmp_path / "in", tmp_path / "out", processing=dp, assemble_with="Line")
    assert "the response to records 1-2 has 1 line(s) for 2 record(s)" in stats.failed[0].reason
    assert [r["body"] for r in server.requests] == [b"a\nb\n"]


def test_stopping_midway_writes_no_partial_out(server, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_bytes(_lines(40))
    server.sleep = 0.05
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    stats = _run(server, tmp_path / "in", tmp_path / "out", stop=stop, strategy="SingleRecord")
    assert 0 < server.n < 40
    assert stats.transformed == ()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
