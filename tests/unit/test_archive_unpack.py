"""smctl.archive reading: the member safety rules, inspect's findings, safe all-or-nothing extraction."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from smctl.archive import Member, inspect_archive, pack_model, unpack_archive
from smctl.archive.guard import MemberGuard
from smctl.archive.unpack import _layout_findings
from smctl.errors import ArchiveError, ExitCode, UnsafeArchiveError, UsageError


def info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type, m.linkname, m.size = kind, linkname, size
    return m


def make_tgz(path: Path, items: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m, data in items:
            if data is not None:
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    return path


def problems(*members: tarfile.TarInfo) -> list[str | None]:
    guard = MemberGuard()
    return [guard.problem(m) for m in members]


# ---- the rules -------------------------------------------------------------------------------------------

def test_plain_members_are_safe():
    assert problems(info("./"), info("a", tarfile.DIRTYPE), info("a/b.bin"), info("./c.txt")) == [None] * 4


@pytest.mark.parametrize(("member", "words"), [
    (info("/etc/cron.d/evil"), "absolute path"),
    (info("../evil"), "'..'"),
    (info("a/../../evil"), "'..'"),
    (info("null", tarfile.CHRTYPE), "device file"),
    (info("sda", tarfile.BLKTYPE), "device file"),
    (info("pipe", tarfile.FIFOTYPE), "FIFO"),
    (info("l", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
    (info("l", tarfile.SYMTYPE, "../outside"), "outside"),
    (info("d/l", tarfile.SYMTYPE, "../../outside"), "outside"),
    (info("h", tarfile.LNKTYPE, "/etc/shadow"), "absolute path"),
    (info("h", tarfile.LNKTYPE, "../../etc/shadow"), "outside"),
    (info("h", tarfile.LNKTYPE, "never-seen"), "not an earlier file"),
])
def test_unsafe_members_are_named_with_the_reason(member, words):
    reason = problems(member)[0]
    assert reason is not None and words in reason


def test_a_member_written_through_an_earlier_symlink_is_refused():
    got = problems(info("data", tarfile.DIRTYPE), info("alias", tarfile.SYMTYPE, "data"), info("alias/model.bin"))
    assert got[:2] == [None, None]
    assert got[2] is not None and "through the symlink 'alias'" in got[2]


def test_a_symlink_that_climbs_out_of_another_symlink_is_refused():
    got = problems(info("d", tarfile.DIRTYPE), info("here", tarfile.SYMTYPE, "d"),
                   info("up", tarfile.SYMTYPE, "here/../.."))
    assert got[2] is not None and "climbs out of another symlink" in got[2]
    got = problems(info("a/b", tarfile.DIRTYPE), info("a/dot", tarfile.SYMTYPE, "."),
                   info("a/up", tarfile.SYMTYPE, "dot/.."))
    assert got[2] is not None and "climbs out of another symlink" in got[2]


def test_hard_link_to_an_earlier_file_is_fine():
    assert problems(info("w.bin"), info("copy.bin", tarfile.LNKTYPE, "w.bin")) == [None, None]


# ---- inspect's layout findings ---------------------------------------------------------------------------

def codes(members: list[Member]) -> set[str]:
    return {f.code for f in _layout_findings(members)}


def test_everything_in_one_top_folder_is_flagged():
    found = _layout_findings([Member("model", "dir", 0), Member("model/model.pth", "file", 10)])
    assert [f.code for f in found] == ["nested-folder"]
    assert "/opt/ml/model/model/" in found[0].message
    assert "smctl package pack model" in found[0].hint


def test_code_only_archives_and_root_layouts_are_not_nested():
    assert codes([Member("code", "dir", 0), Member("code/inference.py", "file", 1)]) == set()
    assert codes([Member("./", "dir", 0), Member("./model.pth", "file", 1)]) == set()


def test_code_without_inference_py_and_macos_junk_are_flagged():
    found = codes([Member("model.pth", "file", 1), Member("code/serve.py", "file", 1),
                   Member("._model.pth", "file", 1), Member("code/.DS_Store", "file", 1)])
    assert found == {"no-inference-py", "macos-metadata"}


def test_huge_files_get_a_note_and_empty_archives_a_warning():
    found = _layout_findings([Member("weights.bin", "file", 3 << 30)])
    assert [(f.severity, f.code) for f in found] == [("info", "huge-file")]
    assert "3.0 GiB" in found[0].message
    assert codes([]) == {"empty"}


def test_inspect_lists_entries_and_totals(tmp_path):
    src = tmp_path / "m"
    (src / "code").mkdir(parents=True)
    (src / "model.pth").write_bytes(b"x" * 1000)
    (src / "code" / "inference.py").write_text("def model_fn(d): ...\n")
    (src / "best.pth").symlink_to("model.pth")
    res = pack_model(src, tmp_path / "model.tar.gz")
    report = inspect_archive(res.path)
    assert [(m.path, m.type, m.size) for m in report.members] == [
        ("best.pth", "symlink", 0), ("code", "dir", 0), ("code/inference.py", "file", 21),
        ("model.pth", "file", 1000)]
    assert report.totals()["bytes"] == 1021 and report.findings == ()
    assert report.totals()["compressed_bytes"] == res.size


def test_inspect_reports_every_unsafe_member_as_fatal(tmp_path):
    archive = make_tgz(tmp_path / "bad.tar.gz", [(info("ok.txt"), b"fine"), (info("../evil"), b"x"),
                                                 (info("fifo", tarfile.FIFOTYPE), None)])
    report = inspect_archive(archive)
    assert [f.member for f in report.fatal] == ["../evil", "fifo"]
    assert report.as_dict()["safe"] is False


# ---- unpack ----------------------------------------------------------------------------------------------

def test_round_trip_gives_back_the_tree_contents_and_modes(tmp_path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "w.bin").write_bytes(os.urandom(3 << 20))
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / "empty").mkdir()
    (src / "link").symlink_to("a/b/w.bin")
    res = pack_model(src, tmp_path / "model.tar.gz")
    out = unpack_archive(res.path, tmp_path / "out")
    assert (out.entries, out.bytes) == (6, (3 << 20) + 10)
    for p in src.rglob("*"):
        q = tmp_path / "out" / p.relative_to(src)
        if p.is_symlink():
            assert os.readlink(q) == os.readlink(p)
        elif p.is_file():
            assert q.read_bytes() == p.read_bytes()
            assert stat.S_IMODE(q.stat().st_mode) == (0o755 if p.name == "run.sh" else 0o644)
        else:
            assert q.is_dir() and stat.S_IMODE(q.stat().st_mode) == 0o755


def test_extracted_files_belong_to_the_invoking_user(tmp_path):
    m = info("weights.bin")
    m.uid, m.gid, m.uname, m.gname = 4242, 4343, "someone", "others"
    d = info("sub", tarfile.DIRTYPE)
    d.uid = d.gid = 4242
    archive = make_tgz(tmp_path / "m.tar.gz", [(m, b"w" * 100), (d, None)])
    unpack_archive(archive, tmp_path / "out")
    for p in ("weights.bin", "sub"):
        st = (tmp_path / "out" / p).stat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_unpack_into_an_existing_empty_folder_works_and_a_full_one_is_refused(tmp_path):
    archive = make_tgz(tmp_path / "m.tar.gz", [(info("a.txt"), b"a")])
    (tmp_path / "empty").mkdir()
    unpack_archive(archive, tmp_path / "empty")
    assert (tmp_path / "empty" / "a.txt").read_text() == "a"
    with pytest.raises(ArchiveError, match="is not empty"):
        unpack_archive(archive, tmp_path / "empty")


def test_a_missing_archive_or_target_folder_is_a_usage_error_not_an_archive_error(tmp_path):
    archive = make_tgz(tmp_path / "m.tar.gz", [(info("a.txt"), b"a")])
    for call in (lambda: inspect_archive(tmp_path / "none.tar.gz"),
                 lambda: unpack_archive(tmp_path / "none.tar.gz", tmp_path / "out"),
                 lambda: unpack_archive(archive, tmp_path / "no" / "out")):
        with pytest.raises(UsageError, match="does not exist") as err:
            call()
        assert not isinstance(err.value, ArchiveError) and err.value.exit_code == ExitCode.USAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz"]


def test_ctrl_c_while_unpacking_leaves_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"w{i}.bin").write_bytes(os.urandom(6 << 20))
    res = pack_model(src, tmp_path / "model.tar.gz")

    def interrupt(n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        unpack_archive(res.path, tmp_path / "out", on_progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tar.gz", "src"]


def test_unsafe_member_after_good_ones_removes_what_was_written(tmp_path):
    archive = make_tgz(tmp_path / "m.tar.gz", [(info("good.bin"), b"g" * 5000),
                                               (info("dev", tarfile.CHRTYPE), None)])
    with pytest.raises(UnsafeArchiveError, match="'dev'"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz"]


def test_corrupt_archive_names_the_last_good_member(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"part{i}.bin").write_bytes(os.urandom(2 << 20))
    res = pack_model(src, tmp_path / "model.tar.gz")
    data = bytearray(res.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 2 + 1000] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"truncated or corrupt after member 'part[0-9]\.bin'"):
        inspect_archive(bad)
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        unpack_archive(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "model.tar.gz", "src"]


def test_gzip_that_is_not_a_tar_is_named(tmp_path):
    import gzip

    p = tmp_path / "notes.gz"
    p.write_bytes(gzip.compress(b"just some text, no tar header here" * 40))
    with pytest.raises(ArchiveError, match="does not hold a tar archive"):
        inspect_archive(p)


def test_an_empty_code_folder_is_flagged():
    assert codes([Member("model.pth", "file", 1), Member("code", "dir", 0)]) == {"empty-code"}
    assert codes([Member("model.pth", "file", 1), Member("./code/", "dir", 0), Member("code/sub", "dir", 0)]) == {
        "empty-code"}
    assert "empty-code" not in codes([Member("model.pth", "file", 1), Member("code", "dir", 0),
                                      Member("code/inference.py", "file", 1)])
