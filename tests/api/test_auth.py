"""Tokens and roles on every route: 401 without a valid token where one is needed, 403
for too low a role, the local user as admin only on loopback without --require-token."""

from __future__ import annotations

import pytest

from api.conftest import Home, api_client, error_code
from heron.api.tokens import TokenStore

pytestmark = pytest.mark.anyio
ADMIN_ONLY = {("POST", "/api/runs/{run_id}/resume"), ("GET", "/api/tokens"),
              ("POST", "/api/tokens"), ("DELETE", "/api/tokens/{token_id}")}


@pytest.fixture(scope="module")
def secrets(home: Home) -> dict[str, str]:
    store = TokenStore(home.settings().server_db)
    try:
        return {role: store.create(role, f"{role} test")[1]
                for role in ("viewer", "trader", "admin")}
    finally:
        store.close()


async def _routes(home: Home) -> list[tuple[str, str]]:
    """Every route of the API, as its OpenAPI schema lists it."""
    async with api_client(home.settings(), home.manager) as http:
        paths = (await http.get("/openapi.json")).json()["paths"]
    found = [(method.upper(), path) for path, ops in paths.items() for method in ops]
    assert all(path.startswith("/api/") for _, path in found) and len(found) >= 30
    return found


def _needed(method: str, path: str) -> str:
    if (method, path) in ADMIN_ONLY:
        return "admin"
    return "viewer" if method == "GET" else "trader"


def _concrete(path: str, run_id: str) -> str:
    return path.replace("{run_id}", run_id).replace(
        "{client_order_id}", "nope").replace("{token_id}", "tok_nope")


async def test_every_route_refuses_roles_below_the_one_it_needs(
        home: Home, secrets: dict[str, str]) -> None:
    settings = home.settings(require_token=True)
    from managed_runs import backtest_config

    run_id = home.manager.create("backtest", backtest_config()).run_id  # ours to start
    for method, path in await _routes(home):
        needed = _needed(method, path)
        url = _concrete(path, run_id)
        for role, secret in secrets.items():
            if path.endswith("/stream"):
                continue  # a granted stream never ends: checked below without a token
            async with api_client(settings, home.manager, token=secret) as http:
                answer = await http.request(method, url)
            allowed = ("viewer", "trader", "admin").index(role) >= (
                "viewer", "trader", "admin").index(needed)
            if allowed:
                assert answer.status_code not in (401, 403), (method, path, role)
            else:
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert error_code(answer) == "forbidden"
                assert answer.json()["error"]["details"]["needed"] == needed
        async with api_client(settings, home.manager) as http:
            answer = await http.request(method, url)
        assert answer.status_code == 401, (method, path)
        assert error_code(answer) == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_tokens_by_header_or_query_and_bad_ones_refused(
        home: Home, secrets: dict[str, str]) -> None:
    settings = home.settings(require_token=True)
    async with api_client(settings, home.manager) as http:
        me = await http.get("/api/me", headers={"Authorization":
                                                f"Bearer {secrets['trader']}"})
        assert me.json()["role"] == "trader" and me.json()["token_id"].startswith("tok_")
        by_query = await http.get("/api/me", params={"token": secrets["viewer"]})
        assert by_query.json()["role"] == "viewer"
        for header in ("Bearer heron_wrong", "Basic abc", "Bearer ", "heron_x"):
            answer = await http.get("/api/me", headers={"Authorization": header})
            assert answer.status_code == 401 and error_code(answer) == "unauthorized", header
        assert (await http.get("/api/me", params={"token": "heron_wrong"})).status_code == 401


async def test_local_user_is_admin_only_on_loopback_without_require_token(
        home: Home, secrets: dict[str, str]) -> None:
    async with api_client(home.settings(), home.manager) as http:
        assert (await http.get("/api/me")).json() == {"role": "admin", "token_id": None}
        as_viewer = await http.post("/api/runs", json={"kind": "backtest", "config": ""},
                                    headers={"Authorization": f"Bearer {secrets['viewer']}"})
        assert as_viewer.status_code == 403  # a token always gets its own role
        wrong = await http.get("/api/me", headers={"Authorization": "Bearer heron_wrong"})
        assert wrong.status_code == 401
    async with api_client(home.settings(), home.manager, client=("10.1.2.3", 4000)) as http:
        assert (await http.get("/api/me")).status_code == 401  # not from this machine
    async with api_client(home.settings(host="0.0.0.0"), home.manager) as http:
        assert (await http.get("/api/me")).status_code == 401
        ok = await http.get("/api/me", headers={"Authorization": f"Bearer {secrets['admin']}"})
        assert ok.json()["role"] == "admin"


async def test_admin_manages_tokens_and_secrets_are_never_listed(
        home: Home, secrets: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {secrets['admin']}"}
    async with api_client(home.settings(require_token=True), home.manager) as http:
        made = await http.post("/api/tokens", json={"role": "viewer", "name": "ci"},
                               headers=admin)
        assert made.status_code == 201
        secret, token = made.json()["secret"], made.json()["token"]
        assert secret.startswith("heron_") and token["role"] == "viewer"
        listed = await http.get("/api/tokens", headers=admin, params={"limit": 1000})
        assert token["token_id"] in [t["token_id"] for t in listed.json()["items"]]
        assert secret not in listed.text and secrets["admin"] not in listed.text
        viewer = {"Authorization": f"Bearer {secret}"}
        assert (await http.get("/api/me", headers=viewer)).status_code == 200
        gone = await http.delete(f"/api/tokens/{token['token_id']}", headers=admin)
        assert gone.status_code == 204
        assert (await http.get("/api/me", headers=viewer)).status_code == 401
        again = await http.delete(f"/api/tokens/{token['token_id']}", headers=admin)
        assert again.status_code == 404 and error_code(again) == "not_found"
        bad_role = await http.post("/api/tokens", json={"role": "root"}, headers=admin)
        assert bad_role.status_code == 422
        for path in ("/api/runs", f"/api/runs/{home.month}"):
            assert secrets["admin"] not in (await http.get(path, headers=admin)).text
