"""SageMaker's FailureReason: what a failed training job reports, from /opt/ml/output/failure or the exit code."""

from __future__ import annotations

FAILURE_REASON_LIMIT = 1024


def failure_reason(failure_text: str | None, exit_code: int) -> str:
    """SageMaker's FailureReason: the first 1024 characters of output/failure, else the exit code."""
    if failure_text and failure_text.strip():
        return failure_text[:FAILURE_REASON_LIMIT]
    return f"AlgorithmError: , exit code: {exit_code}"
