"""An HTTP stand-in for SageMaker's API endpoint: recorded answers for the states moto's server cannot play (a quota
refusal, throttling, expired credentials, a Failed endpoint, a job that never ends), moto's server for the rest.

SageMaker's API is awsJson1.1 (botocore/data/sagemaker/2017-07-24/service-2.json: "protocol": "json",
"jsonVersion": "1.1", "targetPrefix": "SageMaker"): every call is POST / with the header
X-Amz-Target: SageMaker.OPERATION and a JSON body; answers are JSON with Content-Type application/x-amz-json-1.1.
An error is {"__type": CODE, "message": TEXT}: botocore's JSONParser._do_error_parse (botocore/parsers.py) takes the
code from "__type" (dropping a "namespace#" prefix and a ":..." suffix) and the text from "message" or "Message",
whatever the HTTP status; the standard retry mode then retries by that code (ThrottlingException and its kin,
botocore/retries/standard.py ThrottledRetryableChecker).

Use: the `recorded_sagemaker` fixture (tests/conftest.py) points AWS_ENDPOINT_URL_SAGEMAKER here, so only the
SageMaker client comes through; S3, STS, CloudWatch Logs still go straight to moto's server.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "application/x-amz-json-1.1"
# An answer that is no answer: this call goes on to moto's server. Queue it after recorded ones (e.g. two
# ThrottlingExceptions, then FORWARD) so that what follows is moto's again.
FORWARD: tuple[int, dict] = (0, {})


def error(code: str, message: str, status: int = 400) -> tuple[int, dict]:
    """An awsJson1.1 error answer, as botocore reads it (the code from "__type", the text from "message")."""
    return status, {"__type": code, "message": message}


class RecordedSageMaker:
    """A loopback server: recorded answers for the operations given some, moto's server for every other."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.calls: list[tuple[str, dict]] = []
        self._answers: dict[str, list[tuple[int, dict]]] = {}
        self._streams: dict[str, tuple[int, dict[str, str], list[bytes]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="recorded-sagemaker", daemon=True)

    def answer(self, operation: str, *answers: tuple[int, dict]) -> None:
        """Queue answers for an operation (e.g. "StopTrainingJob"): each (HTTP status, JSON body); they are
        served in order and the last one repeats. Operations without answers are forwarded to moto's server
        unchanged (request and answer bytes), so state that moto can play stays moto's."""
        if not answers:
            raise ValueError("answer() needs at least one (status, body)")
        with self._lock:
            self._answers[operation] = list(answers)

    def answer_stream(self, endpoint: str, *messages: bytes, status: int = 200,
                      headers: dict[str, str] | None = None) -> None:
        """sagemaker-runtime InvokeEndpointWithResponseStream (restJson: POST /endpoints/NAME/invocations-response-
        stream) on `endpoint`: an event-stream body made of `messages` (smctl.serving.eventstream's encodings),
        written one by one; point AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME here. The request lands in `calls`."""
        with self._lock:
            self._streams[endpoint] = (status, dict(headers or {}), list(messages))

    def start(self) -> RecordedSageMaker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _next(self, operation: str, body: dict) -> tuple[int, dict]:
        """Record the call; the answer queued for it (FORWARD when none)."""
        with self._lock:
            self.calls.append((operation, body))
            queued = self._answers.get(operation)
            if not queued:
                return FORWARD
            return queued.pop(0) if len(queued) > 1 else queued[0]

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


def _handler(server: RecordedSageMaker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/invocations-response-stream"):
                return self._stream(urllib.parse.unquote(self.path.split("/")[2]), body)
            target = self.headers.get("X-Amz-Target", "")
            operation = target.removeprefix("SageMaker.")
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = {"__raw__": body.decode(errors="replace")}
            status, answer = server._next(operation, request)
            if (status, answer) == FORWARD:
                # Host, Authorization and the body go on as they came: moto picks the service from the signature.
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                status, resp_headers, data = server._forward("POST", self.path, headers, body)
                self.send_response(status)
                for key, value in resp_headers:
                    if key.lower() not in ("connection", "transfer-encoding", "server", "date"):
                        self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
                return
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", f"recorded-{len(server.calls)}")
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, endpoint: str, body: bytes) -> None:
            with server._lock:
                server.calls.append(("InvokeEndpointWithResponseStream", {
                    "EndpointName": endpoint, "Body": body.decode(errors="replace"),
                    "ContentType": self.headers.get("Content-Type"),
                    "Accept": self.headers.get("X-Amzn-SageMaker-Accept")}))
                status, headers, messages = server._streams.get(endpoint) or (
                    400, {"x-amzn-ErrorType": "ValidationError"},
                    [json.dumps({"message": f"Endpoint {endpoint} of account 123456789012 not found."}).encode()])
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/vnd.amazon.eventstream"
                                                         if status == 200 else "application/json"))
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            for message in messages:  # one write each: the client reads them as they come
                self.wfile.write(message)
                self.wfile.flush()
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass  # the CLI under test owns stderr

    return Handler


