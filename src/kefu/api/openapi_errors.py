"""The error answers every API operation documents, added to the OpenAPI document once.

All errors share one shape (`ErrorOut`, see kefu.core.errors). Declaring them per route
(`responses=`) made FastAPI build a pydantic adapter for each status of each route, twice per
app (at include time and again on the first request): about 1,900 adapters, most of an app's
start-up time. The document is the same; only its assembly moved here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from kefu.core.schemas import ErrorOut

ERROR_STATUSES: tuple[tuple[int, str], ...] = (
    (400, "Bad request"),
    (401, "Not signed in (code `unauthenticated`) or bad credentials"),
    (403, "Signed in but not allowed (code `forbidden`)"),
    (404, "Unknown id, or an id of another tenant (code `not_found`)"),
    (409, "Conflicts with current state (e.g. `seats_exceeded`, `email_taken`)"),
    (422, "Invalid input (code `validation_error`, with `fields`)"),
    (429, "Too many attempts (code `too_many_attempts`)"),
)
_REF = "#/components/schemas/"
# FastAPI's own 422 answer, which Kefu never sends (validation errors are `ErrorOut` too).
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def add_error_responses(doc: dict[str, Any], skip_paths: set[str]) -> dict[str, Any]:
    """Document the error statuses on every operation outside `skip_paths` (in place)."""
    error = {"application/json": {"schema": {"$ref": _REF + "ErrorOut"}}}
    for path, operations in doc.get("paths", {}).items():
        if path in skip_paths:
            continue
        for operation in operations.values():
            kept = {
                code: answer
                for code, answer in operation.get("responses", {}).items()
                if not _is_fastapi_422(code, answer)
            }
            for status, text in ERROR_STATUSES:
                kept[str(status)] = {"description": text, "content": error}
            operation["responses"] = dict(sorted(kept.items()))
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_error_schemas())
    text = repr(doc["paths"])
    for name in _FASTAPI_422:
        if _REF + name not in text:
            schemas.pop(name, None)
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    return doc


def _error_schemas() -> dict[str, Any]:
    """`ErrorOut` and what it refers to, as FastAPI itself writes a response model."""

    async def endpoint() -> None:
        return None

    route = APIRoute("/", endpoint, response_model=ErrorOut)
    doc = get_openapi(title="errors", version="0", routes=[route])
    out: dict[str, Any] = doc["components"]["schemas"]
    return out


def _is_fastapi_422(code: str, answer: dict[str, Any]) -> bool:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return code == "422" and schema.get("$ref") == _REF + "HTTPValidationError"


def install(app: FastAPI, skip_paths: set[str]) -> None:
    """`app.openapi()` returns the document with the error answers (built once, cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(build(), skip_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
