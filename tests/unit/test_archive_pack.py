"""smctl.archive packing: SageMaker's layout, reproducible bytes, link and file-type rules, atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from smctl.archive import pack_model, pack_trees, plan_pack, write_pack
from smctl.errors import ArchiveError, ExitCode, UsageError


def make_model(root: Path) -> Path:
    """A small model folder: weights, a nested folder, an executable script, an internal symlink."""
    (root / "model").mkdir(parents=True)
    m = root / "model"
    (m / "model.pth").write_bytes(os.urandom(300_000))
    (m / "config.json").write_text('{"layers": 12}\n' * 1000)
    (m / "tokenizer").mkdir()
    (m / "tokenizer" / "vocab.txt").write_text("hello\nworld\n" * 500)
    (m / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (m / "run.sh").chmod(0o700)
    (m / "latest.pth").symlink_to("model.pth")
    return m


def members(archive: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getmembers()


def names(archive: Path) -> list[str]:
    return [m.name for m in members(archive)]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_contents_sit_at_the_archive_root_sorted(tmp_path):
    src = make_model(tmp_path)
    res = pack_model(src, tmp_path / "model.tar.gz")
    assert names(res.path) == ["config.json", "latest.pth", "model.pth", "run.sh", "tokenizer",
                               "tokenizer/vocab.txt"]
    assert res.entries == 6
    assert res.size == res.path.stat().st_size
    assert res.sha256 == hashlib.sha256(res.path.read_bytes()).hexdigest()


def test_headers_are_normalised(tmp_path, monkeypatch):
    src = make_model(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    res = pack_model(src, tmp_path / "model.tar.gz")
    by_name = {m.name: m for m in members(res.path)}
    for m in by_name.values():
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "root", "root", 1700000000)
    assert by_name["tokenizer"].mode == 0o755
    assert by_name["run.sh"].mode == 0o755  # the owner's x bit is enough
    assert by_name["model.pth"].mode == 0o644
    raw = res.path.read_bytes()
    assert raw[3] == 0  # FLG: no file name, no comment
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0


def test_pack_is_byte_identical_across_runs_mtimes_owners_and_threads(tmp_path):
    src = make_model(tmp_path)
    first = pack_model(src, tmp_path / "a.tar.gz", threads=1)
    for p in [src, *src.rglob("*")]:
        os.utime(p, (1_000_000, 1_000_000), follow_symlinks=False)
        os.chown(p, 1234, 5678, follow_symlinks=False)
    (src / "model.pth").chmod(0o600)
    (src / "tokenizer").chmod(0o700)
    second = pack_model(src, tmp_path / "b.tar.gz", threads=4)
    assert first.sha256 == second.sha256
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


@pytest.mark.parametrize("level", [1, 3, 6, 9])
def test_every_level_is_deterministic_across_thread_counts(tmp_path, level):
    src = tmp_path / "src"
    src.mkdir()
    # several compression blocks, so the threads really split the work
    text = b"".join(b'{"id": %d, "w": [0.1, 0.2, %d]}\n' % (i, i * 7) for i in range(150_000))
    (src / "data.jsonl").write_bytes(text)
    (src / "weights.bin").write_bytes(os.urandom(2_500_000))
    digests = {pack_model(src, tmp_path / f"t{n}.tar.gz", level=level, threads=n).sha256 for n in (1, 2, 5)}
    assert len(digests) == 1
    with gzip.open(tmp_path / "t1.tar.gz") as f:  # plain gzip that the standard library reads
        assert len(f.read()) > len(text)


def test_higher_levels_compress_text_better(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    lines = (b'{"token": "t%d", "score": %d}\n' % (i % 977, i) for i in range(200_000))
    (src / "data.jsonl").write_bytes(b"".join(lines))
    sizes = [pack_model(src, tmp_path / f"l{lv}.tar.gz", level=lv).size for lv in (1, 9)]
    assert sizes[1] < sizes[0]


def test_gnu_tar_and_gzip_read_the_archive(tmp_path):
    src = make_model(tmp_path)
    res = pack_model(src, tmp_path / "model.tar.gz")
    subprocess.run(["gzip", "-t", str(res.path)], check=True)
    listing = subprocess.run(["tar", "tzf", str(res.path)], check=True, capture_output=True, text=True).stdout
    assert listing.split() == ["config.json", "latest.pth", "model.pth", "run.sh", "tokenizer/",
                               "tokenizer/vocab.txt"]
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(res.path), "-C", str(out)], check=True)
    assert (out / "model.pth").read_bytes() == (src / "model.pth").read_bytes()
    assert os.readlink(out / "latest.pth") == "model.pth"


def test_code_dir_goes_under_code(tmp_path):
    src = make_model(tmp_path)
    code = tmp_path / "src_code"
    code.mkdir()
    (code / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    (code / "requirements.txt").write_text("numpy\n")
    plan = plan_pack(src, tmp_path / "model.tar.gz", code=code)
    assert plan.warnings == ()
    write_pack(plan)
    listed = names(tmp_path / "model.tar.gz")
    assert listed[:3] == ["code", "code/inference.py", "code/requirements.txt"]
    assert "config.json" in listed


def test_code_dir_without_inference_py_is_a_warning(tmp_path):
    src = make_model(tmp_path)
    code = tmp_path / "src_code"
    code.mkdir()
    (code / "serve.py").write_text("print(1)\n")
    plan = plan_pack(src, tmp_path / "model.tar.gz", code=code)
    assert any("no inference.py" in w for w in plan.warnings)


def test_code_dir_clashing_with_an_existing_code_folder_is_refused(tmp_path):
    src = make_model(tmp_path)
    (src / "code").mkdir()
    code = tmp_path / "src_code"
    code.mkdir()
    with pytest.raises(ArchiveError, match="already has a code entry"):
        plan_pack(src, tmp_path / "model.tar.gz", code=code)


def test_links_inside_are_kept_and_made_relative(tmp_path):
    src = make_model(tmp_path)
    (src / "tokenizer" / "abs-link").symlink_to(src / "model.pth")  # absolute, but inside DIR
    (src / "tokenizer" / "up").symlink_to("../config.json")
    res = pack_model(src, tmp_path / "model.tar.gz")
    links = {m.name: m.linkname for m in members(res.path) if m.issym()}
    assert links == {"latest.pth": "model.pth", "tokenizer/abs-link": "../model.pth",
                     "tokenizer/up": "../config.json"}


def test_link_outside_is_refused_then_dereferenced(tmp_path):
    src = make_model(tmp_path)
    (src / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(ArchiveError) as err:
        plan_pack(src, tmp_path / "model.tar.gz")
    assert str(src / "passwd") in err.value.message and "/etc/passwd" in err.value.message
    assert "--dereference" in (err.value.hint or "")
    assert not (tmp_path / "model.tar.gz").exists()
    res = pack_model(src, tmp_path / "model.tar.gz", dereference=True)
    with tarfile.open(res.path) as tar:
        member = tar.getmember("passwd")
        assert member.isfile()
        assert tar.extractfile(member).read() == Path("/etc/passwd").read_bytes()  # type: ignore[union-attr]


def test_dereferenced_folder_is_copied_and_loops_are_refused(tmp_path):
    src = make_model(tmp_path)
    ext = tmp_path / "shared"
    (ext / "sub").mkdir(parents=True)
    (ext / "sub" / "a.txt").write_text("a")
    (src / "shared").symlink_to(ext)
    res = pack_model(src, tmp_path / "model.tar.gz", dereference=True)
    assert {"shared", "shared/sub", "shared/sub/a.txt"} <= set(names(res.path))
    (ext / "sub" / "loop").symlink_to(ext)
    with pytest.raises(ArchiveError, match="loop"):
        plan_pack(src, tmp_path / "other.tar.gz", dereference=True)


def test_missing_source_code_or_output_folder_is_a_usage_error(tmp_path):
    src = make_model(tmp_path)
    for args, kwargs, named in (((tmp_path / "nope", tmp_path / "m.tar.gz"), {}, tmp_path / "nope"),
                                ((src, tmp_path / "m.tar.gz"), {"code": tmp_path / "src"}, tmp_path / "src"),
                                ((src, tmp_path / "out" / "m.tar.gz"), {}, tmp_path / "out")):
        with pytest.raises(UsageError, match="does not exist") as err:
            plan_pack(*args, **kwargs)
        assert str(named) in err.value.message and err.value.exit_code == ExitCode.USAGE


def test_dangling_link_is_refused_even_with_dereference(tmp_path):
    src = make_model(tmp_path)
    (src / "gone").symlink_to("does-not-exist.bin")
    for deref in (False, True):
        with pytest.raises(ArchiveError, match="does not exist"):
            plan_pack(src, tmp_path / "model.tar.gz", dereference=deref)


def test_hard_links_are_stored_as_regular_files(tmp_path):
    src = make_model(tmp_path)
    os.link(src / "model.pth", src / "twin.pth")
    res = pack_model(src, tmp_path / "model.tar.gz")
    with tarfile.open(res.path) as tar:
        twin = tar.getmember("twin.pth")
        assert twin.isreg()
        assert tar.extractfile(twin).read() == (src / "model.pth").read_bytes()  # type: ignore[union-attr]


def test_fifo_and_socket_are_refused_by_name(tmp_path):
    src = make_model(tmp_path)
    os.mkfifo(src / "pipe")
    with pytest.raises(ArchiveError, match=r"pipe is a FIFO"):
        plan_pack(src, tmp_path / "model.tar.gz")
    os.unlink(src / "pipe")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(src / "sock"))
        with pytest.raises(ArchiveError, match=r"sock is a socket"):
            plan_pack(src, tmp_path / "model.tar.gz")


def test_output_inside_the_folder_is_left_out(tmp_path):
    src = make_model(tmp_path)
    first = plan_pack(src, src / "model.tar.gz")
    assert any("left out of the archive" in w for w in first.warnings)
    write_pack(first)
    again = pack_model(src, src / "model.tar.gz", force=True)
    assert "model.tar.gz" not in names(again.path)
    assert leftovers(src) == []


def test_level_out_of_range_is_a_usage_error(tmp_path):
    src = make_model(tmp_path)
    with pytest.raises(UsageError, match="level 0"):
        pack_model(src, tmp_path / "model.tar.gz", level=0)
    assert not (tmp_path / "model.tar.gz").exists()


def test_bad_source_date_epoch_is_a_usage_error(tmp_path, monkeypatch):
    src = make_model(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        pack_model(src, tmp_path / "model.tar.gz")
    assert not (tmp_path / "model.tar.gz").exists() and leftovers(tmp_path) == []


def test_ctrl_c_while_writing_leaves_no_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(20 << 20))

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pack_model(src, tmp_path / "model.tar.gz", on_progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_overwrite_keeps_the_old_archive_until_the_new_one_is_complete(tmp_path):
    src = make_model(tmp_path)
    out = tmp_path / "model.tar.gz"
    out.write_bytes(b"old archive")

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pack_model(src, out, force=True, on_progress=interrupt)
    assert out.read_bytes() == b"old archive"
    assert leftovers(tmp_path) == []


def test_file_that_shrinks_while_packing_is_reported(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "grow.bin").write_bytes(os.urandom(3 << 20))
    plan = plan_pack(src, tmp_path / "model.tar.gz")
    (src / "grow.bin").write_bytes(b"short")
    with pytest.raises(ArchiveError, match="changed while it was being packed"):
        write_pack(plan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_pack_trees_merges_hosts_first_copy_wins(tmp_path):
    a, b = tmp_path / "algo-1", tmp_path / "algo-2"
    for host in (a, b):
        (host / "shared").mkdir(parents=True)
        (host / "shared" / "same.txt").write_text(host.name)
    (b / "only-b.txt").write_text("b")
    clashes = pack_trees([a, b, tmp_path / "missing"], tmp_path / "model.tar.gz")
    assert clashes == ["shared/same.txt"]
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        assert tar.getnames() == ["only-b.txt", "shared", "shared/same.txt"]
        assert tar.extractfile("shared/same.txt").read() == b"algo-1"  # type: ignore[union-attr]


def test_pack_trees_of_empty_folders_is_a_valid_empty_archive(tmp_path):
    (tmp_path / "model").mkdir()
    assert pack_trees([tmp_path / "model"], tmp_path / "model.tar.gz") == []
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        assert tar.getnames() == []


def test_archive_is_written_in_one_stream_with_the_hash_of_its_bytes(tmp_path):
    src = make_model(tmp_path)
    res = pack_model(src, tmp_path / "model.tar.gz")
    with gzip.open(res.path) as f:
        tar_bytes = f.read()
    assert len(tar_bytes) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        assert tar.getnames()[0] == "config.json"
