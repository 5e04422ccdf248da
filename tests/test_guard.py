"""Access control (bearer tokens for TRS and operator routes) and configurable CORS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import GatewayFactory

TOOL = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-wordcount"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_trs_and_operator_routes_each_need_their_tokens(
    gateway: GatewayFactory, demo_upstream: dict[str, Any], tmp_path: Path
) -> None:
    files = tmp_path / "tokens"
    files.write_text("\nfrom-a-file\n\n")
    client = await gateway(
        [demo_upstream],
        server={
            "access": {
                "tokens": ["reader-token", ""],
                "token_files": [str(files)],
                "operator_tokens": ["operator-token"],
            }
        },
    )
    missing = await client.get(TOOL)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.headers["Cache-Control"] == "no-store"
    assert (await missing.json())["code"] == 401
    assert (await client.get(TOOL, headers=bearer("nope"))).status == 401
    assert (await client.get(TOOL, headers={"Authorization": "Basic x"})).status == 401
    for token in ("reader-token", "from-a-file", "operator-token"):
        assert (await client.get(TOOL, headers=bearer(token))).status == 200, token

    assert (await client.get("/health")).status == 200, "probes need no token"
    for path in ("/metrics", "/health/ready", "/"):
        assert (await client.get(path)).status == 401, path
        assert (await client.get(path, headers=bearer("reader-token"))).status == 401, path
        assert (await client.get(path, headers=bearer("operator-token"))).status in (200, 503)


async def test_without_tokens_everything_is_open(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway([demo_upstream])
    for path in (TOOL, "/metrics", "/health/ready", "/"):
        assert (await client.get(path)).status == 200, path


async def test_cors_allows_only_the_configured_origins(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway([demo_upstream], server={"cors_origins": ["https://portal.example"]})
    allowed = await client.get(TOOL, headers={"Origin": "https://portal.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert "Origin" in allowed.headers.getall("Vary", [])
    assert "next_page" in allowed.headers["Access-Control-Expose-Headers"]
    other = await client.get(TOOL, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers

    anyone = await gateway([demo_upstream])
    response = await anyone.get(TOOL, headers={"Origin": "https://evil.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_a_client_over_its_rate_gets_429_with_retry_after(
    gateway: GatewayFactory, demo_upstream: dict[str, Any]
) -> None:
    client = await gateway(
        [demo_upstream],
        server={"rate_limit": {"per_second": 0.01, "burst": 3}, "trusted_proxies": ["127.0.0.0/8"]},
    )
    statuses = [(await client.get(TOOL)).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = await client.get(TOOL)
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["code"] == 429
    assert (await client.get("/health")).status == 200, "probes are never limited"
    # Another client: by its token, or by the address a trusted proxy forwards.
    assert (await client.get(TOOL, headers=bearer("someone"))).status == 200
    forwarded = {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}
    assert (await client.get(TOOL, headers=forwarded)).status == 200
