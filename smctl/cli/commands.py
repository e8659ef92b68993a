"""Every sub-command: its name, the module that registers it and its one-line help, in `smctl --help`'s order.

`smctl --help` lists the commands from this table, and a command's module is imported only when that command runs
(importing all of them cost about a third of `--help`'s start-up). tests/cli/test_command_table.py checks the
table against what each module's register() defines, so the two cannot drift.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str  # the smctl.cli module whose register(app) defines the command
    summary: str  # the first paragraph of its help, on one line: what `smctl --help` shortens to fit


COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "smctl.cli.init",
        "Create a SageMaker-ready container project (Dockerfile, train and serve or a processing script, "
        "sample data, smctl.toml).",
    ),
    "deps": Entry(
        "smctl.cli.deps",
        "Pin the packages your Python code imports (versions from this environment) into requirements.txt.",
    ),
    "local-train": Entry(
        "smctl.cli.train",
        "Run IMAGE train exactly as a SageMaker training job would, on the local Docker engine.",
    ),
    "local-process": Entry(
        "smctl.cli.process",
        "Run a processing job (IMAGE, inputs, outputs) exactly as SageMaker Processing would, on the local "
        "engine.",
    ),
    "train": Entry(
        "smctl.cli.cloud_train",
        "Run the training job local-train runs on SageMaker itself: upload, create, follow the logs, fetch "
        "the model.",
    ),
    "process": Entry(
        "smctl.cli.cloud_process",
        "Run the processing job local-process runs on SageMaker itself: upload the inputs, create, follow the"
        " logs, download the outputs.",
    ),
    "deploy": Entry(
        "smctl.cli.deploy",
        "Deploy what local-serve runs as a SageMaker endpoint (model, config, endpoint) and wait until "
        "InService.",
    ),
    "undeploy": Entry(
        "smctl.cli.deploy",
        "Delete a SageMaker endpoint with its endpoint config and model (asks first).",
    ),
    "local-transform": Entry(
        "smctl.cli.transform",
        "Run a SageMaker batch transform job locally: split, batch, invoke, and assemble one .out per input "
        "file.",
    ),
    "transform": Entry(
        "smctl.cli.cloud_transform",
        "Run the batch transform local-transform runs on SageMaker itself; a local --output gets the results.",
    ),
    "jobs": Entry(
        "smctl.cli.jobs",
        "This project's SageMaker training, transform and processing jobs and endpoints (those smctl train, "
        "transform, process and deploy created from it), newest first, with their status now.",
    ),
    "stop": Entry("smctl.cli.jobs", "Stop a SageMaker training, transform or processing job (asks first)."),
    "build": Entry(
        "smctl.cli.build",
        "Build the image for SageMaker: linux/amd64 through the engine's classic builder (one image manifest,"
        " no attestation index), labelled with the project, smctl's version and the git commit.",
    ),
    "push": Entry(
        "smctl.cli.push",
        "Push the image to ECR: create the repository when missing (scan on push), log in with your AWS "
        "credentials in memory only, push, and verify the registry holds one linux/amd64 image manifest.",
    ),
    "local-serve": Entry(
        "smctl.cli.serve",
        "Run IMAGE serve as a SageMaker endpoint would, and wait until /ping answers.",
    ),
    "endpoints": Entry("smctl.cli.serve", "List the local endpoints: name, image, URL, status, model."),
    "local-stop": Entry(
        "smctl.cli.serve",
        "Stop and remove local endpoints (SIGTERM, then SIGKILL after 30 s, as SageMaker).",
    ),
    "logs": Entry(
        "smctl.cli.serve",
        "Print an endpoint's container logs (stdout and stderr); with --cloud, a SageMaker job's or "
        "endpoint's.",
    ),
    "invoke": Entry(
        "smctl.cli.invoke",
        "POST a request to an endpoint's /invocations: the body to stdout, status and timing to stderr.",
    ),
    "runtime": Entry(
        "smctl.cli.runtime",
        "Serve SageMaker Runtime's InvokeEndpoint locally, so boto3 invoke_endpoint reaches local endpoints.",
    ),
    "doctor": Entry(
        "smctl.cli.doctor",
        "Check Docker, ports, disk space, GPU, AWS credentials and the project; exit 6 if any check fails.",
    ),
    "check": Entry(
        "smctl.cli.check",
        "Check IMAGE against SageMaker's container contract (train, serve, signals, platform); exit 6 on a "
        "failure.",
    ),
    "package": Entry("smctl.cli.package", "Pack, inspect and safely unpack model.tar.gz."),
}
