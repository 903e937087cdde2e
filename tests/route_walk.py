"""Shared helpers for the cross-cutting API tests: walk the live routes, introspect guards.

Everything here reads what the running server says about itself (its OpenAPI document and its
FastAPI route table), so a new route is picked up by the tests without anyone listing it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.routing import APIRoute, APIWebSocketRoute

API_PREFIX = "/api/v1"
# An id no test ever creates (and within the ge=1, le=2**53 bounds of every id parameter).
UNKNOWN_ID = 10**9
ID_NAME = re.compile(r"(^|_)ids?$")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # relative to /api/v1, e.g. "/users/{user_id}"
    spec: dict[str, Any] = field(compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p.get("in") == where]

    @property
    def path_params(self) -> list[str]:
        return [p["name"] for p in self.params("path")]

    @property
    def id_path_params(self) -> list[str]:
        return [n for n in self.path_params if ID_NAME.search(n)]

    @property
    def id_query_params(self) -> list[str]:
        return [p["name"] for p in self.params("query") if ID_NAME.search(p["name"])]

    @property
    def body_media(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))

    @property
    def is_platform(self) -> bool:
        return self.path.startswith("/platform/")

    def url(self, **values: Any) -> str:
        return self.path.format(**values)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def openapi(client: httpx.Client) -> dict[str, Any]:
    """The live OpenAPI document (`client` is bound to /api/v1). A new app builds it on the
    first request, which takes a while on a busy machine: the timeout is generous."""
    r = client.get("/openapi.json", timeout=120)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def operations(doc: dict[str, Any]) -> list[Operation]:
    ops = []
    for path, item in doc["paths"].items():
        assert path.startswith(API_PREFIX), path
        for method, spec in item.items():
            if method in HTTP_METHODS:
                ops.append(Operation(method.upper(), path[len(API_PREFIX) :], spec))
    return ops


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _object_schemas(doc: dict[str, Any], schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object schemas a body may be (following $ref, anyOf/oneOf/allOf)."""
    schema = resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _object_schemas(doc, sub)
    if schema.get("type") == "object" or "properties" in schema:
        yield schema


def body_id_fields(doc: dict[str, Any], op: Operation) -> list[str]:
    """Top-level JSON body fields naming an id (`role_id`, `user_ids`, `tenant_id`, ...)."""
    content = op.spec.get("requestBody", {}).get("content", {})
    names: list[str] = []
    for media in content.values():
        for obj in _object_schemas(doc, media.get("schema", {})):
            for name in obj.get("properties", {}):
                if ID_NAME.search(name) and name not in names:
                    names.append(name)
    return names


def body_properties(doc: dict[str, Any], op: Operation, of_type: str | None = None) -> list[str]:
    """Top-level properties of the operation's JSON body (only those that may be `of_type`)."""
    media = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
    names: list[str] = []
    for obj in _object_schemas(doc, (media or {}).get("schema", {})):
        for name, schema in obj.get("properties", {}).items():
            if name not in names and (of_type is None or of_type in _types(doc, schema)):
                names.append(name)
    return names


def nested_string_properties(doc: dict[str, Any], op: Operation) -> list[tuple[str, str]]:
    """(property, sub-property) pairs of the JSON body: string fields one object deep, such as
    `profile.email` in {"profile": {"email": ...}}."""
    media = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
    pairs: list[tuple[str, str]] = []
    for obj in _object_schemas(doc, (media or {}).get("schema", {})):
        for name, schema in obj.get("properties", {}).items():
            for sub_obj in _object_schemas(doc, schema):
                for sub, sub_schema in sub_obj.get("properties", {}).items():
                    if (name, sub) not in pairs and "string" in _types(doc, sub_schema):
                        pairs.append((name, sub))
    return pairs


