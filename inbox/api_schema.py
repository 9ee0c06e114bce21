"""OpenAPI additions for the public API (drf-spectacular): operation ids from the view names, and
the one error body (`Error`) with the statuses every operation can answer. Kept apart from
inbox/api.py because DRF imports the schema class while the views are being defined."""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "description": "The body of every error response.",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status code."},
        "code": {"type": "string", "description": "Machine-readable: invalid, not_found, throttled, …"},
        "detail": {"type": "string", "description": "Human-readable message."},
        "fields": {
            "type": "object",
            "additionalProperties": True,
            "description": "400 only: input name → list of messages.",
        },
        "retry_after": {"type": "integer", "description": "429 only: seconds to wait (also Retry-After)."},
    },
    "required": ["status", "code", "detail"],
}

_ERROR_DESCRIPTIONS = {
    "400": "Invalid input (see `fields`).",
    "401": "Missing, invalid or revoked credentials.",
    "403": "Not allowed (a read-only token writing, or a role that may not do this).",
    "404": "No such object in your organization.",
    "409": "Conflicts with the object's state.",
    "415": "The body must be JSON (application/json).",
    "422": "Unprocessable.",
    "429": "Too many requests: wait `Retry-After` seconds.",
}


class ApiAutoSchema(AutoSchema):
    """Operation ids from the view names: ConversationReplyApi.post → "conversation_reply"
    (with the method appended when a view has several: "sla_policy_list_post")."""

    def get_operation_id(self) -> str:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("Api")).lower()
        methods = [m for m in ("get", "post", "put", "patch", "delete") if hasattr(self.view, m)]
        return name if len(methods) == 1 else f"{name}_{self.method.lower()}"


NO_NUL = "^[^\\u0000]*$"


def _no_nul(schema: dict) -> None:
    """Input strings cannot hold NUL (DRF refuses it: PostgreSQL cannot store it): say so."""
    if schema.get("type") == "string" and not ({"enum", "format", "pattern"} & set(schema)):
        schema["pattern"] = NO_NUL
    for child in schema.get("properties", {}).values():
        _no_nul(child)
    if isinstance(schema.get("items"), dict):
        _no_nul(schema["items"])


def schema_add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the error body and the statuses every operation
    can answer (401/403/429 everywhere, 404 with path parameters, 400 with input, 415 with a body),
    and that input strings hold no NUL character."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name.endswith("Request"):
            _no_nul(schema)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                _no_nul(parameter.get("schema", {}))
    schemas["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = ["401", "403", "429"]
            if "{" in path:
                codes.append("404")
            if operation.get("parameters") or operation.get("requestBody"):
                codes.append("400")
            if method != "get":
                codes.append("415")
            for code in codes:
                responses.setdefault(code, {"description": _ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response.setdefault("content", ref)
                    if code == "429":
                        response.setdefault(
                            "headers",
                            {
                                "Retry-After": {
                                    "schema": {"type": "integer"},
                                    "description": "Seconds to wait.",
                                }
                            },
                        )
    return result
