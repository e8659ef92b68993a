"""moto's server for the benchmarks that talk to AWS: started on a free port, ready when its API answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def start_moto(work: Path, host: str = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """(process, URL) of a moto server on `host`; its log in WORK/moto.log, its large temp files in WORK."""
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).parent / "moto_server"
    env = {**os.environ, "TMPDIR": str(work)}  # large objects spill to temp files: keep them in our folder
    with open(work / "moto.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([str(moto), "-H", host, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                env=env)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start: {(work / 'moto.log').read_text()[-2000:]}") from None
            time.sleep(0.1)
