from tests.helpers import Api


def test_health(api: Api) -> None:
    body = api.anon.ok("GET", "/health")
    assert body["status"] == "ok"


def test_provision_and_login(api: Api) -> None:
    t = api.provision()
    me = t.admin.ok("GET", "/me")
    assert "admin" in me["modes"] and me["tenant"]["id"] == t.id


def test_unknown_api_path_is_json_404(api: Api) -> None:
    r = api.anon.get("/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_openapi_lists_routes(api: Api) -> None:
    doc = api.anon.ok("GET", "/openapi.json")
    assert "/api/v1/users/{user_id}" in doc["paths"] and "/api/v1/health" in doc["paths"]


def test_console_shell_served_for_app_paths(api: Api) -> None:
    import httpx

    r = httpx.get(api.base_url + "/admin/members/agents", timeout=30)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


def test_web_client_schema_matches_the_server() -> None:
    """The console's generated API types come from web/shared/api/openapi.json: keep it current."""
    import difflib
    import json
    from pathlib import Path

    from kefu.api.app import create_app

    path = Path(__file__).parent.parent / "web/shared/api/openapi.json"
    committed = json.dumps(json.loads(path.read_text()), indent=1, sort_keys=True)
    current = json.dumps(create_app().openapi(), indent=1, sort_keys=True)
    # A short diff, not pytest's whole-document dump, so CI logs show what changed.
    diff = list(difflib.unified_diff(committed.splitlines(), current.splitlines(), lineterm=""))
    assert not diff, (
        "run: kefu openapi > web/shared/api/openapi.json && (cd web && npm run gen:api)\n"
        + "\n".join(diff[:40])
    )
