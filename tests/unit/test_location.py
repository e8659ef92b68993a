"""Location: a local path or an S3 URI, parsed once."""

from __future__ import annotations

from pathlib import Path

import pytest

from smctl.contract.location import EXPECTED_ANY, EXPECTED_S3, Location, as_location
from smctl.errors import ExitCode, LocationError, UsageError


def test_an_s3_uri_parses_into_bucket_and_key():
    loc = Location.parse("s3://my.bucket-1/data/train/", Path("/base"))
    assert (loc.is_s3, loc.bucket, loc.key, loc.uri) == (True, "my.bucket-1", "data/train/", "s3://my.bucket-1/data/train/")
    assert Location.parse("s3://bucket", Path("/base")).key == ""


def test_a_relative_path_is_joined_to_the_base_folder():
    loc = Location.parse("data/train", Path("/base"))
    assert (loc.is_s3, loc.path) == (False, Path("/base/data/train"))
    assert Location.parse("/abs/model.tar.gz", Path("/base")).path == Path("/abs/model.tar.gz")
    assert Location.parse("~/m", Path("/base")).path == Path.home() / "m"


@pytest.mark.parametrize("uri", ["s3://B/x", "s3://ab/x", "s3://a..b/x", "s3://-bucket/x", "s3:///x"])
def test_a_bad_bucket_is_refused_with_the_rule(uri):
    with pytest.raises(LocationError) as info:
        Location.parse(uri, Path("/base"))
    assert info.value.expected == EXPECTED_S3
    assert "is not a valid S3 bucket name" in info.value.message and "3-63" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.USAGE and isinstance(info.value, UsageError)


@pytest.mark.parametrize("text", ["", "gs://b/x", "https://example.com/m.tar.gz"])
def test_other_schemes_and_empty_text_are_refused(text):
    with pytest.raises(LocationError) as info:
        Location.parse(text, Path("/base"))
    assert info.value.expected == EXPECTED_ANY


def test_parse_s3_refuses_a_local_path():
    with pytest.raises(LocationError, match="is not an S3 URI"):
        Location.parse_s3("data/train")


@pytest.mark.parametrize("text", ["s3://b-1/in/", "s3://b-1/m/model.tar.gz", "s3://b-1/", "/abs/data"])
def test_str_round_trips(text):
    loc = Location.parse(text, Path("/base"))
    assert str(loc) == text
    assert Location.parse(str(loc), Path("/elsewhere")) == loc


def test_a_location_equals_the_plain_value_it_stands_for():
    s3, local = Location.parse("s3://b-1/in/", Path("/")), Location.from_path(Path("/abs/in"))
    assert s3 == "s3://b-1/in/" and local == Path("/abs/in")
    assert s3 != Path("s3://b-1/in/") and local != "/abs/in"
    assert {s3, local} == {"s3://b-1/in/", Path("/abs/in")}
    assert repr(s3) == "Location('s3://b-1/in/')"


def test_path_and_uri_refuse_the_other_kind():
    with pytest.raises(ValueError):
        _ = Location.parse("s3://b-1/in/", Path("/")).path
    with pytest.raises(ValueError):
        _ = Location.from_path(Path("/abs")).uri


def test_as_location_takes_a_location_a_path_or_text():
    loc = Location.parse("s3://b-1/x", Path("/"))
    assert as_location(loc, Path("/base")) is loc
    assert as_location(Path("rel"), Path("/base")).path == Path("/base/rel")
    assert as_location("s3://b-1/x", Path("/base")) == loc


def test_a_bucket_can_be_split_without_its_rule_for_comparisons():
    loc = as_location("s3://b/in", Path("/"), check_bucket=False)
    assert (loc.bucket, loc.key) == ("b", "in")
    with pytest.raises(LocationError):
        as_location("s3://b/in", Path("/"))
