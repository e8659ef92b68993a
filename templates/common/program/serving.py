"""The HTTP application SageMaker talks to (plain WSGI), run by every worker `serve` starts (see `serve`).

  GET  /ping                  200 with an empty body once the model is loaded, 503 while it loads
  POST /invocations           one request through your handlers in inference.py (a generator is streamed)
  GET  /execution-parameters  how batch transform should call this container (optional for SageMaker)

inference.py follows AWS's sagemaker-inference toolkit: model_fn(model_dir), input_fn(body, content_type),
predict_fn(data, model), output_fn(prediction, accept), or transform_fn(model, body, content_type, accept)
instead of the last three. Without input_fn or output_fn, the defaults below decode and encode CSV, JSON,
JSON Lines and NPY. Like the toolkit, code/inference.py inside model.tar.gz wins over the one in this image.

Response streaming (InvokeEndpointWithResponseStream, `smctl invoke --stream`): when transform_fn or output_fn
returns a generator, each item it yields (str or bytes) goes out as an HTTP chunk as soon as it is produced. The
default output_fn streams a predict_fn generator one line per record for CSV and JSON Lines. In batch transform
(SAGEMAKER_BATCH=true) the items are joined into one body instead: the platform reads whole answers.
"""

import csv
import importlib.util
import inspect
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
from pathlib import Path

# SageMaker always uses /opt/ml; SMCTL_OPT_ML exists only so tests can run this file outside a container.
OPT_ML = Path(os.environ.get("SMCTL_OPT_ML", "/opt/ml"))
CSV, JSON, JSONLINES, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"
SUPPORTED = (CSV, JSON, JSONLINES, NPY)
MB = 1024 * 1024
REALTIME_LIMIT = 6 * MB  # 6,291,456 bytes: SageMaker's limit on a real-time request and response body
log = logging.getLogger("serving")


class HandlerError(Exception):
    """inference.py does not follow the handler convention: reported at startup, before any request."""


class MediaTypeError(ValueError):
    """Raised by the default handlers for a type they cannot decode (415) or encode (406)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def default_input_fn(body: bytes, content_type: str):
    """CSV -> list of rows (numbers where they parse), JSON -> its value, JSON Lines -> list, NPY -> array."""
    if content_type == CSV:
        rows = csv.reader(io.StringIO(body.decode("utf-8")))
        return [[_number(v) for v in row] for row in rows if row]
    if content_type == JSON:
        return json.loads(body)
    if content_type == JSONLINES:
        return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
    if content_type == NPY:
        import numpy as np

        return np.load(io.BytesIO(body), allow_pickle=False)
    raise MediaTypeError(f"unsupported content type {content_type!r}: send one of {', '.join(SUPPORTED)}", 415)


def default_output_fn(prediction, accept: str):
    """One line per record for CSV and JSON Lines, so batch transform can line outputs up with inputs. No newline
    after the last line: batch transform's AssembleWith=Line adds one after each response body."""
    if hasattr(prediction, "tolist"):  # numpy arrays, torch tensors
        prediction = prediction.tolist()
    if inspect.isgenerator(prediction):
        if accept in (CSV, JSONLINES):
            return _stream_lines(prediction, accept)
        prediction = list(prediction)  # JSON and NPY need every record first
    if accept == JSON:
        return json.dumps(prediction)
    if accept == CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for record in _records(prediction):
            writer.writerow(record if isinstance(record, (list, tuple)) else [record])
        return out.getvalue().removesuffix("\n")
    if accept == JSONLINES:
        return "\n".join(json.dumps(record) for record in _records(prediction))
    if accept == NPY:
        import numpy as np

        out = io.BytesIO()
        np.save(out, np.asarray(prediction), allow_pickle=False)
        return out.getvalue()
    raise MediaTypeError(f"unsupported accept type {accept!r}: ask for one of {', '.join(SUPPORTED)}", 406)


def _stream_lines(records, accept: str):
    """One line per record as each is produced, no newline after the last (as the non-streaming output)."""
    for i, record in enumerate(records):
        if accept == JSONLINES:
            line = json.dumps(record)
        else:
            out = io.StringIO()
            csv.writer(out, lineterminator="").writerow(record if isinstance(record, (list, tuple)) else [record])
            line = out.getvalue()
        yield line if i == 0 else "\n" + line


def as_bytes(part) -> bytes:
    return part.encode("utf-8") if isinstance(part, str) else bytes(part)


def stream(parts):
    """Each part as soon as it is produced. An error midway is logged and cuts the connection before the last
    chunk: the caller sees the answer as incomplete (SageMaker: ModelStreamError StreamBroken), never as whole."""
    try:
        for part in parts:
            yield as_bytes(part)
    except Exception:
        log.exception("inference failed while streaming")
        raise


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _records(prediction) -> list:
    return list(prediction) if isinstance(prediction, (list, tuple)) else [prediction]


