"""The container's side of a multi-model endpoint (SageMaker DG mms-container-apis): POST /models, GET /models
(paged with next_page_token / nextPageToken), DELETE /models/NAME, POST /models/NAME/invoke."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from pathlib import PurePosixPath

from smctl.errors import MultiModelContractError, SmctlError

MODELS_DIR = PurePosixPath("/opt/ml/models")
TARGET_HEADER = "X-Amzn-SageMaker-Target-Model"
MAX_PAGES = 1000  # a container whose nextPageToken never ends
CONTRACT_HINT = ("the image must implement SageMaker's multi-model API (load, list, get, unload, invoke under "
                 "/models): see which rule it breaks with smctl check --multi-model IMAGE")


class ContainerModels:
    """The /models API of one container, one HTTP connection per call."""

    def __init__(self, host: str, port: int, *, timeout: float, endpoint: str) -> None:
        self.host, self.port, self.timeout, self.endpoint = host, port, timeout, endpoint

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers in lower case, body); Raises: SmctlError when the container cannot be reached."""
        from smctl.serving.invoke import ContainerConnection

        conn = ContainerConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        except TimeoutError:
            raise SmctlError(f"endpoint {self.endpoint}: {method} {path} got no answer within {self.timeout:g} s",
                             f"see what the container does: smctl logs {self.endpoint}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise SmctlError(f"endpoint {self.endpoint}: {method} {path} failed: {exc}",
                             f"check it runs: smctl endpoints (and its logs: smctl logs {self.endpoint})") from None
        finally:
            conn.close()

    def broken(self, call: str, status: int, body: bytes, expected: str) -> MultiModelContractError:
        text = body[:500].decode("utf-8", errors="replace")
        return MultiModelContractError(
            f"endpoint {self.endpoint}: {call} answered HTTP {status} ({expected} expected): {text or '(empty body)'}",
            CONTRACT_HINT, details={"call": call, "status": status, "body": text})

    def list_models(self) -> list[str]:
        """Every loaded model's name, following nextPageToken. Raises: MultiModelContractError."""
        names: list[str] = []
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            path = "/models" + (f"?next_page_token={urllib.parse.quote(token)}" if token else "")
            status, _, body = self.call("GET", path, headers={"Accept": "application/json"})
            if status != 200:
                raise self.broken(f"GET {path}", status, body, "200 with {\"models\": [...]}")
            try:
                doc = json.loads(body)
                names += [str(m["modelName"]) for m in doc["models"]]
            except (ValueError, KeyError, TypeError):
                raise self.broken(f"GET {path}", status, body,
                                  "{\"models\": [{\"modelName\", \"modelUrl\"}, ...]}") from None
            token = doc.get("nextPageToken") if isinstance(doc, dict) else None
            if not token:
                return names
            if token in seen:
                raise self.broken(f"GET {path}", status, body, f"a new nextPageToken (got {token!r} twice)")
            seen.add(token)
        raise self.broken("GET /models", 200, b"", f"the last page within {MAX_PAGES} pages")

    def load_model(self, name: str, target: str) -> int:
        """200 (loaded), 409 (already loaded) or 507 (out of memory). Raises: MultiModelContractError otherwise."""
        doc = {"model_name": name, "url": str(MODELS_DIR / name / "model")}
        status, _, body = self.call("POST", "/models", json.dumps(doc).encode(), {
            "Content-Type": "application/json", "Accept": "application/json", TARGET_HEADER: target})
        if status in (200, 409, 507):
            return status
        raise self.broken(f"POST /models {json.dumps(doc)}", status, body, "200, 409 or 507")

    def unload_model(self, name: str) -> None:
        """DELETE /models/NAME; 404 (not loaded) is fine. Raises: MultiModelContractError otherwise."""
        path = f"/models/{urllib.parse.quote(name)}"
        status, _, body = self.call("DELETE", path)
        if status not in (200, 404):
            raise self.broken(f"DELETE {path}", status, body, "200 or 404")

    def invoke(self, name: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        return self.call("POST", f"/models/{urllib.parse.quote(name)}/invoke", body, headers)
