"""``/docs`` needs no internet (issue 20 item 12): every asset is local."""

from __future__ import annotations

import re

import httpx


async def test_docs_page_loads_every_asset_from_this_server(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not on this server"
        loaded = await client.get(asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 0
    assert "<script>" not in response.text, "no inline script: the CSP allows 'self' only"


async def test_swagger_ui_reads_openapi_3_1(client: httpx.AsyncClient) -> None:
    """Swagger UI 5 is needed for the OpenAPI 3.1 document FastAPI writes."""
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    bundle = (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)
