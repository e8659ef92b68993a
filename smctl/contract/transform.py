"""CreateTransformJob's limits on a job's batch settings, shared by smctl.toml's schema and the transform flags."""

from __future__ import annotations

MAX_PAYLOAD_MB = 100  # MaxPayloadInMB: 0-100 (0 streams the object chunked)
MAX_CONCURRENT_X_PAYLOAD = 100  # MaxConcurrentTransforms x MaxPayloadInMB must not exceed 100
