"""smctl's event-stream encoder, read back by botocore's own decoder and sagemaker-runtime's response parser."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.parsers import EventStreamJSONParser

from smctl.serving import eventstream


def parse_stream(data: bytes, chunk: int = 7) -> list[dict]:
    """What boto3's Body iterator yields for these bytes, fed in small pieces as a network would."""
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    shape = model.operation_model("InvokeEndpointWithResponseStream").output_shape.members["Body"]
    parser = EventStreamJSONParser()  # what rest-json hands each event to (RestJSONParser.EVENT_STREAM_PARSER_CLS)
    buffer, events = EventStreamBuffer(), []
    for i in range(0, len(data), chunk):
        buffer.add_data(data[i:i + chunk])
        for message in buffer:
            response = message.to_response_dict()
            parsed = parser.parse(response, shape)
            if response["status_code"] != 200:
                raise EventStreamError(parsed, "InvokeEndpointWithResponseStream")
            events.append(parsed)
    return events


def test_payload_parts_decode_to_the_same_bytes_in_botocore():
    data = b"".join(eventstream.payload_parts(b"hello ") + eventstream.payload_parts(bytes(range(256))))
    assert parse_stream(data) == [{"PayloadPart": {"Bytes": b"hello "}}, {"PayloadPart": {"Bytes": bytes(range(256))}}]


def test_a_big_piece_is_split_into_parts_under_the_limit():
    piece = b"x" * (eventstream.MAX_PART * 2 + 5)
    events = parse_stream(b"".join(eventstream.payload_parts(piece)), chunk=100_000)
    assert [len(e["PayloadPart"]["Bytes"]) for e in events] == [eventstream.MAX_PART, eventstream.MAX_PART, 5]


@pytest.mark.parametrize("code", [eventstream.STREAM_BROKEN, eventstream.TIME_EXCEEDED])
def test_model_stream_error_is_raised_by_botocore_with_its_message(code):
    data = eventstream.payload_parts(b"a")[0] + eventstream.stream_error(code, "the model stopped")
    with pytest.raises(EventStreamError) as caught:
        parse_stream(data)
    assert caught.value.response["Error"] == {"Code": "ModelStreamError", "Message": "the model stopped"}
    assert eventstream.decode_messages(data)[1][1] == b'{"Message": "the model stopped", "ErrorCode": "%s"}' % (
        code.encode())


def test_internal_stream_failure_is_raised_by_botocore():
    with pytest.raises(EventStreamError) as caught:
        parse_stream(eventstream.internal_failure("smctl failed"))
    assert caught.value.response["Error"]["Code"] == "InternalStreamFailure"


def test_headers_are_those_sagemaker_sends():
    [(headers, payload)] = eventstream.decode_messages(eventstream.payload_parts(b"tok")[0])
    assert headers == {":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                       ":message-type": "event"}
    assert payload == b"tok"


def test_a_corrupted_message_fails_the_crc_check():
    data = bytearray(eventstream.payload_parts(b"hello")[0])
    data[-6] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        eventstream.decode_messages(bytes(data))
