#!/usr/bin/env python3
"""A tiny SageMaker-style server for smctl's `check` tests; its defects are switched on by ENV in each Dockerfile."""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = os.environ.get("SERVE_HOST", "0.0.0.0")
PING_STATUS = int(os.environ.get("PING_STATUS", "200"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self._send(PING_STATUS if self.path == "/ping" else 404, b"")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200 if self.path == "/invocations" else 404, b'{"prediction": 1}')

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write(fmt % args + "\n")


# As PID 1 a process gets no default SIGTERM handling: a good server installs a handler.
if os.environ.get("ON_SIGTERM") == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"serving on {HOST}:8080", flush=True)
ThreadingHTTPServer((HOST, 8080), Handler).serve_forever()