def find_inference_module(model_dir: Path) -> Path:
    """The toolkit's convention first (code/inference.py in model.tar.gz), then the copy baked into the image."""
    packaged = model_dir / "code" / "inference.py"
    return packaged if packaged.is_file() else Path(__file__).resolve().parent / "inference.py"


def load_handlers(path: Path) -> dict:
    """Import inference.py and pick its handlers. Raises HandlerError when they cannot work together."""
    sys.path.insert(0, str(path.parent))  # inference.py may import its neighbours
    spec = importlib.util.spec_from_file_location("inference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
    found = {name: getattr(module, name) for name in names if callable(getattr(module, name, None))}
    if "model_fn" not in found:
        raise HandlerError(f"{path} defines no model_fn(model_dir)")
    three = [name for name in ("input_fn", "predict_fn", "output_fn") if name in found]
    if "transform_fn" in found and three:
        raise HandlerError(f"{path} defines transform_fn and also {', '.join(three)}: "
                           "define transform_fn alone, or input_fn/predict_fn/output_fn without it")
    if "transform_fn" not in found and "predict_fn" not in found:
        raise HandlerError(f"{path} defines neither predict_fn(data, model) nor "
                           "transform_fn(model, body, content_type, accept)")
    log.info("%s defines %s", path, ", ".join(found))
    found.setdefault("input_fn", default_input_fn)
    found.setdefault("output_fn", default_output_fn)
    return found


class LoadedModel:
    """model_fn runs in a background thread, so /ping can answer 503 while it works."""

    def __init__(self, model_fn, model_dir: Path):
        self.model = None
        self.error = None
        self.ready = threading.Event()
        self.done = threading.Event()  # set once model_fn returned or raised
        self._thread = threading.Thread(target=self._load, args=(model_fn, model_dir), daemon=True)
        self._thread.start()

    def _load(self, model_fn, model_dir: Path) -> None:
        try:
            self.model = model_fn(str(model_dir))
            self.ready.set()
            log.info("model loaded from %s", model_dir)
        except Exception:
            self.error = traceback.format_exc().strip().splitlines()[-1]
            log.error("model_fn failed:\n%s", traceback.format_exc())
        finally:
            self.done.set()


def payload_limit():
    """6 MB for real-time; batch transform sends SAGEMAKER_MAX_PAYLOAD_IN_MB (0 = no limit) with its requests."""
    if os.environ.get("SAGEMAKER_BATCH") == "true":
        mb = int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB") or 6)
        return mb * MB if mb else None
    return REALTIME_LIMIT


PING_WAIT_SECONDS = 1.5  # under SageMaker's 2 s per ping


def model_wait_seconds() -> float:
    """How long an invocation waits for this worker's model: just under the server timeout (the watchdog ends a
    worker whose request takes longer)."""
    return max(1.0, int(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or 60) - 5.0)


def worker_count() -> int:
    return int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or len(os.sched_getaffinity(0)))


