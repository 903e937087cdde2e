"""The realtime frames' JSON text: the standard library's values, faster."""

import json
from datetime import UTC, datetime

import pytest

from kefu.core import json_text


def test_dumps_writes_what_json_reads_back_the_same() -> None:
    at = datetime(2026, 11, 26, 23, 0, 0, 123456, tzinfo=UTC)
    value = {"at": at, "whole": at.replace(microsecond=0), "text": "你好 <b>", 7: [1, 2.5, None]}
    assert json.loads(json_text.dumps(value)) == {
        "at": at.isoformat(),
        "whole": at.replace(microsecond=0).isoformat(),
        "text": "你好 <b>",
        "7": [1, 2.5, None],
    }


def test_integers_beyond_64_bits_still_encode() -> None:
    assert json.loads(json_text.dumps({"n": 2**70})) == {"n": 2**70}


@pytest.mark.parametrize("text", ["{", "NaN", '"\\ud800"', ""])
def test_loads_refuses_what_is_not_plain_json(text: str) -> None:
    with pytest.raises(ValueError):
        json_text.loads(text)
