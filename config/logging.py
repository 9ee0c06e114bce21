"""Structured logs: request and task ids on every line, JSON in production, secrets masked.

* `RequestIdMiddleware` takes a sane `X-Request-ID` from the proxy or makes one, keeps it in a
  context variable for the request, echoes it in the response and writes one access line
  (`replydesk.request`: method, path without the query string, status, duration, user id).
* `celery_context_connect()` (called by config/celery.py) keeps the running task's id and name.
* `ContextFilter` (on the console handler) adds both to every record and masks bearer tokens,
  API tokens, webhook secrets and OAuth tokens that a message or traceback might contain.
* `JsonFormatter` writes one JSON object per line (`LOG_FORMAT=json` or `REPLYDESK_PRODUCTION=1`).

What we log on purpose never includes message bodies or credentials; the filter is a safety net.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.utils.encoding import escape_uri_path

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
task_id_var: ContextVar[str] = ContextVar("task_id", default="")
task_name_var: ContextVar[str] = ContextVar("task_name", default="")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
    (re.compile(r"\brdk_[A-Za-z0-9_-]{8,}"), "rdk_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9_-]{8,}"), "whsec_[redacted]"),
    (
        re.compile(
            r"""(?i)(["']?(?:access_token|refresh_token|client_secret|password|secret)["']?\s*[:=]\s*["']?)[^"'\s&,}]+"""
        ),
        r"\1[redacted]",
    ),
]
# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "log_context"}


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        record.task_name = task_name_var.get()
        parts = []
        if record.request_id:
            parts.append(f"req={record.request_id}")
        if record.task_id:
            parts.append(f"task={record.task_name}[{record.task_id}]")
        record.log_context = f"[{' '.join(parts)}] " if parts else ""
        # Mask secrets in the rendered message (and the traceback) once, for every formatter.
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "task_id", "task_name"):
            value = getattr(record, key, "")
            if value:
                entry[key] = value
        for key, value in vars(record).items():
            if (
                key not in _STANDARD
                and key not in entry
                and key not in ("request_id", "task_id", "task_name")
            ):
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = redact(record.exc_text)
        return json.dumps(entry, ensure_ascii=False, default=str)


access_logger = logging.getLogger("replydesk.request")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            path = escape_uri_path(request.path)  # percent-encoded: no forged log lines
            access_logger.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def celery_context_connect() -> None:
    """Keep the running task's id and name in the log context (worker processes)."""
    from celery.signals import task_postrun, task_prerun

    tokens: dict[str, tuple] = {}

    @task_prerun.connect(weak=False)
    def _start(task_id=None, task=None, **kwargs):
        tokens[task_id] = (task_id_var.set(task_id or ""), task_name_var.set(getattr(task, "name", "")))

    @task_postrun.connect(weak=False)
    def _end(task_id=None, **kwargs):
        pair = tokens.pop(task_id, None)
        if pair:
            task_id_var.reset(pair[0])
            task_name_var.reset(pair[1])