def media_type(header, default: str) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`; missing or */* -> default (application/json, as the toolkit)."""
    first = (header or "").split(",")[0].split(";")[0].strip().lower()
    return default if first in ("", "*/*") else first


STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 406: "406 Not Acceptable",
          413: "413 Payload Too Large", 415: "415 Unsupported Media Type", 500: "500 Internal Server Error",
          503: "503 Service Unavailable"}


class Watchdog(threading.Thread):
    """Ends this worker when one request outlives SAGEMAKER_MODEL_SERVER_TIMEOUT (as gunicorn's --timeout did):
    the server starts a fresh worker, the caller sees the connection drop."""

    def __init__(self, timeout: float):
        super().__init__(daemon=True, name="serving-watchdog")
        self.timeout = timeout
        self.started = None  # monotonic start of the request in progress (one at a time per worker)

    def run(self) -> None:
        while True:
            time.sleep(1.0)
            started = self.started
            if started is not None and time.monotonic() - started > self.timeout:
                log.error("a request ran over SAGEMAKER_MODEL_SERVER_TIMEOUT (%g s): restarting this worker",
                          self.timeout)
                os._exit(1)


class ServingApp:
    """The WSGI application: three routes, no framework (a framework's routing and request objects cost more
    per request than a small predictor)."""

    def __init__(self, handlers: dict, loaded: LoadedModel, watchdog=None):
        self.handlers = handlers
        self.loaded = loaded
        self.limit = payload_limit()
        self.watchdog = watchdog

    def __call__(self, environ, start_response):
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/invocations":
            if method != "POST":
                return respond(start_response, 405, "POST /invocations")
            if self.watchdog is None:
                return self.invocations(environ, start_response)
            self.watchdog.started = time.monotonic()
            try:
                return self.invocations(environ, start_response)
            finally:
                self.watchdog.started = None
        if path == "/ping":
            return self.ping(start_response)
        if path == "/execution-parameters":
            return respond(start_response, 200, json.dumps({"MaxConcurrentTransforms": worker_count(),
                                                            "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}),
                           JSON)
        return respond(start_response, 404, f"no route {path}: the server answers /ping and /invocations")

    def ping(self, start_response):
        # Every worker loads its own copy of the model: a worker still loading waits a little (SageMaker gives
        # each ping 2 s) so that pings do not flip between 200 and 503 while the workers finish loading.
        loaded = self.loaded
        loaded.done.wait(PING_WAIT_SECONDS)
        if loaded.error:
            return respond(start_response, 500, f"model_fn failed: {loaded.error}")
        if not loaded.ready.is_set():
            return respond(start_response, 503, "model is loading")
        return respond(start_response, 200, b"")

    def read_body(self, environ):
        """The request body, or None when it is over the limit (also for chunked bodies that announce none)."""
        limit, stream = self.limit, environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            return None if limit and int(length) > limit else stream.read(int(length))
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
                and not environ.get("wsgi.input_terminated"):
            return b""
        body = stream.read(limit + 1) if limit else stream.read()
        return None if limit and len(body) > limit else body

    def invocations(self, environ, start_response):
        limit, loaded, handlers = self.limit, self.loaded, self.handlers
        body = self.read_body(environ)
        if body is None:
            return respond(start_response, 413, f"request body over the {limit} byte limit ({limit // MB} MB)")
        # Each worker loads the model itself: /ping may have been answered by a worker that is ready while this
        # one still loads, so wait for it (within the server timeout) rather than fail the request.
        if not loaded.done.wait(model_wait_seconds()):
            return respond(start_response, 503, "model is still loading")
        if loaded.error:
            return respond(start_response, 500, f"model_fn failed: {loaded.error}")
        content_type = media_type(environ.get("CONTENT_TYPE"), JSON)
        accept = media_type(environ.get("HTTP_ACCEPT"), JSON)
        try:
            if "transform_fn" in handlers:
                result = handlers["transform_fn"](loaded.model, body, content_type, accept)
            else:
                data = handlers["input_fn"](body, content_type)
                prediction = handlers["predict_fn"](data, loaded.model)
                result = handlers["output_fn"](prediction, accept)
        except MediaTypeError as exc:
            return respond(start_response, exc.status, str(exc))
        except Exception as exc:  # the caller gets the message; the log gets the traceback
            log.exception("inference failed")
            return respond(start_response, 500, f"{type(exc).__name__}: {exc}")
        answer, response_type = result if isinstance(result, tuple) else (result, accept)
        if inspect.isgenerator(answer):
            if os.environ.get("SAGEMAKER_BATCH") != "true":  # no Content-Length: chunked transfer, a chunk per item
                start_response(STATUS[200], [("Content-Type", response_type)])
                return stream(answer)
            # Batch transform reads the whole answer before it writes it: one body, not a chunk per record (57,000
            # chunks for a 6 MB batch of CSV rows), and an error midway is a 500 with its message.
            try:
                answer = b"".join(as_bytes(part) for part in answer)
            except Exception as exc:
                log.exception("inference failed")
                return respond(start_response, 500, f"{type(exc).__name__}: {exc}")
        if isinstance(answer, str):
            answer = answer.encode("utf-8")
        if os.environ.get("SAGEMAKER_BATCH") != "true" and len(answer) > REALTIME_LIMIT:
            return respond(start_response, 500,
                           f"response body is {len(answer)} bytes: over SageMaker's {REALTIME_LIMIT} byte limit")
        return respond(start_response, 200, answer, response_type)


def respond(start_response, status: int, body, content_type: str = "text/plain"):
    body = as_bytes(body)
    headers = [("Content-Length", str(len(body)))]
    if body or status != 200:
        headers.insert(0, ("Content-Type", content_type))
    start_response(STATUS.get(status, f"{status} Error"), headers)
    return [body]


def create_app(model_dir=None, inference=None) -> ServingApp:
    """The server calls this in every worker (`serve` runs `granian --factory serving:create_app`)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
    model_dir = Path(model_dir) if model_dir else OPT_ML / "model"
    module = Path(inference) if inference else find_inference_module(model_dir)
    handlers = load_handlers(module)
    loaded = LoadedModel(handlers["model_fn"], model_dir)
    watchdog = None
    if os.environ.get("SMCTL_SERVE_WATCHDOG") == "1":  # set by `serve`: only a server worker may end itself
        watchdog = Watchdog(float(os.environ.get("SAGEMAKER_MODEL_SERVER_TIMEOUT") or 60))
        watchdog.start()
    return ServingApp(handlers, loaded, watchdog)
