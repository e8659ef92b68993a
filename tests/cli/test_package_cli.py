"""`smctl package pack | inspect | unpack` through the real CLI: exit codes, messages, nothing half-written."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from smctl.errors import ExitCode
from tests.helpers import smctl_exe


def make_model(root: Path) -> Path:
    m = root / "model"
    (m / "code").mkdir(parents=True)
    (m / "model.pth").write_bytes(os.urandom(200_000))
    (m / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return 1\n")
    return m


def make_tgz(path: Path, items: list[tuple[str, bytes, str, bytes | None]]) -> Path:
    """items: (name, tar type, linkname, data) -> a gzip'd tar written by Python's tarfile."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, linkname, data in items:
            m = tarfile.TarInfo(name)
            m.type, m.linkname = kind, linkname
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                m.devmajor, m.devminor = 1, 3
            m.size = len(data) if data is not None else 0
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    return path


def entries_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def assert_error(res, code: ExitCode, *words: str) -> None:
    assert res.exit_code == code, res.stderr
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in res.stderr, f"{w!r} not in {res.stderr!r}"
    assert "Hint:" in res.stderr


# ---- pack ------------------------------------------------------------------------------------------------

def test_pack_prints_the_result_and_tar_lists_the_root_layout(smctl, tmp_path):
    src = make_model(tmp_path)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    assert res.exit_code == 0, res.stderr
    for key in ("path", "size", "entries", "sha256", "level", "seconds"):
        assert any(line.startswith(key + " ") for line in res.stdout.splitlines()), key
    listing = subprocess.run(["tar", "tzf", str(tmp_path / "model.tar.gz")], capture_output=True, text=True,
                             check=True).stdout.split()
    assert listing == ["code/", "code/inference.py", "model.pth"]


def test_pack_json_is_one_document(smctl, tmp_path):
    src = make_model(tmp_path)
    res = smctl("--json", "package", "pack", src, "-o", tmp_path / "model.tar.gz", "--level", "6")
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["command"] == "package"
    r = doc["result"]
    assert (r["entries"], r["level"], r["path"]) == (3, 6, str(tmp_path / "model.tar.gz"))
    assert len(r["sha256"]) == 64 and r["size"] == (tmp_path / "model.tar.gz").stat().st_size


def test_pack_missing_folder_is_a_usage_error(smctl, tmp_path):
    res = smctl("package", "pack", tmp_path / "nope", "-o", tmp_path / "model.tar.gz")
    assert_error(res, ExitCode.USAGE, f"{tmp_path / 'nope'} does not exist", "smctl package pack DIR")
    assert entries_of(tmp_path) == []


def test_pack_missing_code_folder_is_a_usage_error(smctl, tmp_path):
    src = make_model(tmp_path)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--code", tmp_path / "src")
    assert_error(res, ExitCode.USAGE, f"Error: {tmp_path / 'src'} does not exist", "--code CODE_DIR")
    assert entries_of(tmp_path) == ["model"]


def test_pack_a_file_instead_of_a_folder(smctl, tmp_path):
    (tmp_path / "model.pth").write_bytes(b"w")
    res = smctl("package", "pack", tmp_path / "model.pth", "-o", tmp_path / "model.tar.gz")
    assert_error(res, ExitCode.USAGE, "is not a folder")
    assert entries_of(tmp_path) == ["model.pth"]


def test_pack_empty_folder(smctl, tmp_path):
    (tmp_path / "empty").mkdir()
    res = smctl("package", "pack", tmp_path / "empty", "-o", tmp_path / "model.tar.gz")
    assert_error(res, ExitCode.ERROR, "nothing to pack", "empty")
    assert entries_of(tmp_path) == ["empty"]


def test_pack_symlink_to_etc_passwd_is_refused_then_dereferenced(smctl, tmp_path):
    src = make_model(tmp_path)
    (src / "passwd").symlink_to("/etc/passwd")
    out = tmp_path / "model.tar.gz"
    res = smctl("package", "pack", src, "-o", out)
    assert_error(res, ExitCode.ERROR, str(src / "passwd"), "/etc/passwd", "--dereference")
    assert entries_of(tmp_path) == ["model"]
    res = smctl("package", "pack", src, "-o", out, "--dereference")
    assert res.exit_code == 0, res.stderr
    with tarfile.open(out) as tar:
        assert tar.getmember("passwd").isfile()


def test_pack_over_an_existing_file_needs_force(smctl, tmp_path):
    src = make_model(tmp_path)
    out = tmp_path / "model.tar.gz"
    out.write_bytes(b"precious")
    res = smctl("package", "pack", src, "-o", out)
    assert_error(res, ExitCode.ERROR, f"{out} already exists", "--force")
    assert out.read_bytes() == b"precious"
    assert smctl("package", "pack", src, "-o", out, "--force").exit_code == 0
    assert out.read_bytes()[:2] == b"\x1f\x8b"


