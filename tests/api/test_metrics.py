"""GET /metrics: Prometheus text, route templates as labels, the optional scrape token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Network
from tests.api.world import OPERATOR, running_network

TOKEN = "scrape-" + "s" * 40


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("metrics"), metrics_token=TOKEN, max_body_bytes=4096) as net:
        yield net


def test_metrics_open_by_default_and_labelled_by_route_template(network: Network) -> None:
    client = network.client
    assert client.get("/organisations/1", headers=OPERATOR).status_code == 200
    assert client.get("/organisations/999999", headers=OPERATOR).status_code == 404
    body = client.get("/metrics")
    assert body.status_code == 200
    text = body.text
    assert 'scf_api_requests_total{method="GET",route="/organisations/{org_id}",status="200"} 1.0' in text
    assert 'scf_api_requests_total{method="GET",route="/organisations/{org_id}",status="404"} 1.0' in text
    assert "999999" not in text
    for name in (
        "scf_api_chain_up 1.0",
        "scf_api_indexer_lag_blocks",
        'scf_api_relay_outbox_depth{state="pending"}',
    ):
        assert name in text
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_token_required_when_configured(guarded: Network) -> None:
    client = guarded.client
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_token"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        client.get("/metrics", headers=OPERATOR).status_code == 401
    )  # a member's key is not the scrape token
    assert client.post("/organisations", headers=OPERATOR, content=b"x" * 8192).status_code == 413
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    assert 'scf_api_requests_total{method="GET",route="/metrics",status="401"} 3.0' in ok.text
    assert 'status="413"' in ok.text  # refused before the route ran, counted all the same
