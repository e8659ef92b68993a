"""What Output prints is the text it was given: container log lines and messages are not rewritten."""

from __future__ import annotations

from smctl.cli.output import Output


def test_a_log_line_with_emoji_codes_is_printed_as_it_is(capsys):
    out = Output(color=False)
    out.log("epoch 1 :fire: loss=0.1 :smile:")
    out.info("model: s3://bucket/:x:/model.tar.gz")
    assert capsys.readouterr().err == "epoch 1 :fire: loss=0.1 :smile:\nmodel: s3://bucket/:x:/model.tar.gz\n"
