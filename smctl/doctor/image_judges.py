"""Pure judges for `smctl check IMAGE`: the facts of the image and of its runs in, one rule's verdict out."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from smctl.doctor.image_probes import FileFacts, FsListing, ImageFacts, TrainLookup, is_shell_form
from smctl.doctor.image_runs import PING_ERRORS_TO_GIVE_UP as PING_GIVE_UP
from smctl.doctor.image_runs import WILDCARDS, ServeRun, TrainRun
from smctl.doctor.model import CheckResult, Status, fail, ok, skip, warn
from smctl.units import human_size

INITS = ("tini", "tini-static", "dumb-init", "init", "docker-init", "catatonit", "s6-svscan", "supervisord")
EXEC_FORM = 'ENTRYPOINT ["/usr/local/bin/entry"]  (exec form: a JSON array)'
PRIVILEGED_HINTS = ("--privileged", "--cap-add", "--device", "--net=host", "--network=host", "--network host",
                    "--pid=host", "docker.sock")
PRIVILEGED_VOLUMES = ("/var/run/docker.sock", "/run/docker.sock", "/dev", "/sys", "/sys/fs/cgroup", "/proc")
CHMOD = "RUN chmod +x {path}"
CRLF_FIX = ("convert it to LF line endings: RUN sed -i 's/\\r$//' {path} (and add `* text eol=lf` to "
            ".gitattributes so Windows checkouts stay LF)")


def judge_platform(img: ImageFacts) -> CheckResult:
    plat = f"{img.os}/{img.architecture}" + (f"/{img.variant}" if img.variant else "")
    if img.os == "linux" and img.architecture == "amd64":
        return ok("platform", "platform", f"{plat}: what SageMaker runs", os=img.os, architecture=img.architecture)
    return fail("platform", "platform", f"{plat}: SageMaker runs linux/amd64 images only",
                "rebuild for amd64: smctl build (or docker build --platform linux/amd64)",
                os=img.os, architecture=img.architecture)


def judge_manifest(img: ImageFacts) -> CheckResult:
    mt = img.media_type or ""
    if "index" in mt or "manifest.list" in mt:
        return fail("manifest", "manifest", f"the engine stores {img.ref} as an index ({mt}), e.g. with "
                    "provenance/SBOM attestations: SageMaker wants a single image manifest",
                    "rebuild with smctl build (one image manifest); with buildx add --provenance=false --sbom=false",
                    media_type=mt)
    what = mt or "no manifest list known to this engine (its classic image store keeps one platform per image)"
    return ok("manifest", "manifest", f"single-platform image: {what}", media_type=mt or None)


def judge_entrypoint(img: ImageFacts) -> CheckResult:
    ep = img.entrypoint
    if not ep:
        return ok("entrypoint", "ENTRYPOINT", "none: `train` and `serve` run from PATH", entrypoint=None)
    data = {"entrypoint": list(ep)}
    if is_shell_form(ep):
        return fail("entrypoint", "ENTRYPOINT", f"shell form ({' '.join(ep)}): the `train`/`serve` argument never "
                    "reaches your program and SIGTERM stops at /bin/sh", f"use the exec form: {EXEC_FORM}", **data)
    first = PurePosixPath(ep[0]).name
    if first in INITS:
        return fail("entrypoint", "ENTRYPOINT", f"starts with {first} ({' '.join(ep)}): SageMaker does not allow "
                    "tini/init as the entrypoint", f"drop {first} and start your program directly: {EXEC_FORM}; "
                    "handle SIGTERM in it", **data)
    return ok("entrypoint", "ENTRYPOINT", f"exec form: {ep!r}", **data)


def _shebang_problem(f: FileFacts) -> tuple[str, str] | None:
    line = f.first_line or b""
    if line.startswith(b"\x7fELF"):
        return None
    if not line.startswith(b"#!"):
        return (f"{f.path} has no #! line: exec cannot start it", f"add a first line such as #!/usr/bin/env python3 "
                f"to {f.path}")
    if b"\r" in line:
        shown = line.rstrip(b"\n").decode(errors="replace")
        return (f"{f.path} has Windows (CRLF) line endings: its #! line reads {shown!r}, so the interpreter's "
                "name ends in \\r and is not found", CRLF_FIX.format(path=f.path))
    return None


def judge_train(lookup: TrainLookup | None, run: TrainRun | None) -> CheckResult:
    cid, title = "train", "`train` resolves"
    data: dict[str, Any] = {"via": lookup.via if lookup else None,
                            "program": lookup.program.path if lookup and lookup.program else None}
    logs = run.logs_tail[-5:] if run else ()
    if run is not None:
        data.update(start_error=run.start_error, exit_code=run.exit_code)
    if lookup is not None and lookup.program is not None:
        problem = _shebang_problem(lookup.program)
        if problem:
            return fail(cid, title, problem[0], problem[1], *logs, **data)
    if lookup is not None and lookup.program is None and lookup.not_executable:
        paths = ", ".join(f.path or f.asked for f in lookup.not_executable)
        return fail(cid, title, f"{paths} lacks the run bit: exec skips it (`executable file not found`)",
                    CHMOD.format(path=lookup.not_executable[0].path), *logs, **data)
    if run is not None and run.start_error:
        if lookup is not None and lookup.via == "path":
            return fail(cid, title, f"no executable `train` on PATH and no ENTRYPOINT ({run.start_error})",
                        "COPY train /usr/local/bin/train and RUN chmod +x /usr/local/bin/train (with a #! line), "
                        f"or {EXEC_FORM} that takes `train` as its argument", **data)
        return fail(cid, title, f"the container does not start: {run.start_error}",
                    f"make the ENTRYPOINT's program exist and executable: {EXEC_FORM}", **data)
    if run is not None and run.exit_code in (126, 127):
        text = " ".join(run.logs_tail)
        if "\r" in text or "\\r" in text:  # env prints the name escaped: 'python3\r'
            return fail(cid, title, f"a script has CRLF line endings: {run.logs_tail[-1]!r}",
                        CRLF_FIX.format(path="<the script>"), *logs, **data)
        return fail(cid, title, f"`train` exited {run.exit_code} (command not found or not executable)",
                    "make sure `train` (or the ENTRYPOINT's program) exists, has a #! line and chmod +x", *logs, **data)
    how = f"via the ENTRYPOINT {lookup.program.path}" if lookup and lookup.via == "entrypoint" and lookup.program \
        else (f"at {lookup.program.path}" if lookup and lookup.program else "")
    if run is None:
        return ok(cid, title, f"found {how}".strip(), **data)
    if run.timed_out:
        return ok(cid, title, f"starts {how} (still running after {run.seconds:g} s)".replace("  ", " "), **data)
    if run.exit_code == 0 or run.with_sample:
        return ok(cid, title, f"runs {how} (exit code {run.exit_code})".replace("  ", " "), **data)
    return ok(cid, title, f"runs {how}; exit code {run.exit_code} without data (pass --sample DIR to train for real)"
              .replace("  ", " "), *logs, **data)


def skipped_train(why: str) -> list[CheckResult]:
    """The train rules, not run (--serve-only): skipped, never passed."""
    return [skip("train", "`train` resolves", why), skip("train.sample", "writes /opt/ml/model", why)]


def skipped_serve(why: str) -> list[CheckResult]:
    """The serve rules, not run (--train-only): skipped, never passed."""
    return [skip(i, t, why) for i, t in _SERVE_RULES]


def judge_sample(run: TrainRun | None, timeout: float) -> CheckResult:
    cid, title = "train.sample", "writes /opt/ml/model"
    if run is None or not run.with_sample:
        return skip(cid, title, "not run: pass --sample DIR (a tiny `training` channel; NAME=DIR for others) to "
                    "train on it")
    data = {"exit_code": run.exit_code, "seconds": run.seconds, "model_files": list(run.model_files),
            "channels": list(run.channels)}
    if run.start_error:
        return skip(cid, title, "not judged: the container did not start (see `train resolves`)")
    if run.timed_out:
        return fail(cid, title, f"train still ran after {timeout:g} s on the sample (it ran as local-train runs "
                    "it: hostname algo-1, SageMaker's config files)", "read the last log lines below: a train "
                    "waiting on something never finishes; else use a smaller sample, or raise --train-timeout",
                    *run.logs_tail[-5:], **data)
    if run.exit_code != 0:
        reason = run.failure_text or (run.logs_tail[-1] if run.logs_tail else "")
        return fail(cid, title, f"train failed with exit code {run.exit_code}: {reason}".rstrip(": "),
                    "fix the error in the logs; write the reason to /opt/ml/output/failure (SageMaker shows it)",
                    *run.logs_tail[-10:], **data)
    if not run.model_files:
        return fail(cid, title, "train exited 0 but wrote nothing to /opt/ml/model: SageMaker would upload an empty "
                    "model.tar.gz", "save the model under /opt/ml/model (SM_MODEL_DIR)", **data)
    shown = ", ".join(run.model_files[:5]) + (" …" if len(run.model_files) > 5 else "")
    return ok(cid, title, f"{len(run.model_files)} file(s) in {run.seconds:g} s: {shown}", **data)


def judge_serve(s: ServeRun | None) -> list[CheckResult]:
    """Four rules from one serve run: listens on 0.0.0.0:8080, /ping 200, /invocations routed, stops on SIGTERM."""
    if s is None:
        return [skip(i, t, "not run") for i, t in _SERVE_RULES]
    if s.start_error:
        first = fail("serve.listen", "serve listens on 0.0.0.0:8080", f"`serve` does not start: {s.start_error}",
                     "put an executable `serve` on PATH (or an exec-form ENTRYPOINT that takes it)")
        return [first] + [skip(i, t, "not judged: serve did not start") for i, t in _SERVE_RULES[1:]]
    listen = _listen(s)
    if listen.status is Status.FAIL:
        ping = skip("serve.ping", "/ping answers 200", "not judged: serve is not reachable on 0.0.0.0:8080")
    else:
        ping = _ping(s)
    return [listen, ping, _invocations(s), _sigterm(s)]


_SERVE_RULES = (("serve.listen", "serve listens on 0.0.0.0:8080"), ("serve.ping", "/ping answers 200"),
                ("serve.invocations", "/invocations is routed"), ("serve.sigterm", "stops on SIGTERM"))
BIND_FIX = "bind 0.0.0.0:8080, e.g. gunicorn -b 0.0.0.0:8080, app.run(host=\"0.0.0.0\", port=8080)"


def _listen(s: ServeRun) -> CheckResult:
    cid, title = _SERVE_RULES[0]
    data = {"listeners": list(s.listeners), "exit_code": s.exit_code}
    logs = s.logs_tail[-5:]
    if s.listeners and any(a.rsplit(":", 1)[0] in WILDCARDS for a in s.listeners):
        return ok(cid, title, f"listening on {', '.join(s.listeners)}", **data)
    if s.listeners:
        return fail(cid, title, f"listens only on {', '.join(s.listeners)}: unreachable from outside the container",
                    BIND_FIX, *logs, **data)
    if s.exit_code is not None:
        return fail(cid, title, f"`serve` exited with code {s.exit_code} before answering",
                    "read the logs below; serve must keep running and listen on 8080", *logs, **data)
    if s.ping_status is not None:  # an HTTP answer through the published port: something listens beyond loopback
        return ok(cid, title, "answers HTTP through the published port 8080", **data)
    return fail(cid, title, f"nothing listens on port 8080 after {s.startup_timeout:g} s",
                "listen on port 8080: SageMaker sends /ping and /invocations there; " + BIND_FIX, *logs, **data)


def _ping(s: ServeRun) -> CheckResult:
    cid, title = _SERVE_RULES[1]
    data = {"status": s.ping_status, "seconds": s.ping_ok_after, "tries": s.tries}
    if s.ping_ok_after is not None:
        return ok(cid, title, f"200 after {s.ping_ok_after:g} s (startup window {s.startup_timeout:g} s)", **data)
    if s.ping_gave_up:
        return fail(cid, title, f"GET /ping answered {s.ping_status} {PING_GIVE_UP} times in a row: the server reports "
                    "an error (a model that failed to load? without --model the image has no model at /opt/ml/model)",
                    "pass the model the image expects: smctl check IMAGE --model model.tar.gz; and answer GET /ping "
                    "with 200 once it is loaded", *s.logs_tail[-5:], **data)
    if s.ping_status is not None:
        return fail(cid, title, f"GET /ping answered {s.ping_status}, never 200 within {s.startup_timeout:g} s",
                    "answer GET /ping with 200 (empty body) once the model is loaded", *s.logs_tail[-5:], **data)
    return fail(cid, title, f"GET /ping got no HTTP answer within {s.startup_timeout:g} s ({s.ping_error})",
                "serve /ping on 0.0.0.0:8080 (2 s per try; SageMaker's default startup window is 240 s)", **data)


def _invocations(s: ServeRun) -> CheckResult:
    cid, title = _SERVE_RULES[2]
    if not s.invocations_tried:
        return skip(cid, title, "not judged: serve never answered HTTP")
    data = {"status": s.invocations_status}
    if s.invocations_status is not None:
        return ok(cid, title, f"POST /invocations answered {s.invocations_status} (any answer proves the route)",
                  **data)
    return fail(cid, title, f"POST /invocations got no HTTP answer: {s.invocations_error}",
                "route POST /invocations to your handler and answer within 60 s", **data)


def _sigterm(s: ServeRun) -> CheckResult:
    cid, title = _SERVE_RULES[3]
    data = {"stopped": s.stopped, "seconds": s.stop_seconds, "grace": s.stop_grace}
    if s.stopped is None:
        return skip(cid, title, "not judged: serve was no longer running")
    if s.stopped:
        return ok(cid, title, f"stopped {s.stop_seconds:g} s after SIGTERM (grace {s.stop_grace:g} s)", **data)
    return fail(cid, title, f"still running {s.stop_grace:g} s after SIGTERM: SageMaker would SIGKILL it",
                "handle SIGTERM: as PID 1 your program gets no default handler (signal.signal(SIGTERM, ...)); "
                "in a shell wrapper use `exec`", **data)


def judge_drivers(listing: FsListing | None) -> CheckResult:
    cid, title = "nvidia_drivers", "no NVIDIA driver baked in"
    if listing is None:
        return skip(cid, title, "not judged: the filesystem could not be listed")
    if not listing.driver_libs:
        return ok(cid, title, f"no driver libraries among {listing.files:,} files", files=listing.files)
    shown = ", ".join(listing.driver_libs[:5]) + (" …" if len(listing.driver_libs) > 5 else "")
    return fail(cid, title, f"NVIDIA driver libraries in the image: {shown}",
                "do not install or COPY the driver: SageMaker mounts the host's (only /usr/local/cuda/compat and "
                "stubs may stay)", driver_libs=list(listing.driver_libs))


def judge_privileged(img: ImageFacts) -> CheckResult:
    cid, title = "privileged", "no privileged mode needed"
    hints = [f"label {k}={v}" for k, v in img.labels.items() if any(h in str(v) for h in PRIVILEGED_HINTS)]
    hints += [f"ENV {k}={v}" for k, v in img.env.items() if any(h in v for h in PRIVILEGED_HINTS)]
    hints += [f"VOLUME {v}" for v in img.volumes if v.rstrip("/") in PRIVILEGED_VOLUMES]
    if hints:
        return warn(cid, title, "the image hints at privileges SageMaker never grants", "SageMaker runs containers "
                    "unprivileged, without extra capabilities, devices or the Docker socket: drop what needs them",
                    *hints, hints=hints)
    return ok(cid, title, "no labels, ENV or VOLUMEs asking for privileges")


def judge_size(img: ImageFacts) -> CheckResult:
    return ok("size", "size and layers", f"{human_size(img.size)} in {img.layers} layers", bytes=img.size,
              layers=img.layers)
