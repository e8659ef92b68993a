"""The multi-container plan, route and hop choice, without an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.errors import UsageError
from smctl.project.spec import load_project
from smctl.serving.endpoint import ServeConfig
from smctl.serving.pipeline import PipelineContainer, plan_pipeline, port_environment
from smctl.serving.pipeline_route import DIRECT, SERIAL, route_from, select_hops


def config(tmp_path: Path, **kw) -> ServeConfig:
    return ServeConfig(image="unused", name="pipe", project_root=tmp_path, port=9000, **kw)


def test_each_container_gets_its_own_bind_port_and_a_disjoint_safe_range():
    assert port_environment(0) == {"SAGEMAKER_BIND_TO_PORT": "8080", "SAGEMAKER_SAFE_PORT_RANGE": "10000-10999"}
    assert port_environment(14) == {"SAGEMAKER_BIND_TO_PORT": "8094", "SAGEMAKER_SAFE_PORT_RANGE": "24000-24999"}


def test_first_container_publishes_every_port_and_the_others_join_its_namespace(tmp_path):
    plan = plan_pipeline(config(tmp_path, environment={"SHARED": "1"}),
                         [PipelineContainer("a:1"), PipelineContainer("b:1", environment={"OWN": "2"})])
    first, second = (m.plan.container for m in plan.members)
    assert first.ports == {"8080/tcp": ("127.0.0.1", 9000), "8081/tcp": ("127.0.0.1", None)}
    assert first.network_of is None and first.name == "smctl-endpoint-pipe"
    assert first.labels["smctl.pipeline.containers"] == "container-1=8080,container-2=8081"
    assert second.network_of == "smctl-endpoint-pipe" and second.ports == {}
    assert second.labels["smctl.kind"] == "serve-member" and second.labels["smctl.pipeline.of"] == "pipe"
    assert second.environment == {"SHARED": "1", "OWN": "2", "SAGEMAKER_BIND_TO_PORT": "8081",
                                  "SAGEMAKER_SAFE_PORT_RANGE": "11000-11999"}
    assert plan.members[0].plan.model_dir != plan.members[1].plan.model_dir


def test_sixteen_containers_are_refused_with_sagemakers_words(tmp_path):
    with pytest.raises(UsageError, match="less than or equal to 15"):
        plan_pipeline(config(tmp_path), [PipelineContainer("a:1")] * 16)


@pytest.mark.parametrize(("given", "problem"), [
    (["a", None], "some containers have a hostname"),
    (["a", "a"], "used twice"),
    (["-bad", "b"], "is not valid"),
])
def test_hostnames_follow_createmodels_rules(tmp_path, given, problem):
    with pytest.raises(UsageError, match=problem):
        plan_pipeline(config(tmp_path), [PipelineContainer("a:1", hostname=h) for h in given])


def test_route_is_read_back_from_the_labels_in_order():
    labels = {"smctl.pipeline.mode": SERIAL, "smctl.pipeline.containers": "pre=8080,model=8081"}
    route = route_from("pipe", labels, lambda port: ("127.0.0.1", port + 1000))
    assert route is not None
    assert [(h.hostname, h.address) for h in route.hops] == [("pre", ("127.0.0.1", 9080)),
                                                            ("model", ("127.0.0.1", 9081))]
    assert route_from("single", {}, lambda port: None) is None


def test_serial_passes_all_and_direct_needs_a_known_target():
    labels = {"smctl.pipeline.containers": "pre=8080,model=8081"}
    serial = route_from("s", {**labels, "smctl.pipeline.mode": SERIAL}, lambda p: ("h", p))
    direct = route_from("d", {**labels, "smctl.pipeline.mode": DIRECT}, lambda p: ("h", p))
    assert serial is not None and direct is not None
    assert [h.hostname for h in select_hops(serial, None)] == ["pre", "model"]
    assert [h.hostname for h in select_hops(direct, "model")] == ["model"]
    for route, target in ((direct, None), (direct, "nope"), (serial, "model")):
        with pytest.raises(UsageError):
            select_hops(route, target)


def test_serve_containers_tables_are_read_and_checked(tmp_path):
    (tmp_path / "smctl.toml").write_text(
        '[serve]\nexecution_mode = "Direct"\n[[serve.containers]]\nimage = "pre:1"\nhostname = "pre"\n'
        '[[serve.containers]]\nimage = "model:1"\nhostname = "model"\nenvironment = { K = "v" }\n')
    serve = load_project(tmp_path / "smctl.toml").serve
    assert serve.execution_mode == "Direct"
    assert [(c["image"], c["hostname"], dict(c["environment"])) for c in serve.containers] == [
        ("pre:1", "pre", {}), ("model:1", "model", {"K": "v"})]
    (tmp_path / "smctl.toml").write_text('[[serve.containers]]\nimage = "Bad Image"\nport = 1\n')
    with pytest.raises(UsageError, match=r"serve\.containers\.1 image must be"):
        load_project(tmp_path / "smctl.toml")
