"""structlog JSON logging, with the request id that the gateway creates and
passes to every service in gRPC metadata (`x-request-id`)."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

REQUEST_ID_KEY = "x-request-id"
request_id: ContextVar[str] = ContextVar("request_id", default="")


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor (its signature is structlog's)."""
    rid = request_id.get()
    if rid and "request_id" not in event:
        event["request_id"] = rid
    return event


def configure(service: str, level: str = "info") -> None:
    """JSON lines on stderr, one object per event, with service and time."""
    logging.basicConfig(
        stream=sys.stderr, format="%(message)s", level=getattr(logging, level.upper(), logging.INFO)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
