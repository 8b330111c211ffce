from __future__ import annotations

from conftest import ClientFactory
from probe.config import installed_version


async def test_healthz_passes(client_for: ClientFactory) -> None:
    client = await client_for()
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "pass"}


async def test_readyz_passes_without_required_config(client_for: ClientFactory) -> None:
    client = await client_for()
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "pass"
    assert body["checks"]["config"]["status"] == "pass"


async def test_readyz_passes_when_required_config_is_set(client_for: ClientFactory) -> None:
    client = await client_for(REQUIRED_CONFIG="DB_URL", DB_URL="postgres://db")
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert "DB_URL" in (await response.get_json())["checks"]["config"]["output"]


async def test_readyz_fails_naming_the_missing_variable(client_for: ClientFactory) -> None:
    client = await client_for(REQUIRED_CONFIG="DB_URL,FEATURE_FLAG", DB_URL="postgres://db")
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "fail"
    failing = {name for name, check in body["checks"].items() if check["status"] == "fail"}
    assert failing == {"config"}
    assert "FEATURE_FLAG" in body["checks"]["config"]["output"]
    assert "DB_URL" not in body["checks"]["config"]["output"]
    # Readiness failing must not take liveness with it, or the pod would be restarted.
    assert (await client.get("/healthz")).status_code == 200


async def test_version_reports_build_metadata(client_for: ClientFactory) -> None:
    client = await client_for(
        SERVICE_NAME="orders-api",
        SERVICE_VERSION="1.2.3",
        GIT_SHA="abc1234",
        IMAGE="registry.local/orders-api:1.2.3",
        BUILT_AT="2025-01-02T03:04:05Z",
        ENVIRONMENT="staging",
    )
    response = await client.get("/version")
    assert response.status_code == 200
    assert await response.get_json() == {
        "service": "orders-api",
        "kind": "backend",
        "version": "1.2.3",
        "revision": "abc1234",
        "image": "registry.local/orders-api:1.2.3",
        "built_at": "2025-01-02T03:04:05Z",
        "environment": "staging",
    }


async def test_version_fallbacks(client_for: ClientFactory) -> None:
    client = await client_for()
    body = await (await client.get("/version")).get_json()
    assert body["service"] == "backend"
    assert body["version"] == installed_version()
    assert body["revision"] == body["image"] == body["built_at"] == "unknown"
    assert body["environment"] == "local"


async def test_draining_fails_liveness_and_readiness(client_for: ClientFactory) -> None:
    client = await client_for()
    client.app.lifecycle.draining = True  # type: ignore[attr-defined]
    live = await client.get("/healthz")
    assert live.status_code == 500
    assert (await live.get_json())["status"] == "fail"
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert (await ready.get_json())["checks"]["lifecycle"]["status"] == "fail"


async def test_unknown_path_is_404(client_for: ClientFactory) -> None:
    client = await client_for()
    assert (await client.get("/nope")).status_code == 404
