"""What the container's own AWS SDK sees: who it is, an S3 object, where its credentials came from.

Key id, secret and token are printed reversed: the test reverses them back and looks for the plain text
everywhere else (docker inspect, argv, files, smctl's output); the reversed copies here must not count.
"""
import os
import time

import boto3


def one_call():
    session = boto3.Session()  # a fresh chain each call: the container asks the endpoint again
    creds = session.get_credentials()
    frozen = creds.get_frozen_credentials()
    arn = session.client("sts").get_caller_identity()["Arn"]
    body = session.client("s3").get_object(Bucket=os.environ["PROBE_BUCKET"], Key=os.environ["PROBE_KEY"])
    return {
        "arn": arn,
        "body": body["Body"].read().decode(),
        "method": creds.method,
        "key_reversed": frozen.access_key[::-1],
        "secret_reversed": frozen.secret_key[::-1],
        "token_reversed": (frozen.token or "")[::-1],
        "secret_in_env": sorted(k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
                                if k in os.environ),
        "region": os.environ.get("AWS_REGION"),
    }


def run_calls(count, pause):
    out = []
    for i in range(count):
        if i:
            time.sleep(pause)
        out.append(one_call())
    return out
