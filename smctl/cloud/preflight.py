"""Client-side checks for what SageMaker would otherwise refuse after minutes of provisioning: the role of another
account or not trusting SageMaker, S3 locations and images in another region, an image not in ECR or not one
linux/amd64 manifest, an instance type not offered for the job's kind, channels larger than the volume. Each failure
names the fix."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

from smctl.errors import UsageError
from smctl.events import OnEvent


class CrossAccountRoleError(UsageError):
    """The execution role belongs to another account than the caller's: SageMaker cannot pass it."""


class WrongRegionError(UsageError):
    """An S3 location is in another region than the job: SageMaker refuses it (or pays cross-region traffic)."""


def check_role_account(role_arn: str, account: str) -> None:
    """Raises: CrossAccountRoleError when the role's account is not `account`."""
    parts = role_arn.split(":")
    role_account = parts[4] if len(parts) > 4 else ""
    if role_account and role_account != account:
        raise CrossAccountRoleError(
            f"the role {role_arn} belongs to account {role_account}, and you are in account {account}: SageMaker "
            "runs jobs with a role of the account that creates them",
            f"use an execution role of account {account} (--role arn:aws:iam::{account}:role/NAME), or switch to "
            f"a profile of account {role_account} ([aws] profile, AWS_PROFILE)")


def check_regions(uris: Iterable[str], region: str, *, profile: str | None = None) -> None:
    """Raises: WrongRegionError naming the first s3:// location whose bucket is in another region."""
    from smctl.aws.s3_sync import bucket_region

    seen: dict[str, str | None] = {}
    for uri in uris:
        if not uri.startswith("s3://"):
            continue
        bucket = uri[5:].split("/", 1)[0]
        if bucket not in seen:
            seen[bucket] = bucket_region(bucket, region, profile)
        found = seen[bucket]
        if found is not None and found != region:
            raise WrongRegionError(
                f"{uri} is in {found}, and the job runs in {region}: SageMaker reads and writes S3 in its own region",
                f"use a bucket in {region} (--bucket, --output-path), or run the job in {found}: --region {found}")


class ImageNotInEcrError(UsageError):
    """The image URI names nothing in ECR: SageMaker would fail to pull it after provisioning."""


class UntrustedRoleError(UsageError):
    """The execution role does not exist, or its trust policy does not let SageMaker assume it."""


class InstanceTypeError(UsageError):
    """The instance type is not one SageMaker offers for this kind of job."""


class VolumeTooSmallError(UsageError):
    """File-mode channels are larger than the training volume they are downloaded to."""


def check_image(image: str, region: str, *, profile: str | None = None, command: str = "train") -> None:
    """The image is in ECR, in the job's region, and one linux/amd64 image manifest (as `smctl push` leaves it).

    Raises: WrongRegionError, ImageNotInEcrError, NotSingleImageError, WrongPlatformError, AwsError.
    """
    from smctl.aws import ecr
    from smctl.aws.ecr_images import ecr_image
    from smctl.errors import NotSingleImageError, WrongPlatformError

    registry = ecr.ecr_registry_of_image(image)
    if registry is None:
        return  # require_ecr_image has refused it already
    if registry.region != region:
        raise WrongRegionError(f"the image {image} is in ECR of {registry.region}, and the job runs in {region}: "
                               "SageMaker pulls images from its own region",
                               f"push it to {region} (smctl push --region {region}), or run the job in "
                               f"{registry.region}: --region {registry.region}")
    uri = ecr.parse_image_uri(image)
    found = ecr_image(ecr.client(ecr.session(region, profile)), uri, registry.account)
    if found is None:
        raise ImageNotInEcrError(f"ECR has no image {uri.repository}:{uri.tag or uri.digest or 'latest'} in "
                                 f"account {registry.account}, {region}: SageMaker could not pull {image}",
                                 f"push it first: smctl push (or add --push to smctl {command}); check the tag")
    if found.is_index:
        raise NotSingleImageError(
            f"{image} is a multi-platform index ({', '.join(found.platforms) or 'no platforms'}); SageMaker pulls "
            "one linux/amd64 image manifest", "rebuild with `smctl build` (single platform, no attestations; with "
            "buildx: `--platform linux/amd64 --provenance=false --sbom=false`), then smctl push")
    if found.platform is not None and found.platform != "linux/amd64":
        raise WrongPlatformError(f"{image} is {found.platform}; SageMaker runs linux/amd64 only",
                                 "rebuild it with `smctl build` (it builds for linux/amd64), then smctl push")


