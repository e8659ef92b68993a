"""Hostile archives end in a refusal naming the member (exit 6), never in a crash, on every Python smctl supports."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from smctl.archive import inspect_archive, pack_model, unpack_archive
from smctl.archive.guard import _data_filter
from smctl.errors import ArchiveError, ExitCode, UnsafeArchiveError


def _tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for m, data in members:
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    return path


def _deep(levels: int) -> tarfile.TarInfo:
    return tarfile.TarInfo("/".join(["d"] * levels) + "/weights.bin")


def _nul() -> tarfile.TarInfo:
    m = tarfile.TarInfo("fine.bin")
    m.pax_headers = {"path": "model\x00.bin"}  # a PAX record may hold any byte; no file system takes a NUL
    return m


@pytest.mark.parametrize("member, words", [(_deep(3000), "folders deep"), (_nul(), "NUL byte")],
                         ids=["3000-folders-deep", "pax-path-with-nul"])
def test_unpack_refuses_deep_paths_and_nul_bytes_naming_the_member(tmp_path, member, words):
    archive = _tgz(tmp_path / "bad.tar.gz", [(tarfile.TarInfo("ok.txt"), b"ok"), (member, b"x")])
    with pytest.raises(UnsafeArchiveError, match=words) as err:
        unpack_archive(archive, tmp_path / "out")
    assert len(err.value.message) < 400  # a 6,000-byte name is cut in the middle, not printed whole
    assert err.value.exit_code == ExitCode.CHECKS_FAILED == 6
    assert err.value.details["member"].endswith(".bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]  # nothing half-extracted


@pytest.mark.parametrize("member, words", [(_deep(3000), "folders deep"), (_nul(), "NUL byte")],
                         ids=["3000-folders-deep", "pax-path-with-nul"])
def test_inspect_flags_deep_paths_and_nul_bytes_as_fatal(tmp_path, member, words):
    report = inspect_archive(_tgz(tmp_path / "bad.tar.gz", [(member, b"x")]))
    assert len(report.fatal) == 1 and words in report.fatal[0].message
    assert report.as_dict()["safe"] is False


def test_a_long_path_or_component_is_refused_but_a_deep_real_model_is_not(tmp_path):
    long_part = tarfile.TarInfo("x" * 300)
    long_path = tarfile.TarInfo("/".join(["abcdefghij"] * 400))
    report = inspect_archive(_tgz(tmp_path / "long.tar.gz", [(long_part, b"1"), (long_path, b"2")]))
    assert [f.member for f in report.fatal] == [long_part.name, long_path.name]
    fine = _tgz(tmp_path / "fine.tar.gz", [(_deep(40), b"w")])
    assert unpack_archive(fine, tmp_path / "out").entries == 1


# ---- Pythons without tarfile's data filter (3.10.0-3.10.11, 3.11.0-3.11.3: Debian 12's python3 is 3.11.2) ----

def _members() -> list[tarfile.TarInfo]:
    out = []
    for name, kind, mode, link in [("a.bin", tarfile.REGTYPE, 0o4777, ""), ("b.sh", tarfile.REGTYPE, 0o750, ""),
                                   ("ro", tarfile.REGTYPE, 0o400, ""), ("dir", tarfile.DIRTYPE, 0o777, ""),
                                   ("lnk", tarfile.SYMTYPE, 0o777, "a.bin"), ("hard", tarfile.LNKTYPE, 0o644, "a.bin"),
                                   ("/abs", tarfile.REGTYPE, 0o644, ""), ("up", tarfile.SYMTYPE, 0o777, "../x"),
                                   ("abslink", tarfile.SYMTYPE, 0o777, "/etc/passwd"),
                                   ("fifo", tarfile.FIFOTYPE, 0o644, "")]:
        m = tarfile.TarInfo(name)
        m.type, m.mode, m.linkname, m.uid, m.uname = kind, mode, link, 1234, "someone"
        out.append(m)
    return out


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="compares with the filter this Python lacks")
def test_the_fallback_filter_decides_as_tarfiles_own_data_filter(tmp_path):
    def outcome(fn, m):
        try:
            r = fn(m, str(tmp_path))
        except tarfile.TarError:
            return "refused"
        return (r.name, r.mode, r.uid, r.uname)

    for m in _members():
        assert outcome(_data_filter, m) == outcome(tarfile.data_filter, m), m.name


def test_unpack_works_and_stays_safe_without_tarfiles_data_filter(tmp_path, monkeypatch):
    if hasattr(tarfile, "data_filter"):
        monkeypatch.delattr(tarfile, "data_filter")  # this Python has it: take it away, as 3.11.2 would
    src = tmp_path / "src"
    (src / "code").mkdir(parents=True)
    (src / "model.bin").write_bytes(b"w" * 1000)
    (src / "code" / "inference.py").write_text("def model_fn(d): ...\n")
    res = pack_model(src, tmp_path / "model.tar.gz")
    out = unpack_archive(res.path, tmp_path / "out")
    assert (out.dir / "model.bin").read_bytes() == b"w" * 1000
    bad = tarfile.TarInfo("setuid.bin")
    bad.mode = 0o4755
    hostile = _tgz(tmp_path / "h.tar.gz", [(bad, b"x")])
    unpack_archive(hostile, tmp_path / "h")
    assert (tmp_path / "h" / "setuid.bin").stat().st_mode & 0o7777 == 0o755  # setuid dropped, as the filter does


# ---- gzip bombs ----------------------------------------------------------------------------------------------

class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _bomb(path: Path, size: int) -> Path:
    from isal import igzip

    with igzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|", bufsize=1 << 20) as tar:
        m = tarfile.TarInfo("weights.bin")
        m.size = size
        tar.addfile(m, io.BufferedReader(_Zeros(size), 1 << 20))
    return path


def test_inspect_reports_sizes_and_warns_on_a_gzip_bomb(tmp_path):
    report = inspect_archive(_bomb(tmp_path / "bomb.tar.gz", (1 << 30) + (1 << 20)))
    totals = report.totals()
    assert totals["bytes"] == (1 << 30) + (1 << 20)
    assert totals["expansion_ratio"] > 100
    bomb = [f for f in report.findings if f.code == "high-expansion"]
    assert len(bomb) == 1 and "1.0 GiB" in bomb[0].message and bomb[0].severity == "warning"


def test_unpack_refuses_an_archive_that_would_not_fit_before_writing_it(tmp_path, tmpfs):
    small_fs = tmpfs("size=16m")
    bomb = _bomb(tmp_path / "bomb.tar.gz", 64 << 20)
    with pytest.raises(ArchiveError, match=r"no space left on device for .*model: .* 64\.0 MiB .* 16\.0 MiB free") as e:
        unpack_archive(bomb, small_fs / "model")
    assert e.value.details["needed_bytes_at_least"] == 64 << 20
    assert list(small_fs.iterdir()) == []  # nothing left behind
