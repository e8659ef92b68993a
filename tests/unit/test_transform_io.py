"""Local input listing, output naming and atomic writes, and the nested-output guard."""

from __future__ import annotations

import pytest

from smctl.errors import UsageError
from smctl.transform.io import LocalSink, LocalSource, check_not_nested


def test_listing_is_sorted_by_relative_path_and_keeps_nesting(tmp_path):
    (tmp_path / "b" / "c").mkdir(parents=True)
    for rel in ("z.csv", "b/c/y.csv", "a.csv"):
        (tmp_path / rel).write_text(rel)
    listed = LocalSource(tmp_path).list()
    assert [o.key for o in listed] == ["a.csv", "b/c/y.csv", "z.csv"]
    assert listed[1].size == len("b/c/y.csv")


def test_a_single_file_input_is_keyed_by_its_name(tmp_path):
    f = tmp_path / "one.jsonl"
    f.write_text("{}\n")
    assert [o.key for o in LocalSource(f).list()] == ["one.jsonl"]


def test_a_missing_input_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        LocalSource(tmp_path / "nope").list()


def test_write_creates_nested_out_files_and_leaves_no_temporary(tmp_path):
    sink = LocalSink(tmp_path / "out")
    where = sink.write("b/c/y.csv", [b"A\n", b"B\n"])
    assert where == str(tmp_path / "out" / "b" / "c" / "y.csv.out")
    assert (tmp_path / "out" / "b" / "c" / "y.csv.out").read_bytes() == b"A\nB\n"
    assert sink.exists("b/c/y.csv") and not sink.exists("y.csv")
    assert [p.name for p in (tmp_path / "out" / "b" / "c").iterdir()] == ["y.csv.out"]


def test_a_write_that_fails_midway_leaves_neither_the_out_nor_a_temporary(tmp_path):
    sink = LocalSink(tmp_path)
    with pytest.raises(TypeError):
        sink.write("x.csv", [b"partial", "not bytes"])  # type: ignore[list-item]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("inp", "out"), [("in", "in"), ("in", "in/out"), ("s3://b/in", "s3://b/in/out"),
                                          ("s3://b/in/", "s3://b/in"), ("s3://b", "s3://b/out")])
def test_an_output_inside_the_input_is_refused(tmp_path, inp, out):
    (tmp_path / "in").mkdir()
    if not inp.startswith("s3://"):
        inp, out = str(tmp_path / inp), str(tmp_path / out)
    with pytest.raises(UsageError, match="is inside the input"):
        check_not_nested(inp, out)


@pytest.mark.parametrize(("inp", "out"), [("in", "out"), ("s3://b/in", "s3://b/input-out"), ("s3://b/in", "s3://c/in"),
                                          ("in", "s3://b/in")])
def test_siblings_are_fine(tmp_path, inp, out):
    (tmp_path / "in").mkdir()
    if not inp.startswith("s3://"):
        inp = str(tmp_path / inp)
    if not out.startswith("s3://"):
        out = str(tmp_path / out)
    check_not_nested(inp, out)


def test_s3_listing_keys_are_relative_to_the_prefix_and_outputs_land_under_the_output_prefix(aws_env):
    import boto3

    from smctl.transform.io import open_locations

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="io-test")
    for key in ("in/a.csv", "in/sub/b.csv", "in/", "other/c.csv"):
        s3.put_object(Bucket="io-test", Key=key, Body=b"x")
    source, sink = open_locations("s3://io-test/in/", "s3://io-test/out/")
    assert [(o.key, o.ref, o.size) for o in source.list()] == [("a.csv", "in/a.csv", 1),
                                                               ("sub/b.csv", "in/sub/b.csv", 1)]
    assert source.read(source.list()[0]) == b"x"
    assert sink.write("sub/b.csv", [b"B", b"\n"]) == "s3://io-test/out/sub/b.csv.out"
    assert s3.get_object(Bucket="io-test", Key="out/sub/b.csv.out")["Body"].read() == b"B\n"
    fresh = open_locations("s3://io-test/in/", "s3://io-test/out")[1]
    assert fresh.exists("sub/b.csv") and not fresh.exists("a.csv")


def test_an_s3_prefix_without_a_slash_keeps_the_last_part_in_the_key(aws_env):
    import boto3

    from smctl.transform.io import S3Source, s3_client

    boto3.client("s3").create_bucket(Bucket="io-test2")
    boto3.client("s3").put_object(Bucket="io-test2", Key="data/part-1.csv", Body=b"1")
    listed = S3Source("s3://io-test2/data/part", s3_client(None, None)).list()
    assert [o.key for o in listed] == ["part-1.csv"]


def test_a_missing_bucket_is_an_aws_error_naming_it(aws_env):
    from smctl.errors import AwsError
    from smctl.transform.io import S3Source, s3_client

    with pytest.raises(AwsError, match="no-such-bucket"):
        S3Source("s3://no-such-bucket/in/", s3_client(None, None)).list()