def nested_body_id_fields(doc: dict[str, Any], op: Operation) -> list[str]:
    """JSON body fields naming an id one level down, as "parent.field": inside an object
    (`on_target.id` in {"on_target": {"type": "group", "id": 7}}) or inside the objects of an
    array (`items.skill_group_id` in {"items": [{"label": "x", "skill_group_id": 7}]})."""
    content = op.spec.get("requestBody", {}).get("content", {})
    names: list[str] = []
    for media in content.values():
        for obj in _object_schemas(doc, media.get("schema", {})):
            for name, schema in obj.get("properties", {}).items():
                for sub_obj in _object_schemas(doc, _items_or_self(doc, schema)):
                    for sub in sub_obj.get("properties", {}):
                        label = f"{name}.{sub}"
                        if ID_NAME.search(sub) and label not in names:
                            names.append(label)
    return names


def _items_or_self(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """An array's item schema (also inside anyOf/oneOf, e.g. `list[X] | None`), else the schema."""
    schema = resolve(doc, schema)
    if "items" in schema:
        return resolve(doc, schema["items"])
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            sub = resolve(doc, sub)
            if "items" in sub:
                return resolve(doc, sub["items"])
    return schema


def _types(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = resolve(doc, schema)
    out = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type", []))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out |= _types(doc, sub)
    return out


def string_query_params(doc: dict[str, Any], op: Operation) -> list[str]:
    return [p["name"] for p in op.params("query") if "string" in _types(doc, p.get("schema", {}))]


# --- FastAPI route table ------------------------------------------------------------------


@dataclass(frozen=True)
class AppRoute:
    kind: str  # "http" or "websocket"
    method: str  # upper case; "WS" for websockets
    path: str  # relative to /api/v1
    name: str
    dependant: Any = field(compare=False, repr=False)
    include_in_schema: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def _route_contexts(app: Any) -> Iterator[Any]:
    """Every route of the app; FastAPI >= 0.16x keeps included routers nested."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        yield from app.routes
        return
    yield from iter_route_contexts(app.routes)


def app_routes(app: Any) -> list[AppRoute]:
    """The API routes under /api/v1 (not the docs, the catch-all 404 or the web apps)."""
    out: list[AppRoute] = []
    for rc in _route_contexts(app):
        original = getattr(rc, "original_route", rc)
        path = rc.path or ""
        if not path.startswith(API_PREFIX + "/") or "{path:path}" in path:
            continue
        rel = path[len(API_PREFIX) :]
        if isinstance(original, APIWebSocketRoute):
            out.append(AppRoute("websocket", "WS", rel, rc.name, rc.dependant))
        elif isinstance(original, APIRoute):
            for method in sorted(rc.methods or ()):
                out.append(
                    AppRoute(
                        "http",
                        method,
                        rel,
                        rc.name,
                        rc.dependant,
                        bool(getattr(rc, "include_in_schema", True)),
                    )
                )
    return out


def _walk(dependant: Any) -> Iterator[Any]:
    stack = [dependant]
    while stack:
        dep = stack.pop()
        yield dep
        stack.extend(dep.dependencies)


def required_pages(dependant: Any) -> set[frozenset[str]]:
    """The page guards of a route, one set of page keys per guard: the caller gets through a
    guard with any one page of its set. `require_page(p)` marks its check with kefu_page (the
    set {p}); `require_any_page(p, q, ...)` marks it with kefu_pages (the set {p, q, ...})."""
    guards: set[frozenset[str]] = set()
    for dep in _walk(dependant):
        single = getattr(dep.call, "kefu_page", None)
        if single is not None:
            guards.add(frozenset({single}))
        several = getattr(dep.call, "kefu_pages", None)
        if several is not None:
            assert several and all(isinstance(p, str) for p in several), several
            guards.add(frozenset(several))
    return guards


def requires_principal(dependant: Any) -> bool:
    """Whether the route resolves the signed-in caller (directly or through a page guard)."""
    from kefu.access.principal import current_principal

    return any(dep.call is current_principal for dep in _walk(dependant))


# --- small payloads -----------------------------------------------------------------------


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def error_code(r: Any) -> str | None:
    """The `error.code` of an httpx or schemathesis response, if it has one."""
    try:
        body = r.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


def describe(r: httpx.Response, limit: int = 300) -> str:
    return f"{r.status_code} {r.text[:limit]}"
