"""Sharding, RecordIO framing and the Pipe-mode FIFO feeder, on real FIFOs."""

from __future__ import annotations

import gzip
import os
import threading
import time
from pathlib import Path

from smctl.contract.recordio import read_recordio, recordio_frames
from smctl.training.channels import epoch_order, list_channel_files, shard
from smctl.training.pipe_feeder import PipeFeeder


def test_sharded_by_key_gives_disjoint_shares_covering_everything(tmp_path):
    for i in range(10):
        (tmp_path / f"part-{i:02d}.csv").write_text(str(i))
    files = list_channel_files(tmp_path)
    shares = [shard(files, i, 3) for i in range(3)]
    assert sorted(f for s in shares for f in s) == files
    assert [len(s) for s in shares] == [4, 3, 3]
    assert not set(shares[0]) & set(shares[1])


def test_recordio_round_trip_with_padding():
    payloads = [b"", b"a", b"abcd", b"hello world"]
    stream = b"".join(f for p in payloads for f in recordio_frames(p))
    assert all(len(f) % 4 == 0 for p in payloads for f in recordio_frames(p))
    assert read_recordio(stream) == payloads


def _read_epoch(path: Path, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    with open(path, "rb") as f:
        return f.read()


def test_pipe_feeder_serves_two_epochs_in_order(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"A" * 3_000_000)
    (src / "b.txt").write_bytes(b"B-end")
    feeder = PipeFeeder(data, "train", list_channel_files(src)).start()
    try:
        assert (data / "train_0").is_fifo()
        assert not (data / "train_1").exists()
        first = _read_epoch(data / "train_0")
        second = _read_epoch(data / "train_1")
    finally:
        feeder.stop()
    assert first == second == b"A" * 3_000_000 + b"B-end"
    assert feeder.error is None
    assert not list(data.iterdir()), "stop() removes every FIFO"


def test_pipe_feeder_recordio_and_gzip(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    with gzip.open(src / "x.gz", "wb") as f:
        f.write(b"one")
    with gzip.open(src / "y.gz", "wb") as f:
        f.write(b"three")
    feeder = PipeFeeder(data, "ch", list_channel_files(src), record_wrapper="RecordIO", compression="Gzip").start()
    try:
        records = read_recordio(_read_epoch(data / "ch_0"))
    finally:
        feeder.stop()
    assert records == [b"one", b"three"]


def test_stop_unblocks_a_feeder_nobody_reads(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    feeder = PipeFeeder(tmp_path, "idle", [tmp_path / "f"]).start()
    t = threading.Thread(target=feeder.stop)
    t.start()
    t.join(timeout=15)
    assert not t.is_alive()
    assert not (tmp_path / "idle_0").exists()
    assert os.listdir(tmp_path) == ["f"]


def test_shuffle_seed_gives_a_new_reproducible_order_each_epoch_and_a_new_split():
    files = [Path(f"f{i:02}") for i in range(40)]
    e0, e1 = (epoch_order(files, 7, 0, 1, sharded=False, epoch=e) for e in (0, 1))
    assert sorted(e0) == sorted(e1) == files and e0 != files and e0 != e1
    assert epoch_order(files, 7, 0, 1, False, 1) == e1  # the same seed gives the same orders
    assert epoch_order(files, 8, 0, 1, False, 0) != e0
    assert epoch_order(files, None, 0, 1, False, 3) == files  # no ShuffleConfig: key order, every epoch
    for epoch in (0, 1):
        shares = [epoch_order(files, 7, i, 3, sharded=True, epoch=epoch) for i in range(3)]
        assert sorted(f for share in shares for f in share) == files  # disjoint and complete
    assert epoch_order(files, 7, 0, 3, True, 0) != epoch_order(files, 7, 0, 3, True, 1)


def test_pipe_feeder_follows_the_order_of_each_epoch(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    files = []
    for name in "abc":
        (data / name).write_bytes(name.encode() * 3)
        files.append(data / name)
    orders = {0: [files[2], files[0]], 1: [files[1]]}
    feeder = PipeFeeder(tmp_path, "ch", files, order=lambda epoch: orders.get(epoch, files)).start()
    try:
        got = []
        for epoch in (0, 1):
            path = tmp_path / f"ch_{epoch}"
            deadline = time.monotonic() + 10
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            got.append(path.read_bytes())
    finally:
        feeder.stop()
    assert got == [b"cccaaa", b"bbb"]
