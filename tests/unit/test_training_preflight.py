"""prepare(): one call checks the job, resolves its channels and plans it; bad jobs fail before any download."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.contract.layout import ChannelConfig
from smctl.errors import UsageError
from smctl.training.inputs import ChannelInput
from smctl.training.plan import TrainingJob
from smctl.training.preflight import prepare


def job(tmp_path: Path, *channels: ChannelInput, **changes) -> TrainingJob:
    return TrainingJob(image="algo:1", project_root=tmp_path, job_name="job-1", channels=channels, **changes)


def test_prepare_plans_the_job_with_resolved_channel_paths(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1\n")
    monkeypatch.chdir(tmp_path)
    events = []
    plan = prepare(job(tmp_path, ChannelInput(ChannelConfig("train", "Pipe"), "data")),
                   lambda kind, d: events.append(kind))
    assert plan.job.channels[0].source == data
    assert plan.hosts[0].pipes == {"train": [data / "a.csv"]}
    assert events == []


def test_a_bad_job_is_refused_before_any_channel_is_fetched(tmp_path):
    events = []
    bad = job(tmp_path, ChannelInput(ChannelConfig("train"), "s3://bucket/train"), instance_count=0)
    with pytest.raises(UsageError, match="instance count 0"):
        prepare(bad, lambda kind, d: events.append(kind))
    assert events == []


def test_a_channel_without_files_is_refused_naming_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="channel 'train': .* holds no files"):
        prepare(job(tmp_path, ChannelInput(ChannelConfig("train"), str(tmp_path / "empty"))), lambda k, d: None)
