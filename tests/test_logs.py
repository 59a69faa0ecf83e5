"""Logs are JSON lines with the request id; mobile numbers and OTPs never reach them."""

from __future__ import annotations

import json
import logging

from hub.logs import JsonFormatter, redact, request_id


def test_mobile_numbers_and_otps_are_redacted() -> None:
    text = "call +91 98450 12345 or 9845012345 or 09845012345; OTP is 482913"
    cleaned = redact(text)
    assert "98450" not in cleaned and "482913" not in cleaned
    assert cleaned.count("[mobile]") == 3
    assert redact("registration KA-UDD-2026-0000042") == "registration KA-UDD-2026-0000042"


def test_json_line_carries_request_id_and_extras() -> None:
    token = request_id.set("req-1")
    try:
        record = logging.LogRecord(
            "hub.test", logging.INFO, __file__, 1, "filed for %s", ("9845012345",), None
        )
        record.grievance = "KA-UDD-2026-0000001"
        record.mobile = "+919845012345"
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-1"
    assert line["msg"] == "filed for [mobile]"
    assert line["grievance"] == "KA-UDD-2026-0000001"
    assert line["mobile"] == "[mobile]"
