"""smctl.toml -> ProjectSpec: discovery, defaults, every section, and errors that name file, key and value."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from smctl.contract.layout import ChannelConfig
from smctl.errors import ConfigError, ExitCode, UsageError
from smctl.project.sections import ChannelSpec, ProjectSpec, TrainSection
from smctl.project.spec import find_config, load_project, load_spec, override

FULL = """
[project]
name = "churn"
image = "team/churn-model"
tag = "v3"

[build]
dockerfile = "docker/Dockerfile"
context = "src"
platform = "linux/arm64"
build_args = { PYTHON = "3.11", WORKERS = 4 }
serve_dockerfile = "docker/Dockerfile.serve"
serve_image = "team/churn-serve"

[aws]
region = "eu-west-1"
profile = "ml"
ecr_repository = "team/churn"
account_id = "012345678901"
registry = "127.0.0.1:5000"

[train]
image = "127.0.0.1:5000/team/churn-model:v3"
instance_type = "ml.g5.xlarge"
instance_count = 2
input_mode = "FastFile"
hyperparameter_encoding = "str"
checkpoint_dir = "ckpt"
output_dir = "/abs/out"
job_name = "churn-1"
entrypoint = ["python", "-m", "train"]
arguments = ["--fast"]
gpus = ["0", "1"]
keep = true
read_only_channels = true

[train.hyperparameters]
lr = 0.01
epochs = 10
early_stop = true
optimizer = "adam"

[train.environment]
OMP_NUM_THREADS = 4
MODE = "train"

[train.channels.training]
path = "data/train"
content_type = "text/csv"
distribution = "ShardedByS3Key"

[train.channels.validation]
path = "s3://my-bucket/churn/val/"
input_mode = "Pipe"
record_wrapper = "RecordIO"
compression = "Gzip"
shuffle_seed = 42

[serve]
model = "model.tar.gz"
port = 0
instance_type = "ml.c5.large"
environment = { SAGEMAKER_MODEL_SERVER_WORKERS = "2" }
gpus = "none"
startup_timeout = 600
read_only_model = true
name = "churn-endpoint"

