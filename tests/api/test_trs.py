"""Every TRS route under every base path, against the shipped demo registry."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any
from urllib.parse import quote

import pytest
from yarl import URL

from gateway.config import DEFAULT_BASE_PATHS
from tests.conftest import GatewayFactory
from tests.schema import assert_valid

TOOL = "demo:demo-cwl-wordcount"
ENC = quote(TOOL, safe="")
VERSION = f"/tools/{ENC}/versions/1.0.0"


@pytest.fixture
async def client(gateway: GatewayFactory, demo_upstream: dict[str, Any]) -> Any:
    return await gateway([demo_upstream])


@pytest.fixture(params=DEFAULT_BASE_PATHS)
def base(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_service_info_describes_the_gateway(client: Any, base: str) -> None:
    response = await client.get(f"{base}/service-info")
    assert response.status == 200
    body = await response.json()
    assert_valid(body, "Service")
    assert body["type"] == {"group": "org.ga4gh", "artifact": "trs", "version": "2.0.1"}


async def test_tool_classes_validate(client: Any, base: str) -> None:
    response = await client.get(f"{base}/toolClasses")
    body = await response.json()
    assert_valid(body, "ToolClass", array=True)
    assert {c["name"] for c in body} == {"Workflow", "CommandLineTool"}


async def test_tools_listing_is_namespaced_and_links_through_the_gateway(
    client: Any, base: str
) -> None:
    response = await client.get(f"{base}/tools")
    assert response.status == 200
    body = await response.json()
    assert_valid(body, "Tool", array=True)
    assert {t["id"] for t in body} == {
        "demo:demo-cwl-wordcount",
        "demo:demo-cwl-md5sum",
        "demo:demo-wdl-hello",
        "demo:demo-nf-hello",
        "demo:demo-galaxy-wordcount",
    }
    origin = str(client.make_url(base))
    for tool in body:
        assert tool["url"] == f"{origin}/tools/{quote(tool['id'], safe='')}"
        for version in tool["versions"]:
            assert version["url"].startswith(tool["url"] + "/versions/")
    assert response.headers["self_link"].startswith(f"{origin}/tools?")
    assert response.headers["last_page"] == response.headers["self_link"]
    assert "next_page" not in response.headers


async def test_following_urls_reaches_the_same_resources(client: Any, base: str) -> None:
    listing = await (await client.get(f"{base}/tools")).json()
    for tool in listing:
        response = await client.session.get(URL(tool["url"], encoded=True))
        assert response.status == 200
        assert (await response.json())["id"] == tool["id"]
        for version in tool["versions"]:
            answer = await client.session.get(URL(version["url"], encoded=True))
            assert answer.status == 200


async def test_tool_versions_and_version(client: Any, base: str) -> None:
    tool = await (await client.get(f"{base}/tools/{ENC}")).json()
    assert_valid(tool, "Tool")
    versions = await (await client.get(f"{base}/tools/{ENC}/versions")).json()
    assert_valid(versions, "ToolVersion", array=True)
    assert [v["name"] for v in versions] == ["1.0.0"]
    version = await (await client.get(f"{base}{VERSION}")).json()
    assert_valid(version, "ToolVersion")
    assert version["descriptor_type"] == ["CWL"]


async def test_descriptor_json_carries_content_checksum_and_gateway_url(
    client: Any, base: str
) -> None:
    response = await client.get(f"{base}{VERSION}/CWL/descriptor")
    wrapper = await response.json()
    assert_valid(wrapper, "FileWrapper")
    digest = hashlib.sha256(wrapper["content"].encode()).hexdigest()
    assert wrapper["checksum"] == [{"checksum": digest, "type": "sha-256"}]
    origin = str(client.make_url(""))
    assert wrapper["url"] == f"{origin}{base}{VERSION}/PLAIN_CWL/descriptor"
    plain = await client.session.get(URL(wrapper["url"], encoded=True))
    assert await plain.text() == wrapper["content"]


@pytest.mark.parametrize("spelling", ["PLAIN_CWL", "plain-CWL", "plain_cwl", "Plain-Cwl"])
async def test_plain_descriptor_is_the_raw_file(client: Any, spelling: str) -> None:
    response = await client.get(f"/api/ga4gh/v2{VERSION}/{spelling}/descriptor")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert (await response.text()).startswith("#!/usr/bin/env cwl-runner")


async def test_accept_text_plain_unwraps_a_non_plain_descriptor(client: Any) -> None:
    response = await client.get(
        f"/ga4gh/trs/v2{VERSION}/CWL/descriptor", headers={"Accept": "text/plain"}
    )
    assert response.content_type == "text/plain"
    assert "cwlVersion" in await response.text()


@pytest.mark.parametrize(
    "path",
    ["tools/wc.cwl", "tools%2Fwc.cwl", "%2Ftools%2Fwc.cwl", "/tools/wc.cwl", "./tools/wc.cwl"],
)
async def test_relative_descriptor_with_real_and_encoded_slashes(client: Any, path: str) -> None:
    response = await client.get(f"/api/ga4gh/v2{VERSION}/plain-CWL/descriptor/{path}")
    assert response.status == 200, await response.text()
    assert "baseCommand: [wc, -l]" in await response.text()


async def test_relative_descriptor_may_not_climb_out(client: Any) -> None:
    response = await client.get(f"/ga4gh/trs/v2{VERSION}/CWL/descriptor/tools%2F..%2F..%2Fx")
    assert response.status == 400
    assert (await response.json())["code"] == 400


async def test_files_list_validates_and_matches_descriptors(client: Any, base: str) -> None:
    listing = await (await client.get(f"{base}{VERSION}/CWL/files")).json()
    assert_valid(listing, "ToolFile", array=True)
    primary = [f for f in listing if f["file_type"] == "PRIMARY_DESCRIPTOR"]
    assert [f["path"] for f in primary] == ["main.cwl"]
    for item in listing:
        text = await (
            await client.get(f"{base}{VERSION}/PLAIN_CWL/descriptor/{item['path']}")
        ).read()
        assert hashlib.sha256(text).hexdigest() == item["checksum"]["checksum"]


async def test_files_zip_is_built_when_the_upstream_has_none(client: Any, base: str) -> None:
    response = await client.get(f"{base}{VERSION}/CWL/files", params={"format": "zip"})
    assert response.status == 200
    assert response.content_type == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    listing = await (await client.get(f"{base}{VERSION}/CWL/files")).json()
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        assert sorted(archive.namelist()) == sorted(f["path"] for f in listing)
        for item in listing:
            data = archive.read(item["path"])
            assert hashlib.sha256(data).hexdigest() == item["checksum"]["checksum"]


async def test_accept_zip_also_gives_the_zip(client: Any) -> None:
    response = await client.get(
        f"/api/ga4gh/trs/v2{VERSION}/CWL/files", headers={"Accept": "application/zip"}
    )
    assert response.content_type == "application/zip"


async def test_files_refuses_plain_types_and_unknown_formats(client: Any) -> None:
    assert (await client.get(f"/ga4gh/trs/v2{VERSION}/PLAIN_CWL/files")).status == 400
    response = await client.get(f"/ga4gh/trs/v2{VERSION}/CWL/files", params={"format": "tar"})
    assert response.status == 400


async def test_tests_and_containerfile(client: Any, base: str) -> None:
    tests = await (await client.get(f"{base}{VERSION}/CWL/tests")).json()
    assert_valid(tests, "FileWrapper", array=True)
    assert tests and all("content" in t for t in tests)
    containerfile = await client.get(f"{base}{VERSION}/containerfile")
    assert containerfile.status == 200
    assert_valid(await containerfile.json(), "FileWrapper", array=True)


@pytest.mark.parametrize(
    "path",
    [
        "/service-info",
        "/toolClasses",
        "/tools",
        f"/tools/{ENC}",
        f"/tools/{ENC}/versions",
        VERSION,
        f"{VERSION}/CWL/descriptor",
        f"{VERSION}/plain-CWL/descriptor/tools/wc.cwl",
        f"{VERSION}/CWL/files",
        f"{VERSION}/CWL/tests",
        f"{VERSION}/containerfile",
    ],
)
async def test_head_answers_like_get_without_body(client: Any, base: str, path: str) -> None:
    get = await client.get(base + path)
    head = await client.head(base + path)
    assert head.status == get.status == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert await head.read() == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tools/demo%3Anope", 404),
        ("/tools/nope-at-all", 404),
        (f"/tools/{ENC}/versions/9.9.9", 404),
        (f"{VERSION}/WDL/descriptor", 404),
        (f"{VERSION}/JUPYTER/descriptor", 400),
        (f"{VERSION}/CWL/descriptor/no/such/file.cwl", 404),
        ("/tools?limit=zero", 400),
        ("/tools?limit=-1", 400),
        ("/tools?offset=not-a-cursor", 400),
        ("/tools?descriptorType=COBOL", 400),
        ("/no/such/route", 404),
    ],
)
async def test_errors_are_trs_error_json(client: Any, path: str, status: int) -> None:
    response = await client.get("/ga4gh/trs/v2" + path)
    assert response.status == status
    body = await response.json()
    assert_valid(body, "Error")
    assert body["code"] == status and body["message"]
    assert set(body) == {"code", "message"}


async def test_writes_are_refused_with_json_405(client: Any) -> None:
    response = await client.post("/ga4gh/trs/v2/tools", json={})
    assert response.status == 405
    assert (await response.json())["code"] == 405


async def test_latest_means_the_only_version(client: Any) -> None:
    response = await client.get(f"/api/ga4gh/v2/tools/{ENC}/versions/latest/CWL/files")
    assert response.status == 200


async def test_unnamespaced_id_is_found_on_the_upstream_holding_it(client: Any) -> None:
    response = await client.get("/ga4gh/trs/v2/tools/demo-cwl-md5sum")
    assert response.status == 200
    assert (await response.json())["id"] == "demo:demo-cwl-md5sum"


@pytest.mark.parametrize(
    "path",
    [
        "/tools/demo%3A..%2Fx%2F..%2F..",  # climbing ids stay one encoded segment
        "/tools/..",
        "/tools/%2E%2E/versions",
        f"/tools/{ENC}/versions/%2E%2E",
        f"/tools/{ENC}/versions/./CWL/files",
    ],
)
async def test_dot_ids_and_versions_are_refused_or_kept_in_one_segment(
    client: Any, path: str
) -> None:
    response = await client.get(f"/ga4gh/trs/v2{path}")
    assert response.status in (400, 404), await response.text()
    assert (await response.json())["code"] == response.status


@pytest.mark.parametrize("path", ["..%5C..%5Cx", "tools%5C..%5C..%5Cx", "..\\x"])
async def test_relative_descriptor_may_not_climb_out_with_backslashes(
    client: Any, path: str
) -> None:
    response = await client.get(f"/ga4gh/trs/v2{VERSION}/PLAIN_CWL/descriptor/{path}")
    assert response.status == 400
    assert "climb" in (await response.json())["message"]


@pytest.mark.parametrize("param", ["name", "organization", "alias", "id"])
async def test_control_characters_in_filters_are_a_400(client: Any, param: str) -> None:
    response = await client.get("/ga4gh/trs/v2/tools", params={param: "a\r\nX-Evil: 1"})
    assert response.status == 400
    assert "control characters" in (await response.json())["message"]


async def test_every_listed_spelling_reaches_the_tool(client: Any) -> None:
    tool = await (await client.get(f"/ga4gh/trs/v2/tools/{ENC}")).json()
    spellings = [a for a in tool["aliases"] if a.startswith(("#workflow/", "demo~"))]
    assert len(spellings) == 2
    for spelling in spellings:
        found = await client.get(f"/ga4gh/trs/v2/tools/{quote(spelling, safe='')}")
        assert found.status == 200
        assert (await found.json())["id"] == TOOL
    # cwltool's split of demo:demo-cwl-wordcount:1.0.0, as cwltool sends it.
    split = "/api/ga4gh/v2/tools/demo/versions/demo-cwl-wordcount%3A1.0.0/CWL/files"
    listing = await client.get(split)
    assert listing.status == 200
    files = await listing.json()
    assert all(f["checksum"]["type"] == "sha-256" for f in files)


@pytest.mark.parametrize("limit", [1, 5])
async def test_the_final_page_carries_last_page_even_when_empty(client: Any, limit: int) -> None:
    response = await client.get("/ga4gh/trs/v2/tools", params={"limit": str(limit)})
    pages = 1
    while "next_page" in response.headers:
        assert "last_page" not in response.headers
        response = await client.session.get(URL(response.headers["next_page"], encoded=True))
        pages += 1
    assert response.headers["last_page"] == response.headers["self_link"]
    assert pages >= 5 // limit
