"""The options local-train and train, and local-process and process, share, declared once: the same flag means
the same thing in both places."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

HpOption = Annotated[list[str] | None, typer.Option(
    "--hp", metavar="KEY=VALUE", help="Hyperparameter KEY=VALUE (repeatable).")]
HyperparametersOption = Annotated[Path | None, typer.Option(
    "--hyperparameters", metavar="FILE", help="JSON file of hyperparameters.")]
InstanceTypeOption = Annotated[str | None, typer.Option(
    "--instance-type", metavar="TYPE", help="ml.* type: CPU/memory limits here, the instance in SageMaker.")]
InstanceCountOption = Annotated[int | None, typer.Option(
    "--instance-count", metavar="N", help="Number of hosts (1 or more).")]
EnvOption = Annotated[list[str] | None, typer.Option(
    "--env", metavar="KEY=VALUE", help="Container environment KEY=VALUE.")]
JobNameOption = Annotated[str | None, typer.Option(
    "--job-name", metavar="NAME", help="Training job name (default: IMAGE-TIMESTAMP).")]
EntrypointOption = Annotated[str | None, typer.Option(
    "--entrypoint", metavar="COMMAND", help="ContainerEntrypoint: replaces ENTRYPOINT, and `train` is not passed.")]
ArgsOption = Annotated[str | None, typer.Option(
    "--args", metavar="ARGS", help="ContainerArguments: replace `train`.")]
HpEncodingOption = Annotated[str | None, typer.Option(
    "--hp-encoding", metavar="json|str", help="json (framework estimators, the default) or str (generic Estimator).")]

# What SageMaker's job requests share (smctl train and smctl process).
VolumeSizeOption = Annotated[int, typer.Option("--volume-size", metavar="GB")]
VolumeKmsOption = Annotated[str | None, typer.Option("--volume-kms-key", metavar="KEY")]
OutputKmsOption = Annotated[str | None, typer.Option("--output-kms-key", metavar="KEY")]
SubnetOption = Annotated[list[str] | None, typer.Option("--subnet", metavar="ID", help="VPC subnet (repeatable).")]
SecurityGroupOption = Annotated[list[str] | None, typer.Option(
    "--security-group", metavar="ID", help="VPC security group (repeatable).")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="Tag (repeatable).")]
NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Return once the job is created.")]
CloudDryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the request; upload and create nothing.")]

# What local-process and process share (the processing job itself).
ProcessArguments = Annotated[list[str] | None, typer.Argument(
    metavar="ARGS", help="ContainerArguments, after -- (e.g. the script's arguments).")]
ProcessImageOption = Annotated[str | None, typer.Option(
    "--image", metavar="IMAGE", help="Image to run (default: smctl.toml [process] image).")]
ProcessInputOption = Annotated[list[str] | None, typer.Option(
    "--input", metavar="NAME=PATH[,OPT=VALUE...]",
    help="NAME=PATH|s3://..., options: local_path= (default /opt/ml/processing/input/NAME), mode=File|Pipe "
    "(Pipe: smctl process only), distribution=FullyReplicated|ShardedByS3Key, compression=None|Gzip (Pipe).")]
ProcessOutputOption = Annotated[list[str] | None, typer.Option(
    "--output", metavar="NAME=PATH[,OPT=VALUE...]",
    help="NAME=PATH|s3://..., options: local_path= (default /opt/ml/processing/output/NAME), "
    "upload=EndOfJob|Continuous.")]
ProcessCodeOption = Annotated[Path | None, typer.Option(
    "--code", metavar="SCRIPT", help="Run SCRIPT as ScriptProcessor does: input `code`, `python3 SCRIPT`.")]
ProcessMaxRuntimeOption = Annotated[int | None, typer.Option(
    "--max-runtime", metavar="SECONDS", help="MaxRuntimeInSeconds: stop the job after SECONDS.")]
ProcessJobNameOption = Annotated[str | None, typer.Option(
    "--job-name", metavar="NAME", help="Processing job name (default: IMAGE-TIMESTAMP).")]
ProcessEntrypointOption = Annotated[str | None, typer.Option(
    "--entrypoint", metavar="COMMAND", help="AppSpecification.ContainerEntrypoint: replaces the image's ENTRYPOINT.")]
ProcessArgsOption = Annotated[str | None, typer.Option(
    "--args", metavar="ARGS", help="AppSpecification.ContainerArguments (or give them after --).")]