[transform]
input = "s3://my-bucket/churn/batch"
output = "out/batch"
content_type = "text/csv"
accept = "application/jsonlines"
split_type = "Line"
strategy = "MULTI_RECORD"
max_payload_mb = 6
max_concurrent = 4
assemble_with = "Line"
input_filter = "$[1:]"
output_filter = "$[0,-1]"
join_source = "Input"
compression = "Gzip"
timeout = 120
retries = 0
environment = { LOG_LEVEL = "debug" }
"""


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)  # fence: discovery never climbs above the test's folder
    path = folder / "smctl.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_spec(write(tmp_path, text))
    assert info.value.exit_code == ExitCode.USAGE
    return info.value


def test_full_example_round_trips_into_the_spec(tmp_path: Path):
    spec = load_spec(write(tmp_path / "proj", FULL))
    root = (tmp_path / "proj").resolve()
    assert (spec.root, spec.source) == (root, root / "smctl.toml")
    assert (spec.project.name, spec.project.image, spec.project.tag) == ("churn", "team/churn-model", "v3")
    b = spec.build
    assert (b.dockerfile, b.context, b.platform) == (root / "docker/Dockerfile", root / "src", "linux/arm64")
    assert dict(b.build_args) == {"PYTHON": "3.11", "WORKERS": "4"}
    assert (b.serve_dockerfile, b.serve_image) == (root / "docker/Dockerfile.serve", "team/churn-serve")
    assert dataclasses.asdict(spec.aws) == {"region": "eu-west-1", "profile": "ml", "ecr_repository": "team/churn",
                                            "account_id": "012345678901", "registry": "127.0.0.1:5000", "role": None,
                                            "bucket": None}
    t = spec.train
    assert (t.image, t.instance_type, t.instance_count, t.input_mode) == (
        "127.0.0.1:5000/team/churn-model:v3", "ml.g5.xlarge", 2, "FastFile")
    assert dict(t.hyperparameters) == {"lr": 0.01, "epochs": 10, "early_stop": True, "optimizer": "adam"}
    assert t.encoded_hyperparameters() == {"lr": "0.01", "epochs": "10", "early_stop": "True", "optimizer": "adam"}
    assert dict(t.environment) == {"OMP_NUM_THREADS": "4", "MODE": "train"}
    assert (t.checkpoint_dir, t.output_dir, t.job_name) == (root / "ckpt", Path("/abs/out"), "churn-1")
    assert (t.entrypoint, t.arguments, t.gpus, t.keep) == (("python", "-m", "train"), ("--fast",), "0,1", True)
    assert t.read_only_channels is True
    assert t.channels == (
        ChannelSpec(name="training", path=root / "data/train", content_type="text/csv", input_mode="FastFile",
                    distribution="ShardedByS3Key"),
        ChannelSpec(name="validation", path="s3://my-bucket/churn/val/", input_mode="Pipe",
                    record_wrapper="RecordIO", compression="Gzip", shuffle_seed=42),
    )
    assert t.channels[1].config.shuffle_seed == 42
    s = spec.serve
    assert (s.image, s.model, s.port, s.instance_type, s.gpus) == (
        "team/churn-serve:v3", root / "model.tar.gz", 0, "ml.c5.large", "none")
    assert (dict(s.environment), s.startup_timeout, s.read_only_model, s.name) == (
        {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}, 600, True, "churn-endpoint")
    x = spec.transform
    assert (x.image, x.model, x.input, x.output) == (
        "team/churn-serve:v3", root / "model.tar.gz", "s3://my-bucket/churn/batch", root / "out/batch")
    assert (x.content_type, x.accept, x.split_type, x.strategy) == (
        "text/csv", "application/jsonlines", "Line", "MultiRecord")
    assert (x.max_payload_mb, x.max_concurrent, x.assemble_with, x.input_filter, x.output_filter) == (
        6, 4, "Line", "$[1:]", "$[0,-1]")
    assert (x.join_source, x.compression, x.timeout, x.retries, dict(x.environment)) == (
        "Input", "Gzip", 120, 0, {"LOG_LEVEL": "debug"})
    json.dumps(spec.as_dict())  # JSON-ready for `--json`


def test_no_file_gives_every_default_named_after_the_current_folder(tmp_path: Path, monkeypatch):
    folder = tmp_path / "My Model_v2"
    folder.mkdir()
    monkeypatch.chdir(folder)
    spec = load_spec(None)
    here = folder.resolve()
    assert (spec.root, spec.source) == (None, None)
    assert (spec.project.name, spec.project.image, spec.project.tag) == ("my-model-v2", "my-model-v2", "latest")
    assert spec.aws.ecr_repository == "my-model-v2" and spec.aws.region is None
    assert (spec.build.dockerfile, spec.build.context, spec.build.platform) == (here / "Dockerfile", here,
                                                                                 "linux/amd64")
    t = spec.train
    assert (t.image, t.instance_type, t.instance_count, t.input_mode, t.hyperparameter_encoding) == (
        "my-model-v2:latest", "ml.m5.xlarge", 1, "File", "json")
    assert (t.output_dir, t.checkpoint_dir, t.gpus, t.keep, t.channels) == (
        here / ".smctl/output", None, "auto", False, ())
    assert (spec.serve.image, spec.serve.port, spec.serve.startup_timeout, spec.serve.name) == (
        "my-model-v2:latest", 8080, 240, "my-model-v2")
    x = spec.transform
    assert (x.output, x.split_type, x.strategy, x.max_payload_mb, x.max_concurrent, x.timeout, x.retries) == (
        here / ".smctl/transform-output", "None", None, None, None, 600, 3)


def test_load_project_without_a_file_is_the_defaults(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    assert find_config(start=tmp_path) is None
    assert load_project(start=tmp_path).source is None


def test_discovery_finds_the_file_from_a_child_folder(tmp_path: Path):
    path = write(tmp_path / "proj", '[project]\nname = "found"\n')
    child = tmp_path / "proj" / "src" / "deep"
    child.mkdir(parents=True)
    assert find_config(start=child) == path.resolve()
    spec = load_project(start=child)
    assert spec.project.name == "found" and spec.root == (tmp_path / "proj").resolve()


def test_discovery_stops_at_the_repository_root(tmp_path: Path):
    write(tmp_path, '[project]\nname = "outer"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert find_config(start=repo) is None


def test_explicit_config_wins_and_may_name_a_folder(tmp_path: Path):
    path = write(tmp_path / "elsewhere", '[project]\nname = "explicit"\n')
    write(tmp_path / "here", '[project]\nname = "nearest"\n')
    assert load_project(explicit=path, start=tmp_path / "here").project.name == "explicit"
    assert find_config(explicit=tmp_path / "elsewhere") == path.resolve()


def test_explicit_config_missing_names_the_path(tmp_path: Path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_project(explicit=missing)
    assert str(missing) in info.value.message and "does not exist" in info.value.message
    assert "--config" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE


def test_unreadable_file_is_a_config_error(tmp_path: Path):
    folder = tmp_path / "smctl.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot be read"):
        load_spec(folder)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[project]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_spec(bad)


def test_typo_in_a_key_suggests_the_close_one(tmp_path: Path):
    err = error_of(tmp_path, '[train]\ninstnce_type = "ml.m5.large"\n')
    path = (tmp_path / "smctl.toml").resolve()
    assert err.message == f"{path}: [train] key 'instnce_type' is not known"
    assert err.hint == "did you mean 'instance_type'?"


def test_typo_in_a_section_suggests_the_close_one(tmp_path: Path):
    err = error_of(tmp_path, "[trian]\ninstance_count = 2\n")
    assert err.message.endswith(": section [trian] is not known")
    assert err.hint == "did you mean [train]?"


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path: Path):
    assert error_of(tmp_path, '[train]\nregion = "us-east-1"\n').hint == "region belongs under [aws]"
    assert error_of(tmp_path, 'region = "us-east-1"\n').hint == "put it under [aws]"
    assert "must be a table" in error_of(tmp_path, "train = 3\n").message


def test_wrong_type_names_key_value_and_type(tmp_path: Path):
    err = error_of(tmp_path, '[train]\ninstance_count = "two"\n')
    assert err.message.endswith(": train.instance_count must be an integer >= 1, got 'two' (str)")
    assert err.details["problems"][0]["key"] == "train.instance_count"


def test_booleans_do_not_pass_as_integers_nor_integers_as_booleans(tmp_path: Path):
    assert "got True (bool)" in error_of(tmp_path, "[train]\ninstance_count = true\n").message
    assert "train.keep must be true or false, got 1 (int)" in error_of(tmp_path, "[train]\nkeep = 1\n").message
    assert "serve.port must be an integer from 0 to 65535" in error_of(tmp_path, "[serve]\nport = 70000\n").message


def test_invalid_toml_reports_line_and_column(tmp_path: Path):
    err = error_of(tmp_path, '[project]\nname = "ok"\n\n[train]\ninstance_count = \n')
    assert "invalid TOML at line 5, column" in err.message
    assert str((tmp_path / "smctl.toml").resolve()) in err.message
    assert err.details["line"] == 5


def test_enum_errors_list_the_allowed_values(tmp_path: Path):
    err = error_of(tmp_path, '[train]\ninput_mode = "file"\n')
    assert "train.input_mode must be one of File, FastFile, Pipe, got 'file'" in err.message
    assert err.hint == "did you mean 'File'?"
    err = error_of(tmp_path, '[transform]\nstrategy = "Batch"\n')
    assert "SingleRecord, MultiRecord (or SINGLE_RECORD, MULTI_RECORD)" in err.message


def test_every_problem_is_listed_at_once(tmp_path: Path):
    err = error_of(tmp_path, '[train]\ninstance_count = 0\ninput_mode = "pipe"\n[serve]\nstartup_timeout = 30\n')
    assert err.message.splitlines()[0].endswith(": 3 problems:")
    assert [p["key"] for p in err.details["problems"]] == [
        "train.instance_count", "train.input_mode", "serve.startup_timeout"]


def test_channel_short_form_takes_the_train_input_mode(tmp_path: Path):
    spec = load_spec(write(tmp_path, '[train]\ninput_mode = "Pipe"\n[train.channels]\ntraining = "data/train"\n'
                                     'test = "s3://bucket-1/test"\n'))
    training, test = spec.train.channel_inputs()
    assert training.path == (tmp_path / "data/train").resolve() and training.input_mode == "Pipe"
    assert training.config == ChannelConfig("training", input_mode="Pipe")
    assert (test.source, test.is_s3) == ("s3://bucket-1/test", True)


def test_channel_name_invalid(tmp_path: Path):
    err = error_of(tmp_path, '[train.channels]\n"my channel" = "data"\n')
    assert "channel name 'my channel' is not valid" in err.message
    assert "1-64 letters, digits" in (err.hint or "")


def test_channel_needs_a_path_and_gzip_needs_pipe(tmp_path: Path):
    err = error_of(tmp_path, '[train.channels.training]\npth = "data"\n')
    assert [p["message"] for p in err.details["problems"]] == [
        "[train.channels.training] key 'pth' is not known", "[train.channels.training] needs a path"]
    err = error_of(tmp_path, '[train.channels.training]\npath = "data"\ncompression = "Gzip"\n')
    assert 'needs input_mode = "Pipe"' in err.message


def test_more_than_twenty_channels_is_refused(tmp_path: Path):
    lines = "".join(f'c{i} = "data/{i}"\n' for i in range(21))
    assert "21 channels; SageMaker accepts at most 20" in error_of(tmp_path, "[train.channels]\n" + lines).message


def test_more_than_100_hyperparameters_is_refused(tmp_path: Path):
    lines = "".join(f"hp{i} = {i}\n" for i in range(101))
    err = error_of(tmp_path, "[train.hyperparameters]\n" + lines)
    assert "train.hyperparameters has 101 entries; SageMaker accepts at most 100" in err.message


def test_hyperparameter_value_over_the_limit_once_encoded(tmp_path: Path):
    long = "x" * 2501
    err = error_of(tmp_path, f'[train.hyperparameters]\nnote = "{long}"\n')
    assert "train.hyperparameters.note" in err.message and "2500" in err.message


def test_environment_key_invalid(tmp_path: Path):
    err = error_of(tmp_path, '[train.environment]\n"1BAD" = "x"\nGOOD = "y"\n')
    assert err.message.endswith(": train.environment.1BAD is not a valid name")
    assert err.hint == "names match [a-zA-Z_][a-zA-Z0-9_]*"
    err = error_of(tmp_path, '[serve.environment]\nDEBUG = true\n')
    assert "serve.environment.DEBUG must be a string, got True (bool)" in err.message
    assert err.hint == 'quote it: DEBUG = "true"'


def test_relative_paths_resolve_against_the_files_folder(tmp_path: Path, monkeypatch):
    path = write(tmp_path / "proj", '[train]\noutput_dir = "out"\n[train.channels]\ntraining = "../data"\n'
                                    '[serve]\nmodel = "~/models/m.tar.gz"\n')
    monkeypatch.chdir(tmp_path)
    spec = load_spec(path)
    assert spec.train.output_dir == (tmp_path / "proj" / "out").resolve()
    assert spec.train.channels[0].path == (tmp_path / "data").resolve()
    assert spec.serve.model == (Path.home() / "models" / "m.tar.gz").resolve()
    assert spec.build.dockerfile == (tmp_path / "proj" / "Dockerfile").resolve()


def test_s3_uris_stay_strings(tmp_path: Path):
    spec = load_spec(write(tmp_path, '[serve]\nmodel = "s3://b-1/m/model.tar.gz"\n'
                                     '[transform]\ninput = "s3://b-1/in/"\noutput = "s3://b-1/out"\n'))
    assert (spec.serve.model, spec.transform.input, spec.transform.output) == (
        "s3://b-1/m/model.tar.gz", "s3://b-1/in/", "s3://b-1/out")
    assert "an s3://bucket/prefix URI" in error_of(tmp_path, '[serve]\nmodel = "s3://B/x"\n').message
    assert "a local path or an s3:// URI" in error_of(tmp_path, '[serve]\nmodel = "gs://b/x"\n').message


def test_spec_is_frozen(tmp_path: Path):
    spec = load_spec(write(tmp_path, '[train.environment]\nA = "1"\n'))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.train = spec.train  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.train.instance_count = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.train.environment["A"] = "2"  # type: ignore[index]


def test_flags_override_the_file_and_none_keeps_it(tmp_path: Path, monkeypatch):
    spec = load_spec(write(tmp_path / "proj", '[train]\ninstance_count = 2\ngpus = 1\n'))
    monkeypatch.chdir(tmp_path)
    train = spec.train.with_overrides(instance_count=None, instance_type="ml.c5.xlarge", gpus=3, output_dir="o")
    assert (train.instance_count, train.instance_type, train.gpus) == (2, "ml.c5.xlarge", "3")
    assert train.output_dir == (tmp_path / "o").resolve()  # a flag's path is relative to where it was typed
    assert isinstance(train, TrainSection) and spec.train.instance_type == "ml.m5.xlarge"
    assert dataclasses.replace(spec, train=train).train.gpus == "3"
    assert override(None, 8080) == 8080 and override(0, 8080) == 0


def test_a_bad_flag_value_names_the_flag(tmp_path: Path):
    spec = load_spec(None)
    with pytest.raises(UsageError) as info:
        spec.serve.with_overrides(port=99999)
    assert info.value.message == "--port must be an integer from 0 to 65535, got 99999 (int)"
    with pytest.raises(TypeError):
        spec.serve.with_overrides(prot=1)


def test_transform_strategy_spelling_is_normalised_and_limits_checked(tmp_path: Path):
    spec = load_spec(write(tmp_path, '[transform]\nstrategy = "SINGLE_RECORD"\nmax_payload_mb = 0\n'))
    assert (spec.transform.strategy, spec.transform.max_payload_mb) == ("SingleRecord", 0)
    err = error_of(tmp_path, "[transform]\nmax_concurrent = 10\nmax_payload_mb = 20\n")
    assert "max_concurrent * transform.max_payload_mb must be <= 100, got 10 * 20 = 200" in err.message
    assert "retries must be an integer from 0 to 3" in error_of(tmp_path, "[transform]\nretries = 4\n").message
    assert "JSONPath" in error_of(tmp_path, '[transform]\ninput_filter = "features"\n').message


@pytest.mark.parametrize(("toml", "fragment"), [
    ('[project]\nname = "m"\n', "project.name must be 2-63 lowercase letters"),
    ('[project]\nimage = "My-Model"\n', "project.image must be a repository name"),
    ('[project]\nimage = "model:v1"\n', "project.image must be a repository name without a tag"),
    ('[project]\nimage = "a__b"\n', "aws.ecr_repository (default: project.image 'a__b')"),
    ('[aws]\necr_repository = "Team/x"\n', "aws.ecr_repository must be an ECR repository name"),
    ("[aws]\naccount_id = 12345678901\n", "aws.account_id must be a 12-digit AWS account id"),
    ('[aws]\nregion = "us-east"\n', "aws.region must be an AWS region"),
    ('[train]\ninstance_type = "m5.xlarge"\n', "train.instance_type must be an ml.* instance type"),
    ('[train]\nimage = "MyOrg/model:1"\n', "train.image must be an image reference"),
    ('[train]\njob_name = "my_job"\n', "train.job_name must be 1-63 letters, digits and hyphens"),
    ('[train]\nentrypoint = "python train.py"\n', "train.entrypoint must be a non-empty array of strings"),
    ('[train]\ngpus = "some"\n', 'train.gpus must be "auto", "all", "none", a count'),
    ("[train.hyperparameters]\nlayers = [1, 2]\n", "train.hyperparameters.layers must be a string, number"),
])
def test_schema_rules(tmp_path: Path, toml: str, fragment: str):
    assert fragment in error_of(tmp_path, toml).message


def test_gpus_and_images_in_their_accepted_forms(tmp_path: Path):
    from smctl.contract.instances import lookup_instance_type
    from smctl.engine.gpus import parse_gpus

    spec = load_spec(write(tmp_path, '[train]\ngpus = [0, 2]\nimage = "localhost:5000/a/b@sha256:' + "a" * 64
                           + '"\n[serve]\ngpus = 0\n[transform]\ngpus = "ALL"\n'))
    assert (spec.train.gpus, spec.serve.gpus, spec.transform.gpus) == ("0,2", "none", "all")
    assert spec.train.image.startswith("localhost:5000/a/b@sha256:")
    one = load_spec(write(tmp_path, '[train]\ngpus = ["1"]\n[serve]\ngpus = 1\n'))
    instance = lookup_instance_type("ml.g5.xlarge")
    assert parse_gpus(one.train.gpus, instance, True).device_ids == ("1",)  # device 1, not one GPU
    assert parse_gpus(one.serve.gpus, instance, True).count == 1


def test_separate_serve_image_defaults_from_the_project_image(tmp_path: Path):
    spec = load_spec(write(tmp_path, '[project]\nname = "mm"\ntag = "v1"\n[build]\nserve_dockerfile = "D.serve"\n'))
    assert (spec.build.serve_image, spec.serve.image, spec.train.image) == ("mm-serve", "mm-serve:v1", "mm:v1")
    assert spec.transform.image == "mm-serve:v1"


def test_every_schema_key_is_a_spec_field():
    from smctl.project import schema as spec_schema
    from smctl.project import sections as sections_module

    sections = {f.name: getattr(sections_module, str(f.type)) for f in dataclasses.fields(ProjectSpec)
                if f.name not in ("root", "source")}
    assert list(sections) == ["project", "aws", "build", "train", "serve", "transform", "process"]
    for name, cls in sections.items():
        assert [f.name for f in spec_schema.SECTIONS[name]] == [f.name for f in dataclasses.fields(cls)]
    assert [f.name for f in spec_schema.CHANNEL] == [f.name for f in dataclasses.fields(ChannelSpec)][1:]
