from __future__ import annotations

from typing import Any

from conftest import ClientFactory
from support import AppServer, StubBackend, closed_port_url


async def api_status(client_for: ClientFactory, **env: str) -> dict[str, Any]:
    client = await client_for(SERVICE_KIND="frontend", **env)
    response = await client.get("/api/status")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def page(client_for: ClientFactory, **env: str) -> str:
    client = await client_for(SERVICE_KIND="frontend", **env)
    response = await client.get("/")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    text: str = await response.get_data(as_text=True)
    return text


async def test_health_endpoints(client_for: ClientFactory) -> None:
    client = await client_for(SERVICE_KIND="frontend", BACKEND_URL="http://backend:8080")
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert (await ready.get_json())["checks"]["config"]["status"] == "pass"
    version = await (await client.get("/version")).get_json()
    assert (version["service"], version["kind"]) == ("frontend", "frontend")
    metrics = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'probe_build_info{kind="frontend"' in metrics


async def test_readiness_fails_without_a_usable_backend_url(client_for: ClientFactory) -> None:
    for env in ({}, {"BACKEND_URL": "ftp://backend"}, {"BACKEND_URL": "backend:8080"}):
        client = await client_for(SERVICE_KIND="frontend", **env)
        response = await client.get("/readyz")
        assert response.status_code == 503
        body = await response.get_json()
        assert body["checks"]["config"]["status"] == "fail"
        assert "BACKEND_URL" in body["checks"]["config"]["output"]
        status = await (await client.get("/api/status")).get_json()
        assert status["backend"]["reachable"] is False
        assert "BACKEND_URL" in status["backend"]["error"]


async def test_status_with_a_real_backend(
    client_for: ClientFactory, real_backend: AppServer
) -> None:
    body = await api_status(client_for, BACKEND_URL=real_backend.url, SERVICE_VERSION="4.5.6")
    frontend, backend = body["frontend"], body["backend"]
    assert frontend["version"] == "4.5.6"
    assert frontend["health"]["status"] == "pass"
    assert backend["url"] == real_backend.url
    assert backend["reachable"] is True
    assert backend["ready"] is True
    assert backend["error"] is None
    assert backend["version"]["service"] == "orders-api"
    assert backend["version"]["version"] == "1.2.3"
    assert backend["readiness"]["status"] == "pass"
    assert backend["latency_ms"] >= 0


async def test_status_with_a_backend_that_is_not_ready(client_for: ClientFactory) -> None:
    with AppServer(SERVICE_KIND="backend", REQUIRED_CONFIG="DB_URL") as unready:
        body = await api_status(client_for, BACKEND_URL=unready.url)
        html = await page(client_for, BACKEND_URL=unready.url)
    backend = body["backend"]
    assert (backend["reachable"], backend["ready"], backend["error"]) == (True, False, None)
    assert "DB_URL" in backend["readiness"]["checks"]["config"]["output"]
    # Deliberately, the frontend stays ready: its own readiness ignores the backend.
    assert body["frontend"]["health"]["status"] == "pass"
    assert '<header id="overall" class="banner fail">' in html
    assert "Not ready: backend not ready" in html
    assert '<span class="badge fail">not ready</span>' in html
    assert "DB_URL" in html


async def test_status_with_a_backend_that_is_down(client_for: ClientFactory) -> None:
    url = closed_port_url()
    body = await api_status(client_for, BACKEND_URL=url, BACKEND_TIMEOUT_S="2")
    backend = body["backend"]
    assert backend["reachable"] is False
    assert backend["ready"] is None
    assert backend["version"] is None
    assert backend["error"].startswith("unreachable")
    assert body["frontend"]["health"]["status"] == "pass"
    html = await page(client_for, BACKEND_URL=url)
    assert "Not ready: backend unreachable" in html
    assert '<span class="badge fail">unreachable</span>' in html


async def test_status_with_a_backend_that_is_too_slow(client_for: ClientFactory) -> None:
    with StubBackend(hold_s=5) as slow:
        body = await api_status(client_for, BACKEND_URL=slow.url, BACKEND_TIMEOUT_S="0.2")
        html = await page(client_for, BACKEND_URL=slow.url, BACKEND_TIMEOUT_S="0.2")
    backend = body["backend"]
    assert backend["reachable"] is False
    assert backend["error"].startswith("timeout")
    assert 150 <= backend["latency_ms"] < 2000
    assert '<span class="badge fail">timeout</span>' in html


async def test_status_with_a_backend_that_errors(client_for: ClientFactory) -> None:
    with StubBackend(status=500) as broken:
        body = await api_status(client_for, BACKEND_URL=broken.url)
        html = await page(client_for, BACKEND_URL=broken.url)
    backend = body["backend"]
    assert backend["reachable"] is True
    assert (backend["ready"], backend["version"]) == (None, None)
    assert "HTTP 500 from /version" in backend["error"]
    assert "HTTP 500 from /readyz" in backend["error"]
    assert "HTTP 500" in html
    assert '<span class="badge fail">error</span>' in html


async def test_page_shows_both_sides(client_for: ClientFactory, real_backend: AppServer) -> None:
    html = await page(
        client_for, BACKEND_URL=real_backend.url, SERVICE_NAME="shop-web", SERVICE_VERSION="4.5.6"
    )
    assert '<meta http-equiv="refresh" content="5">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<script" not in html
    assert '<header id="overall" class="banner pass">' in html
    assert "All ready" in html
    # The versions table: one row per side, its own version and the backend's /version.
    assert '<th scope="row">frontend</th><td>shop-web</td><td>4.5.6</td>' in html
    assert '<th scope="row">backend</th><td>orders-api</td><td>1.2.3</td>' in html
    assert html.count('<span class="badge pass">ready</span>') == 2


async def test_page_says_when_the_frontend_itself_is_not_ready(client_for: ClientFactory) -> None:
    html = await page(client_for)  # no BACKEND_URL: the frontend's config check fails
    assert '<header id="overall" class="banner fail">' in html
    assert "Not ready: frontend not ready; backend BACKEND_URL is not set" in html


async def test_page_escapes_values(client_for: ClientFactory) -> None:
    hostile = '<script>alert("x")</script>&'
    html = await page(
        client_for,
        SERVICE_NAME=hostile,
        ENVIRONMENT="<b>prod</b>",
        BACKEND_URL=closed_port_url() + "/?q=<i>",
    )
    assert "<script>" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
