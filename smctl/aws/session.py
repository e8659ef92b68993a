"""boto3 sessions and clients that honour the usual AWS settings, and botocore's errors as AwsError."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from smctl.errors import AwsError, CredentialsExpiredError

CREDENTIALS_HINT = ("run `aws configure`, set AWS_PROFILE to a configured profile, or export AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY")
REGION_HINT = ("pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or run `aws configure set region REGION`")
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired")
# botocore's standard retry mode: throttling and transient errors retried with exponential backoff (max_attempts
# counts the retries). For SageMaker's client (aws/sagemaker.py) and the others smctl polls while a job runs.
RETRIES = {"mode": "standard", "max_attempts": 10}
POLLED = ("logs", "sagemaker")


def session(region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 session: AWS_PROFILE, AWS_REGION/AWS_DEFAULT_REGION and AWS_ENDPOINT_URL apply as in the AWS CLI.

    Raises:
        AwsError: the profile does not exist.
    """
    import boto3

    region = region or os.environ.get("AWS_REGION") or None  # botocore itself reads only AWS_DEFAULT_REGION
    with aws_errors("opening an AWS session"):
        return boto3.session.Session(profile_name=profile, region_name=region)


def client(service: str, region: str | None = None, profile: str | None = None) -> Any:
    """A client for `service`; AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>) redirects it, e.g. to moto.

    Raises:
        AwsError: no region, unknown profile.
    """
    from botocore.config import Config

    config = Config(retries=dict(RETRIES)) if service in POLLED else None  # botocore rewrites the dict
    with aws_errors(f"creating the {service} client"):
        return session(region, profile).client(service, config=config)


@contextmanager
def aws_errors(action: str, *, bucket: str | None = None) -> Iterator[None]:
    """Turn botocore's and boto3's exceptions into AwsError (exit 4) with a hint that fixes them."""
    from boto3.exceptions import Boto3Error, S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except S3UploadFailedError as exc:
        cause = exc.__context__
        if isinstance(cause, ClientError):
            raise _client_error(cause, action, bucket) from exc
        raise AwsError(f"{action} failed: {exc}", "check the bucket, the key and your permissions") from exc
    except ClientError as exc:
        raise _client_error(exc, action, bucket) from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise _botocore_error(exc, action) from exc


def _botocore_error(exc: Exception, action: str) -> AwsError:
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return AwsError(f"no AWS credentials found while {action}", CREDENTIALS_HINT)
    if isinstance(exc, bce.NoRegionError):
        return AwsError(f"no AWS region is configured (needed for {action})", REGION_HINT)
    if isinstance(exc, bce.ProfileNotFound):
        return AwsError(f"the AWS profile {exc.kwargs.get('profile')!r} does not exist",
                        "list your profiles with `aws configure list-profiles`, or fix AWS_PROFILE / --profile")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ConnectionClosedError):
        return AwsError(f"cannot reach the AWS endpoint while {action}: {exc}",
                        "check your network and the region; if AWS_ENDPOINT_URL is set, check that it is right")
    return AwsError(f"{action} failed: {exc}", "rerun with -v for details")


def _client_error(exc: Any, action: str, bucket: str | None) -> AwsError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", ""))
    message = err.get("Message") or code
    if code in ("NoSuchBucket", "404", "NotFound") and bucket:
        return AwsError(f"the S3 bucket {bucket!r} does not exist (while {action})",
                        f"create it (aws s3 mb s3://{bucket}) or fix the bucket name in the s3:// URI")
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
        return AwsError(f"access denied while {action}",
                        "check the IAM permissions of your credentials (AWS_PROFILE) for this bucket and key")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException",
                "InvalidClientTokenId", "AuthFailure"):
        return AwsError(f"AWS rejected your credentials while {action} ({code})", CREDENTIALS_HINT)
    if code in EXPIRED_CODES:
        return CredentialsExpiredError(f"your AWS credentials have expired ({code}, while {action})",
                                       f"{CredentialsExpiredError.refresh} and try again")
    return AwsError(f"{action} failed: {code}: {message}", "check the request above; rerun with -v for details")
