"""Validation of responses against Allegro's official OpenAPI file, with openapi-core.

The file lives next to the project: `<project root>/../shared/allegro/`. By default the subset with
only the inbox's paths is loaded (identical operations and schemas, 12x smaller); the environment
variable ALLEGRO_OPENAPI_FILE points at another file (for example the full
`allegro-openapi-swagger.yaml`). Specs are parsed once per file and cached.

Two things make validation strict rather than decorative:

* Allegro's bodies use vendor media types (`application/vnd.allegro.public.v1+json`,
  `...beta.v1+json`). openapi-core only JSON-decodes media types it knows, and otherwise hands the raw
  bytes to the schema, so those types get a JSON deserializer here.
* Schemas that do not mention `additionalProperties` are treated as closed, so an undocumented or
  misspelt field (e.g. `filename` where the spec says `fileName`) fails validation.

    validate_response("GET", "/messaging/threads", 200, response.headers, response.content)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.deserializing.media_types.util import json_loads
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SUBSET_FILE = "allegro-openapi-subset-inbox.yaml"
FULL_FILE = "allegro-openapi-swagger.yaml"
SERVER_URL = "https://api.allegro.pl"
VENDOR_MEDIA_TYPES = (
    "application/vnd.allegro.public.v1+json",
    "application/vnd.allegro.beta.v1+json",
)
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class SpecValidationError(AssertionError):
    def __init__(self, method: str, path: str, status: int, errors: list[str]):
        self.errors = errors
        super().__init__(
            f"{method.upper()} {path} -> {status} does not match the spec:\n  " + "\n  ".join(errors)
        )


def project_root() -> Path:
    try:
        from django.conf import settings

        if settings.configured:
            return Path(settings.BASE_DIR)
    except ImportError:  # pragma: no cover - Django is always installed in this project
        pass
    return Path(__file__).resolve().parents[3]


def shared_file(name: str) -> Path:
    return project_root().parent / "shared" / "allegro" / name


def spec_path(*, full: bool = False) -> Path:
    """The spec file: ALLEGRO_OPENAPI_FILE, else `<project root>/../shared/allegro/<subset|full>`."""
    override = os.environ.get("ALLEGRO_OPENAPI_FILE")
    if override and not full:
        return Path(override)
    return shared_file(FULL_FILE if full else SUBSET_FILE)


@lru_cache(maxsize=4)
def load_spec(path: Path | None = None) -> dict[str, Any]:
    path = path or spec_path()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def _open_annotation_mixins(node: Any) -> Any:
    """Copy of the spec where inline `allOf` members without properties allow any property.

    The spec decorates references like `allOf: [{$ref: Price}, {type: object, description: ...}]`.
    Under the closed-schema policy such a property-less annotation would reject Price's own fields;
    it constrains nothing, so it is opened explicitly. Referenced schemas stay closed.
    """
    if isinstance(node, list):
        return [_open_annotation_mixins(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _open_annotation_mixins(value) for key, value in node.items()}
    for member in out.get("allOf", []):
        if isinstance(member, dict) and "$ref" not in member and "properties" not in member:
            member.setdefault("additionalProperties", True)
    return out


@lru_cache(maxsize=4)
def openapi(path: Path | None = None) -> OpenAPI:
    spec = _open_annotation_mixins(load_spec(path))
    config = Config(
        extra_media_type_deserializers=dict.fromkeys(VENDOR_MEDIA_TYPES, json_loads),
        additional_properties_default_policy="forbid",
        # Checking the 1.4 MB file's own validity takes seconds; the subset is cheap to check.
        **({} if len(spec.get("paths", {})) < 100 else {"spec_validator_cls": None}),
    )
    return OpenAPI.from_dict(spec, config=config)


def operation(method: str, path_template: str, path: Path | None = None) -> dict[str, Any]:
    try:
        return load_spec(path)["paths"][path_template][method.lower()]
    except KeyError:
        raise KeyError(f"{method.upper()} {path_template} is not in the spec") from None


def operations(path: Path | None = None) -> list[tuple[str, str]]:
    """Every (METHOD, path template) of the spec."""
    return [
        (method.upper(), template)
        for template, item in load_spec(path)["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]


def documented_statuses(method: str, path_template: str, path: Path | None = None) -> set[int]:
    return {int(code) for code in operation(method, path_template, path)["responses"] if code.isdigit()}


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def response_errors(
    method: str,
    path_template: str,
    status: int,
    headers: Mapping[str, str] | None,
    body: Any,
    *,
    path: Path | None = None,
) -> list[str]:
    """Why a response does not match the spec: undocumented status, wrong media type, bad body or headers."""
    api = openapi(path)
    request = MockRequest(SERVER_URL, method.lower(), path_template, path_pattern=path_template)
    content_type = _header(headers, "content-type")
    response = MockResponse(
        _body_bytes(body), status_code=status, headers=dict(headers or {}), content_type=content_type
    )  # type: ignore[arg-type]
    errors = []
    for exc in api.iter_response_errors(request, response):
        causes = [str(exc)]
        cause = exc.__cause__
        while cause is not None:
            causes.append(str(cause))
            for sub in getattr(cause, "schema_errors", ()) or ():
                causes.append(f"{'/'.join(map(str, sub.absolute_path)) or '<root>'}: {sub.message}")
            cause = cause.__cause__
        errors.append(" | ".join(dict.fromkeys(causes)))
    return errors


def validate_response(
    method: str,
    path_template: str,
    status: int,
    headers: Mapping[str, str] | None,
    body: Any,
    *,
    path: Path | None = None,
) -> None:
    """Raise `SpecValidationError` unless the response matches the operation in the spec."""
    errors = response_errors(method, path_template, status, headers, body, path=path)
    if errors:
        raise SpecValidationError(method, path_template, status, errors)


@lru_cache(maxsize=32)
def _schema_validator(name: str, path: Path | None = None) -> OAS30Validator:
    resource = Resource.from_contents(load_spec(path), default_specification=DRAFT4)
    registry = Registry().with_resource("urn:allegro-spec", resource)
    return OAS30Validator(
        {"$ref": f"urn:allegro-spec#/components/schemas/{name}"},
        registry=registry,
        format_checker=oas30_format_checker,
    )


def schema_errors(name: str, instance: Any, *, path: Path | None = None) -> list[str]:
    """Validate a document against a component schema (e.g. `ErrorsHolder` for an undocumented 429)."""
    validator = _schema_validator(name, path)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]