# Recorded answers: the shapes of AWS's API reference (DescribeTrainingJob, DescribeEndpoint,
# DescribeTransformJob "Response Syntax"; botocore's service-2.json DescribeTrainingJobResponse,
# DescribeEndpointOutput, DescribeTransformJobResponse with their required members), the texts as SageMaker writes
# them (quoted in public bug reports: see each).

def quota_refusal(quota: str, requested: int = 1) -> tuple[int, dict]:
    """ResourceLimitExceeded as SageMaker words it (aws/amazon-sagemaker-examples#307 for CreateEndpoint,
    gabehollombe-aws/jupyter-notebooks#1 for CreateTrainingJob): `quota` e.g. 'ml.p3.2xlarge for training job
    usage'. The error shape is service-2.json's ResourceLimitExceeded (a Message member; HTTP 400)."""
    return error("ResourceLimitExceeded",
                 f"The account-level service limit '{quota}' is 0 Instances, with current utilization of 0 Instances "
                 f"and a request delta of {requested} Instances. Please contact AWS support to request an increase "
                 "for this limit.")


# ThrottlingException, "Rate exceeded": aws/sagemaker-python-sdk#645 (CreateTrainingJob) and #2293.
THROTTLED = error("ThrottlingException", "Rate exceeded")
# ExpiredTokenException while an SDK waits on a training job: autogluon/autogluon-cloud#133.
EXPIRED = error("ExpiredTokenException", "The security token included in the request is expired")


def training_not_found() -> tuple[int, dict]:
    """DescribeTrainingJob of a name no job has: SageMaker answers ValidationException (not the modelled
    ResourceNotFound) with this text."""
    return error("ValidationException", "Requested resource not found.")


def endpoint_not_found(name: str, region: str = "us-east-1", account: str = "123456789012") -> tuple[int, dict]:
    """DescribeEndpoint of a name no endpoint has (ValidationException naming the ARN)."""
    return error("ValidationException", f'Could not find endpoint "arn:aws:sagemaker:{region}:{account}:endpoint/'
                                        f'{name}".')


def training_job(name: str, status: str, *, secondary: str, failure_reason: str | None = None,
                 transitions: tuple[tuple[str, str], ...] = ()) -> tuple[int, dict]:
    """A DescribeTrainingJob answer (TrainingJobStatus InProgress|Completed|Failed|Stopping|Stopped)."""
    body: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status, "SecondaryStatus": secondary,
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://sagemaker-us-east-1-123456789012/{name}/output/model.tar.gz"},
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1",
                                   "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
        "OutputDataConfig": {"S3OutputPath": "s3://sagemaker-us-east-1-123456789012/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": 1700000000.0, "LastModifiedTime": 1700000300.0,
        "SecondaryStatusTransitions": [
            {"Status": s, "StartTime": 1700000000.0 + 60 * i, "StatusMessage": m}
            for i, (s, m) in enumerate(transitions)],
    }
    if failure_reason:
        body["FailureReason"] = failure_reason
    return 200, body


# A training job stopped by StopTrainingJob: SecondaryStatus Stopped, no FailureReason (the API reference:
# "FailureReason: If the training job failed, the reason it failed").
STOPPED_TRANSITIONS = (("Starting", "Preparing the instances for training"),
                       ("Downloading", "Downloading input data"),
                       ("Training", "Training image download completed. Training in progress."),
                       ("Stopping", "Stopping the training job"),
                       ("Stopped", "Training job stopped"))
IN_PROGRESS_TRANSITIONS = (("Starting", "Preparing the instances for training"),)

# The FailureReason of an endpoint whose container never answered GET /ping: aws/amazon-sagemaker-examples#993.
PING_FAILED = ("The primary container for production variant AllTraffic did not pass the ping health check. Please "
               "check CloudWatch logs for this endpoint.")


def endpoint(name: str, status: str, *, failure_reason: str | None = None,
             config: str = "recorded-config") -> tuple[int, dict]:
    """A DescribeEndpoint answer (EndpointStatus Creating|InService|Failed|...)."""
    body: dict[str, Any] = {
        "EndpointName": name, "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
        "EndpointConfigName": config, "EndpointStatus": status,
        "CreationTime": 1700000000.0, "LastModifiedTime": 1700000600.0,
    }
    if failure_reason:
        body["FailureReason"] = failure_reason
    return 200, body


def processing_job(name: str, status: str, *, failure_reason: str | None = None, exit_message: str | None = None,
                   instance_count: int = 1) -> tuple[int, dict]:
    """A DescribeProcessingJob answer (ProcessingJobStatus InProgress|Completed|Failed|Stopping|Stopped) with the
    required members of service-2.json's DescribeProcessingJobResponse; ExitMessage as byoc-metadata describes it
    (the container's /opt/ml/output/message, first 1 KB)."""
    body: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}",
        "ProcessingJobStatus": status,
        "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1"},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": instance_count, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
        "CreationTime": 1700000000.0, "LastModifiedTime": 1700000300.0,
    }
    if failure_reason:
        body["FailureReason"] = failure_reason
    if exit_message:
        body["ExitMessage"] = exit_message
    return 200, body
