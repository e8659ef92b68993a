"""Dump what a processing container sees into every output, then act on PROBE_* variables."""

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
config = json.loads(Path("/opt/ml/config/processingjobconfig.json").read_text())
resources = json.loads(Path("/opt/ml/config/resourceconfig.json").read_text())
seen = {
    "argv": sys.argv,
    "hostname": socket.gethostname(),
    "processingjobconfig": config,
    "resourceconfig": resources,
    "env": {k: v for k, v in os.environ.items() if not k.startswith(("PATH", "HOME", "LANG", "GPG", "PYTHON"))},
    "inputs": {i["InputName"]: sorted(str(p.relative_to(i["S3Input"]["LocalPath"]))
                                      for p in Path(i["S3Input"]["LocalPath"]).rglob("*") if p.is_file())
               for i in config["ProcessingInputs"]},
    "resolves": {h: socket.gethostbyname(h) for h in resources["hosts"]},
}
host = resources["current_host"]
for out in config["ProcessingOutputConfig"]["Outputs"]:
    folder = Path(out["S3Output"]["LocalPath"])
    (folder / f"{host}.json").write_text(json.dumps(seen, indent=1, sort_keys=True))
for i in config["ProcessingInputs"]:  # inputs are writable copies: writing must work and not reach the source
    Path(i["S3Input"]["LocalPath"], f"written-by-{host}").write_text("x")
if os.environ.get("PROBE_MESSAGE"):
    Path("/opt/ml/output/message").write_bytes(os.environ["PROBE_MESSAGE"].encode().decode("unicode_escape")
                                               .encode("latin-1"))
print(f"probe on {host}: {len(config['ProcessingInputs'])} input(s)", flush=True)
if os.environ.get("PROBE_SLEEP"):
    for n in range(int(os.environ["PROBE_SLEEP"])):
        for out in config["ProcessingOutputConfig"]["Outputs"]:
            Path(out["S3Output"]["LocalPath"], f"tick-{n}").write_text(str(n))
        time.sleep(1)
sys.exit(int(os.environ.get("PROBE_EXIT", "0")))
