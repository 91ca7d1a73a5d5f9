"""Structured logs: one JSON object (or one key=value line) per record, with the runtime's fields.

Runtime modules log with `extra={"controller": ..., "cluster": ..., "key": ...}` (or through a
`LoggerAdapter` carrying them); `setup_logging` makes those fields part of every line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

# Fields lifted from a record's `extra` into the output, in this order.
FIELDS = ("controller", "cluster", "resource", "key", "lease", "identity", "event_reason")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            out[name] = value
    for name, value in record.__dict__.items():
        if name not in _STANDARD and name not in out and not name.startswith("_"):
            out[name] = value
    return out


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JsonFormatter(logging.Formatter):
    """`JsonFormatter` renders `{"ts", "level", "logger", "msg", <fields>, "exc"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_fields(record))
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def _kv_value(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """`KeyValueFormatter` renders `ts=... level=... logger=... msg="..." controller=... ...`."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, Any]] = [
            ("ts", _timestamp(record)),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
            *_fields(record).items(),
        ]
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        return " ".join(f"{k}={_kv_value(v)}" for k, v in pairs)


def setup_logging(
    *,
    level: int | str = logging.INFO,
    fmt: Literal["json", "kv"] = "json",
    stream: TextIO | None = None,
    logger: str = "kokpit",
) -> logging.Handler:
    """`setup_logging` sends `logger` (and its children) to `stream` in `fmt`; returns the handler.

    Calling it again replaces the handler it installed before.
    """
    target = logging.getLogger(logger)
    for handler in list(target.handlers):
        if getattr(handler, "_kokpit", False):
            target.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    handler._kokpit = True  # type: ignore[attr-defined]
    target.addHandler(handler)
    target.setLevel(level)
    target.propagate = False
    return handler


class FieldsAdapter(logging.LoggerAdapter[logging.Logger]):
    """A LoggerAdapter whose fields merge with a call's own `extra` (the stdlib one drops the latter)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def with_fields(logger: logging.Logger, **fields: Any) -> FieldsAdapter:
    """`with_fields` returns a logger adding `fields` (e.g. controller=, cluster=, key=) to every record."""
    return FieldsAdapter(logger, fields)
