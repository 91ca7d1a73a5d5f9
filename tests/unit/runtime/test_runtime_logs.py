"""Structured log lines carry the runtime's fields."""

from __future__ import annotations

import io
import json
import logging

from kokpit.runtime.logs import setup_logging, with_fields


def test_json_lines_carry_adapter_and_call_fields() -> None:
    stream = io.StringIO()
    handler = setup_logging(stream=stream, logger="kokpit.test.json")
    try:
        log = with_fields(logging.getLogger("kokpit.test.json.c"), controller="demo")
        log.info("reconciled %s", "x", extra={"cluster": "m1", "key": "m1/ns/x"})
        doc = json.loads(stream.getvalue().strip())
        assert doc["msg"] == "reconciled x"
        assert (doc["controller"], doc["cluster"], doc["key"]) == ("demo", "m1", "m1/ns/x")
        assert doc["level"] == "info"
    finally:
        logging.getLogger("kokpit.test.json").removeHandler(handler)


def test_key_value_lines_quote_what_needs_it() -> None:
    stream = io.StringIO()
    handler = setup_logging(stream=stream, fmt="kv", logger="kokpit.test.kv")
    try:
        logging.getLogger("kokpit.test.kv").warning("two words", extra={"cluster": "hub"})
        line = stream.getvalue().strip()
        assert 'msg="two words"' in line
        assert "cluster=hub" in line
    finally:
        logging.getLogger("kokpit.test.kv").removeHandler(handler)