def check_role_trust(role_arn: str, *, region: str | None = None, profile: str | None = None) -> None:
    """The role exists and trusts sagemaker.amazonaws.com; not checked when IAM does not let the caller read it.

    Raises: UntrustedRoleError naming the statement to add.
    """
    from smctl.aws.roles import trust_policy
    from smctl.contract.execution_role import SAGEMAKER_PRINCIPAL, TRUST_STATEMENT, RoleArn, trusts

    exists, document = trust_policy(role_arn, region=region, profile=profile)
    name = RoleArn.parse(role_arn).name
    if not exists:
        raise UntrustedRoleError(f"the role {role_arn} does not exist",
                                 "create it (README: \"Running on SageMaker\") or fix --role / [aws] role; "
                                 "list roles: aws iam list-roles --query 'Roles[].Arn'")
    if document is not None and not trusts(document):
        raise UntrustedRoleError(
            f"the role {name} does not trust {SAGEMAKER_PRINCIPAL}: SageMaker could not assume it for the job",
            f"add {json.dumps(TRUST_STATEMENT)} to its trust policy: aws iam update-assume-role-policy "
            f"--role-name {name} --policy-document file://trust.json")


JOB_KINDS = {"training": "TrainingInstanceType", "hosting": "ProductionVariantInstanceType",
             "transform": "TransformInstanceType", "processing": "ProcessingInstanceType"}
FLAG = "--instance-type"


def check_instance_type(kind: str, instance_type: str, offered: dict[str, tuple[str, ...]]) -> str | None:
    """`offered`: each kind's instance types (botocore's model of the API). A type offered for another kind only,
    or not spelled as SageMaker's, is refused; one no kind lists (newer than this botocore?) gets a warning back.

    Raises: InstanceTypeError naming the closest types offered for `kind`.
    """
    import difflib

    mine = offered.get(kind) or ()
    if not mine or instance_type in mine:
        return None
    close = difflib.get_close_matches(instance_type if instance_type.startswith("ml.") else f"ml.{instance_type}",
                                      mine, n=3, cutoff=0.6)
    suggestion = f"{FLAG} {close[0]}" if close else f"{FLAG} {mine[0]}"
    others = [k for k, types in offered.items() if k != kind and instance_type in types]
    if not instance_type.startswith("ml."):
        raise InstanceTypeError(f"{instance_type} is not a SageMaker instance type (they start with ml.)",
                                f"e.g. {suggestion}")
    if others:
        raise InstanceTypeError(f"SageMaker offers {instance_type} for {' and '.join(others)} jobs, not for {kind}",
                                f"pick a {kind} instance type: {suggestion}"
                                + (f" (close ones: {', '.join(close)})" if len(close) > 1 else ""))
    return (f"{instance_type} is not among the {kind} instance types this botocore knows; SageMaker will say if it "
            f"does not offer it" + (f" (did you mean {close[0]}?)" if close else ""))


NVME_FAMILIES = re.compile(r"ml\.([a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p5|p5e|p5en|trn1|trn1n|trn2)\.")
GIB = 1 << 30


def check_volume(input_bytes: int, volume_gb: int, instance_type: str) -> None:
    """File-mode channels are copied to the training volume before the job starts: they must fit in it (with the
    model and output beside them). Instances with NVMe instance storage ignore VolumeSizeInGB: not checked.

    Raises: VolumeTooSmallError with the --volume-size that fits.
    """
    if NVME_FAMILIES.match(instance_type) or input_bytes <= volume_gb * GIB:
        return
    need = math.ceil(input_bytes * 1.2 / GIB) + 1
    raise VolumeTooSmallError(
        f"the File-mode channels hold {input_bytes / GIB:.1f} GiB, more than the {volume_gb} GB training volume "
        "they are copied to", f"give the job room: --volume-size {need}; or stream the data: --channel "
        "NAME=PATH,mode=FastFile (or Pipe)")


def check_job(kind: str, *, image: str, role_arn: str, instance_type: str | None, region: str,
              profile: str | None, on_event: OnEvent, command: str, image_pushed: bool = False) -> None:
    """The checks every SageMaker job and endpoint gets before anything is uploaded or created: the role exists and
    trusts SageMaker, the image is pullable by it, the instance type is offered for `kind`.

    Raises: UntrustedRoleError, WrongRegionError, ImageNotInEcrError, NotSingleImageError, WrongPlatformError,
    InstanceTypeError, AwsError.
    """
    check_role_trust(role_arn, region=region, profile=profile)
    if not image_pushed:
        check_image(image, region, profile=profile, command=command)
    if instance_type:
        warning = instance_type_for(kind, instance_type)[1]
        if warning:
            on_event("warning", {"message": warning})


def instance_type_for(kind: str, instance_type: str) -> tuple[tuple[str, ...], str | None]:
    """(types to accept beyond smctl's table, a warning or None) for a cloud job of `kind`: a type of the table is
    judged by it; any other by botocore's lists of what each API offers.

    Raises: InstanceTypeError (offered for another kind only, or not spelled ml.*).
    """
    from smctl.aws.sagemaker import offered_instance_types
    from smctl.contract.instances import INSTANCE_TYPES

    if instance_type in INSTANCE_TYPES:
        return (), None
    offered = {k: found for k, shape in JOB_KINDS.items() if (found := offered_instance_types(shape))}
    return (instance_type,), check_instance_type(kind, instance_type, offered)
