"""Config files byte-exact, hyperparameter encodings, limits, instance types."""

from __future__ import annotations

import pytest

from smctl.contract import failure, hyperparameters, layout
from smctl.contract.instances import lookup_instance_type
from smctl.contract.layout import ChannelConfig
from smctl.errors import UsageError


def test_resource_config_one_host_has_every_key_real_jobs_write():
    text = layout.dump_config(layout.resource_config("algo-1", ["algo-1"], "ml.m5.xlarge"))
    assert text == (
        '{"current_host": "algo-1", "current_instance_type": "ml.m5.xlarge", '
        '"current_group_name": "homogeneousCluster", "hosts": ["algo-1"], '
        '"instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "ml.m5.xlarge", '
        '"hosts": ["algo-1"]}], "network_interface_name": "eth0"}'
    )


def test_resource_config_three_hosts_each_sees_itself():
    hosts = layout.host_names(3)
    assert hosts == ["algo-1", "algo-2", "algo-3"]
    cfg = layout.resource_config("algo-2", hosts, "ml.c5.xlarge")
    assert cfg["current_host"] == "algo-2"
    assert cfg["hosts"] == hosts
    assert cfg["instance_groups"][0]["hosts"] == hosts


def test_input_data_config_mixed_channels_content_type_only_when_given():
    text = layout.dump_config(layout.input_data_config([
        ChannelConfig("training", content_type="text/csv"),
        ChannelConfig("validation", input_mode="Pipe", distribution="ShardedByS3Key", record_wrapper="RecordIO"),
    ]))
    assert text == (
        '{"training": {"ContentType": "text/csv", "TrainingInputMode": "File", '
        '"S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}, '
        '"validation": {"TrainingInputMode": "Pipe", "S3DistributionType": "ShardedByS3Key", '
        '"RecordWrapperType": "RecordIO"}}'
    )


def test_no_channels_and_no_hyperparameters_are_empty_objects():
    assert layout.dump_config(layout.input_data_config([])) == "{}"
    assert layout.dump_config(hyperparameters.encode_hyperparameters({})) == "{}"


def test_json_encoding_matches_framework_estimators():
    hps = {"epochs": 10, "lr": 0.1, "flag": True, "name": "x", "none": None, "list": [1, 2]}
    assert hyperparameters.encode_hyperparameters(hps, "json") == {
        "epochs": "10", "lr": "0.1", "flag": "true", "name": "x", "none": "null", "list": "[1, 2]",
    }


def test_str_encoding_matches_the_generic_estimator():
    hps = {"epochs": 10, "flag": True, "name": "x"}
    assert hyperparameters.encode_hyperparameters(hps, "str") == {"epochs": "10", "flag": "True", "name": "x"}


def test_more_than_100_hyperparameters_is_refused():
    with pytest.raises(UsageError, match="101 hyperparameters"):
        hyperparameters.encode_hyperparameters({f"k{i}": i for i in range(101)})


def test_hyperparameter_value_over_2500_characters_is_refused():
    with pytest.raises(UsageError, match="'big' is 2501 characters"):
        hyperparameters.encode_hyperparameters({"big": "x" * 2501})


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "café"])
def test_invalid_channel_names_are_refused(name):
    with pytest.raises(UsageError, match="channel name"):
        layout.input_data_config([ChannelConfig(name)])


def test_invalid_input_mode_lists_the_allowed_values():
    with pytest.raises(UsageError) as exc:
        layout.input_data_config([ChannelConfig("train", input_mode="Stream")])
    assert exc.value.hint == "use one of: File, FastFile, Pipe"


def test_environment_limits():
    with pytest.raises(UsageError, match="'1BAD'"):
        layout.validate_environment({"1BAD": "x"})
    with pytest.raises(UsageError, match="513 characters"):
        layout.validate_environment({"OK": "v" * 513})
    assert layout.validate_environment({"A_1": "v"}) == {"A_1": "v"}


def test_failure_reason_is_first_1024_characters_or_the_exit_code():
    assert failure.failure_reason("x" * 2000, 1) == "x" * 1024
    assert failure.failure_reason(None, 3) == "AlgorithmError: , exit code: 3"
    assert failure.failure_reason("  \n", 2) == "AlgorithmError: , exit code: 2"


def test_instance_types_known_and_close_matches_suggested():
    it = lookup_instance_type("ml.g5.12xlarge")
    assert (it.vcpus, it.memory_gib, it.gpus) == (48, 192, 4)
    with pytest.raises(UsageError) as exc:
        lookup_instance_type("ml.m5.xlage")
    assert "ml.m5.xlarge" in (exc.value.hint or "")


@pytest.mark.parametrize(("name", "use", "close"), [
    ("ml.c5.large", "training", "ml.c5.xlarge"),
    ("ml.t3.medium", "hosting", "ml.m5.xlarge"),
    ("ml.r5.large", "transform", "ml.m5.large"),
])
def test_types_an_api_does_not_offer_are_refused_for_that_use(name, use, close):
    with pytest.raises(UsageError) as err:
        lookup_instance_type(name, use)
    assert f"{name} is not a SageMaker {use} instance type" in err.value.message
    assert close in err.value.hint and "--instance-type" in err.value.hint
    assert lookup_instance_type(name).name == name  # the limits are still known


def test_offered_types_pass_for_their_use():
    assert lookup_instance_type("ml.c5.xlarge", "training").vcpus == 4
    assert lookup_instance_type("ml.t3.medium", "training").memory_gib == 4
    assert lookup_instance_type("local", "hosting").name == "local"