def test_pack_into_a_path_whose_parent_is_a_file(smctl, tmp_path):
    src = make_model(tmp_path)
    (tmp_path / "afile").write_text("x")
    res = smctl("package", "pack", src, "-o", tmp_path / "afile" / "model.tar.gz")
    assert_error(res, ExitCode.USAGE, "cannot write", "is not a folder", "-o")
    assert (tmp_path / "afile").read_text() == "x"


def test_pack_into_a_folder_that_does_not_exist_is_a_usage_error(smctl, tmp_path):
    src = make_model(tmp_path)
    res = smctl("package", "pack", src, "-o", tmp_path / "out" / "model.tar.gz")
    assert_error(res, ExitCode.USAGE, f"cannot write {tmp_path / 'out' / 'model.tar.gz'}: the folder "
                 f"{tmp_path / 'out'} does not exist", f"mkdir -p {tmp_path / 'out'}")
    assert entries_of(tmp_path) == ["model"]


def test_pack_into_a_read_only_filesystem(smctl, tmp_path, tmpfs):
    src = make_model(tmp_path)
    ro = tmpfs("ro,size=1m")
    res = smctl("package", "pack", src, "-o", ro / "model.tar.gz")
    assert_error(res, ExitCode.ERROR, f"cannot write {ro / 'model.tar.gz'}", "read-only filesystem")
    assert entries_of(ro) == []


def test_pack_onto_a_full_filesystem_leaves_nothing(smctl, tmp_path, tmpfs):
    src = tmp_path / "big"
    src.mkdir()
    (src / "weights.bin").write_bytes(os.urandom(3 << 20))
    full = tmpfs("size=1m")
    res = smctl("package", "pack", src, "-o", full / "model.tar.gz")
    assert_error(res, ExitCode.ERROR, f"no space left on device writing {full / 'model.tar.gz'}")
    assert entries_of(full) == []


