from tests.helpers import Api


def test_health(api: Api) -> None:
    body = api.anon.ok("GET", "/health")
    assert body["status"] == "ok"


def test_provision_and_login(api: Api) -> None:
    t = api.provision()
    me = t.admin.ok("GET", "/me")
    assert "admin" in me["modes"] and me["tenant"]["id"] == t.id
