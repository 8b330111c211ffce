from __future__ import annotations

from conftest import ClientFactory


async def metrics_text(client_for: ClientFactory, **env: str) -> tuple[str, str]:
    client = await client_for(**env)
    await client.get("/healthz")
    await client.get("/no/such/page/42")
    response = await client.get("/metrics")
    assert response.status_code == 200
    return await response.get_data(as_text=True), response.headers["Content-Type"]


async def test_request_counter_by_route_method_status(client_for: ClientFactory) -> None:
    text, content_type = await metrics_text(client_for)
    assert content_type.startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    # Unmatched paths share one label value instead of one series per path.
    assert 'http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert "/no/such/page/42" not in text


async def test_latency_histogram_by_route(client_for: ClientFactory) -> None:
    text, _ = await metrics_text(client_for)
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",route="/healthz"} 1.0' in text
    assert 'http_request_duration_seconds_count{route="/healthz"} 1.0' in text


async def test_build_info(client_for: ClientFactory) -> None:
    text, _ = await metrics_text(
        client_for, SERVICE_NAME="orders-api", SERVICE_VERSION="1.2.3", GIT_SHA="abc1234"
    )
    labels = 'kind="backend",revision="abc1234",service="orders-api",version="1.2.3"'
    assert f"probe_build_info{{{labels}}} 1.0" in text


async def test_each_app_has_its_own_registry(client_for: ClientFactory) -> None:
    first = await client_for(SERVICE_NAME="one")
    second = await client_for(SERVICE_NAME="two")
    await first.get("/healthz")
    await first.get("/healthz")
    text = await (await second.get("/metrics")).get_data(as_text=True)
    assert 'route="/healthz"' not in text
    assert 'service="two"' in text
    assert 'service="one"' not in text