def test_pack_past_the_file_size_limit_is_a_clear_error(tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    (src / "weights.bin").write_bytes(os.urandom(3 << 20))
    out = tmp_path / "out"
    out.mkdir()

    def limit() -> None:  # SIGXFSZ keeps its default (kill): smctl itself must ignore it while writing
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run([*smctl_exe(), "package", "pack", str(src), "-o", str(out / "model.tar.gz")],
                          capture_output=True, text=True, preexec_fn=limit, check=False)
    assert proc.returncode == ExitCode.ERROR, proc.stderr
    assert f"file too large writing {out / 'model.tar.gz'}" in proc.stderr
    assert "ulimit -f" in proc.stderr and "Traceback" not in proc.stderr
    assert entries_of(out) == []


def test_pack_code_dir_and_its_warning(smctl, tmp_path):
    src = make_model(tmp_path)
    (src / "code" / "inference.py").unlink()
    (src / "code").rmdir()
    code = tmp_path / "srccode"
    code.mkdir()
    (code / "requirements.txt").write_text("torch\n")
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--code", code)
    assert res.exit_code == 0, res.stderr
    assert "Warning:" in res.stderr and "no inference.py" in res.stderr
    with tarfile.open(tmp_path / "model.tar.gz") as tar:
        assert tar.getnames() == ["code", "code/requirements.txt", "model.pth"]


def test_pack_code_dir_clash(smctl, tmp_path):
    src = make_model(tmp_path)
    code = tmp_path / "srccode"
    code.mkdir()
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--code", code)
    assert_error(res, ExitCode.ERROR, "already has a code entry", f"--code {code}")
    assert not (tmp_path / "model.tar.gz").exists()


def test_pack_level_out_of_range_is_a_usage_error(smctl, tmp_path):
    src = make_model(tmp_path)
    res = smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz", "--level", "0")
    assert_error(res, ExitCode.USAGE, "--level")
    assert not (tmp_path / "model.tar.gz").exists()


# ---- inspect ---------------------------------------------------------------------------------------------

def test_inspect_lists_entries_and_json_has_everything(smctl, tmp_path):
    src = make_model(tmp_path)
    smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    res = smctl("package", "inspect", tmp_path / "model.tar.gz")
    assert res.exit_code == 0 and res.stderr == ""
    assert "code/inference.py" in res.stdout and "3 entries: 2 files, 1 folders" in res.stdout
    doc = json.loads(smctl("--json", "package", "inspect", tmp_path / "model.tar.gz").stdout)
    assert doc["result"]["safe"] is True
    assert [e["path"] for e in doc["result"]["entries"]] == ["code", "code/inference.py", "model.pth"]


def test_inspect_warns_about_a_nested_folder_and_missing_inference_py(smctl, tmp_path):
    archive = make_tgz(tmp_path / "m.tar.gz", [("model", tarfile.DIRTYPE, "", None),
                                               ("model/model.pth", tarfile.REGTYPE, "", b"w"),
                                               ("model/code/serve.py", tarfile.REGTYPE, "", b"p")])
    res = smctl("package", "inspect", archive)
    assert res.exit_code == 0
    assert "everything is inside the folder model/" in res.stderr
    assert "smctl package pack model" in res.stderr
    flat = make_tgz(tmp_path / "f.tar.gz", [("model.pth", tarfile.REGTYPE, "", b"w"),
                                            ("code/serve.py", tarfile.REGTYPE, "", b"p")])
    doc = json.loads(smctl("--json", "package", "inspect", flat).stdout)
    assert doc["ok"] is True
    assert [f["code"] for f in doc["result"]["findings"]] == ["no-inference-py"]
    assert any("no inference.py" in w for w in doc["warnings"])


def test_inspect_unsafe_archive_exits_6_with_the_report(smctl, tmp_path):
    archive = make_tgz(tmp_path / "evil.tar.gz", [("ok.txt", tarfile.REGTYPE, "", b"x"),
                                                  ("../evil", tarfile.REGTYPE, "", b"x")])
    res = smctl("package", "inspect", archive)
    assert_error(res, ExitCode.CHECKS_FAILED, "unsafe to extract", "'../evil'")
    doc = json.loads(smctl("--json", "package", "inspect", archive).stdout)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 6
    assert doc["error"]["details"]["findings"][0]["member"] == "../evil"


def test_inspect_a_non_gzip_file(smctl, tmp_path):
    p = tmp_path / "model.tar.gz"
    p.write_text("this is not an archive\n")
    assert_error(smctl("package", "inspect", p), ExitCode.ERROR, f"{p} is not a gzip file")


def test_inspect_a_zip_says_so(smctl, tmp_path):
    p = tmp_path / "model.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("model.pth", b"w")
    assert_error(smctl("package", "inspect", p), ExitCode.ERROR, "is a zip file", "tar", "smctl package pack")


def test_inspect_a_truncated_archive_names_the_last_good_member(smctl, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.bin", "b.bin", "c.bin"):
        (src / name).write_bytes(os.urandom(1 << 20))
    smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    data = (tmp_path / "model.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # inside b.bin's data
    assert_error(smctl("package", "inspect", cut), ExitCode.ERROR, f"{cut} is truncated or corrupt",
                 "after member 'b.bin'", "gzip -t")


def test_inspect_a_missing_file_is_a_usage_error(smctl, tmp_path):
    assert_error(smctl("package", "inspect", tmp_path / "none.tar.gz"), ExitCode.USAGE,
                 f"{tmp_path / 'none.tar.gz'} does not exist", "smctl package pack DIR -o model.tar.gz")


def test_inspect_a_folder_is_a_usage_error_that_says_how_to_pack_it(smctl, tmp_path):
    assert_error(smctl("package", "inspect", tmp_path), ExitCode.USAGE, f"{tmp_path} is a folder, not an archive",
                 f"smctl package pack {tmp_path}")


# ---- unpack ----------------------------------------------------------------------------------------------

def test_unpack_round_trip_and_json(smctl, tmp_path):
    src = make_model(tmp_path)
    smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    res = smctl("--json", "package", "unpack", tmp_path / "model.tar.gz", tmp_path / "out")
    doc = json.loads(res.stdout)
    assert doc["ok"] is True
    assert (doc["result"]["entries"], doc["result"]["bytes"]) == (3, 200_000 + 38)
    assert doc["result"]["dir"] == str(tmp_path / "out")
    assert (tmp_path / "out" / "model.pth").read_bytes() == (src / "model.pth").read_bytes()


UNSAFE = {
    "dotdot": ([("../evil", tarfile.REGTYPE, "", b"pwned")], "'../evil'"),
    "absolute": ([("/tmp/smctl-abs-evil", tarfile.REGTYPE, "", b"pwned")], "'/tmp/smctl-abs-evil'"),
    "symlink-out-then-write": ([("link", tarfile.SYMTYPE, "../../outside", None),
                                ("link/evil", tarfile.REGTYPE, "", b"pwned")], "'link'"),
    "symlink-inside-then-write": ([("data", tarfile.DIRTYPE, "", None), ("alias", tarfile.SYMTYPE, "data", None),
                                   ("alias/evil", tarfile.REGTYPE, "", b"pwned")], "'alias/evil'"),
    "hardlink-shadow": ([("shadow", tarfile.LNKTYPE, "/etc/shadow", None)], "'shadow'"),
    "hardlink-shadow-relative": ([("shadow", tarfile.LNKTYPE, "../../../../../../etc/shadow", None)], "'shadow'"),
    "device": ([("null", tarfile.CHRTYPE, "", None)], "'null'"),
    "fifo": ([("pipe", tarfile.FIFOTYPE, "", None)], "'pipe'"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unpack_refuses_unsafe_archives_and_writes_nothing(smctl, tmp_path, case):
    items, member = UNSAFE[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = make_tgz(tmp_path / "evil.tar.gz", [("fine.txt", tarfile.REGTYPE, "", b"ok"), *items])
    shadow_before = Path("/etc/shadow").stat() if Path("/etc/shadow").exists() else None
    res = smctl("package", "unpack", archive, work / "out")
    assert_error(res, ExitCode.CHECKS_FAILED, "unsafe member", member, "nothing was extracted")
    assert entries_of(work) == []  # no DIR, no temp folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz", "work"]
    assert not Path("/tmp/smctl-abs-evil").exists()
    if shadow_before is not None:
        assert Path("/etc/shadow").stat().st_nlink == shadow_before.st_nlink


def test_unpack_into_a_non_empty_folder_is_refused(smctl, tmp_path):
    archive = make_tgz(tmp_path / "m.tar.gz", [("a.txt", tarfile.REGTYPE, "", b"a")])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert_error(smctl("package", "unpack", archive, tmp_path / "out"), ExitCode.ERROR, "is not empty")
    assert entries_of(tmp_path / "out") == ["keep.txt"]


def test_unpack_a_missing_archive_or_into_a_missing_folder_is_a_usage_error(smctl, tmp_path):
    assert_error(smctl("package", "unpack", tmp_path / "none.tar.gz", tmp_path / "out"), ExitCode.USAGE,
                 f"{tmp_path / 'none.tar.gz'} does not exist", "smctl package pack DIR -o model.tar.gz")
    archive = make_tgz(tmp_path / "m.tar.gz", [("a.txt", tarfile.REGTYPE, "", b"a")])
    assert_error(smctl("package", "unpack", archive, tmp_path / "no" / "out"), ExitCode.USAGE,
                 f"cannot unpack into {tmp_path / 'no' / 'out'}: the folder {tmp_path / 'no'} does not exist",
                 f"mkdir -p {tmp_path / 'no'}")
    assert entries_of(tmp_path) == ["m.tar.gz"]


def test_unpack_onto_a_full_filesystem_leaves_nothing(smctl, tmp_path, tmpfs):
    src = tmp_path / "big"
    src.mkdir()
    (src / "weights.bin").write_bytes(os.urandom(3 << 20))
    smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    full = tmpfs("size=1m")
    res = smctl("package", "unpack", tmp_path / "model.tar.gz", full / "out")
    assert_error(res, ExitCode.ERROR, "no space left on device", str(full / "out"))
    assert entries_of(full) == []


def test_unpack_onto_a_mount_point_is_refused_with_a_hint(smctl, tmp_path, tmpfs):
    archive = make_tgz(tmp_path / "m.tar.gz", [("a.txt", tarfile.REGTYPE, "", b"a")])
    point = tmpfs("size=1m")
    res = smctl("package", "unpack", archive, point)
    assert_error(res, ExitCode.ERROR, f"{point} is a mount point", str(point / "model"))
    assert entries_of(point) == []


def test_unpack_a_truncated_archive_leaves_nothing(smctl, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(2 << 20))
    smctl("package", "pack", src, "-o", tmp_path / "model.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes((tmp_path / "model.tar.gz").read_bytes()[:1_000_000])
    assert_error(smctl("package", "unpack", cut, tmp_path / "out"), ExitCode.ERROR, "truncated or corrupt",
                 "after member 'a.bin'")
    assert entries_of(tmp_path) == ["cut.tar.gz", "model.tar.gz", "src"]


def test_subprocess_cli_round_trip_is_reproducible(tmp_path):
    src = make_model(tmp_path)
    digests = []
    for name in ("one.tar.gz", "two.tar.gz"):
        proc = subprocess.run([*smctl_exe(), "--json", "package", "pack", str(src), "-o", str(tmp_path / name)],
                              capture_output=True, text=True, check=True)
        digests.append(json.loads(proc.stdout)["result"]["sha256"])
    assert digests[0] == digests[1]
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
