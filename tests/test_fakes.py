"""Self-tests of the fake upstream registries (tests/fakes): each flavor's key quirks."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from yarl import URL

from tests.fakes import (
    FakeFile,
    FakeRegistry,
    FakeTool,
    FakeVersion,
    ServerFactory,
    make_registry_app,
    start_registry,
    write_static_tree,
)

Start = Callable[..., Awaitable[tuple[FakeRegistry, str]]]

MAIN_CWL = "cwlVersion: v1.2\nclass: Workflow\nsteps:\n  wc:\n    run: tools/wc.cwl\n"
WC_CWL = "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: wc\n"


def cwl_files() -> list[FakeFile]:
    return [
        FakeFile("main.cwl", MAIN_CWL, "PRIMARY_DESCRIPTOR"),
        FakeFile("tools/wc.cwl", WC_CWL),
        FakeFile("tests/job.json", '{"x": 1}', "TEST_FILE"),
        FakeFile("Dockerfile", "FROM alpine\n", "CONTAINERFILE"),
    ]


def dockstore_tool(name: str = "md5sum", versions: list[FakeVersion] | None = None) -> FakeTool:
    return FakeTool(
        id=f"#workflow/github.com/org/{name}",
        description=f"{name} workflow",
        versions=versions
        if versions is not None
        else [FakeVersion("master", files=cwl_files(), author=["Ada"])],
    )


def query_of(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link).query)


@pytest.fixture
def start(aiohttp_server: ServerFactory) -> Start:
    async def _start(flavor: str, tools: list[FakeTool], **knobs: Any) -> tuple[FakeRegistry, str]:
        return await start_registry(aiohttp_server, flavor, tools, **knobs)

    return _start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, str], bytes]:
    """GET an already-encoded URL without yarl re-quoting it."""
    async with http.get(URL(url, encoded=True), **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.read()


# ---------------------------------------------------------------------------- generic


async def test_generic_pagination_and_filters(start: Start, http: aiohttp.ClientSession) -> None:
    tools = [FakeTool(id=f"t{i}", name=f"Tool {i}", versions=[FakeVersion("v1")]) for i in range(5)]
    reg, base = await start("generic", tools)
    status, headers, body = await fetch(http, f"{base}/tools?limit=2&offset=2&name=tool")
    assert status == 200
    assert [t["id"] for t in json.loads(body)] == ["t2", "t3"]
    assert headers["current_offset"] == "2" and headers["current_limit"] == "2"
    assert query_of(headers["next_page"]) == {"limit": ["2"], "offset": ["4"], "name": ["tool"]}
    assert query_of(headers["last_page"])["offset"] == ["4"]
    assert headers["self_link"].endswith("/tools?limit=2&offset=2&name=tool")
    status, headers, _ = await fetch(http, f"{base}/tools?offset=4&limit=2")
    assert "next_page" not in headers
    status, _, body = await fetch(http, f"{base}/tools?alias=nope")
    assert json.loads(body) == []
    assert len(reg.requests) == 3 and reg.requests[0].query["limit"] == "2"


async def test_generic_errors_descriptors_and_zip(
    start: Start, http: aiohttp.ClientSession
) -> None:
    tool = FakeTool(id="wf", name="wf", versions=[FakeVersion("1.0", files=cwl_files())])
    _, base = await start("generic", [tool])
    status, headers, body = await fetch(http, f"{base}/tools/missing")
    assert status == 404 and json.loads(body)["code"] == 404
    status, _, body = await fetch(http, f"{base}/tools/wf/versions/1.0")
    assert json.loads(body)["id"] == "1.0"
    status, headers, body = await fetch(http, f"{base}/tools/wf/versions/1.0/PLAIN_CWL/descriptor")
    assert headers["Content-Type"].startswith("text/plain") and body.decode() == MAIN_CWL
    url = f"{base}/tools/wf/versions/1.0/CWL/descriptor/tools%2Fwc.cwl"
    status, _, body = await fetch(http, url)
    assert json.loads(body)["content"] == WC_CWL
    status, headers, body = await fetch(http, f"{base}/tools/wf/versions/1.0/CWL/files?format=zip")
    assert headers["Content-Type"] == "application/zip"
    assert "tools/wc.cwl" in zipfile.ZipFile(io.BytesIO(body)).namelist()


# ---------------------------------------------------------------------------- dockstore


async def test_dockstore_page_number_offset_and_cap(
    start: Start, http: aiohttp.ClientSession
) -> None:
    tools = [dockstore_tool(f"wf{i:03d}") for i in range(150)]
    _, base = await start("dockstore", tools)
    status, headers, body = await fetch(http, f"{base}/tools?limit=1000")
    page = json.loads(body)
    assert status == 200 and len(page) == 100
    assert headers["current_limit"] == "100" and "current_offset" not in headers
    assert query_of(headers["next_page"]) == {"limit": ["100"], "offset": ["1"]}
    assert query_of(headers["last_page"])["offset"] == ["1"]
    status, headers, body = await fetch(http, f"{base}/tools?limit=100&offset=1")
    page = json.loads(body)
    assert len(page) == 50 and page[0]["id"] == "#workflow/github.com/org/wf100"
    assert headers["current_offset"] == "1" and "next_page" not in headers
    # last_page = total // limit: one page past the end on exact multiples
    _, headers, _ = await fetch(http, f"{base}/tools?limit=50&offset=0")
    assert query_of(headers["last_page"])["offset"] == ["3"]
    _, _, body = await fetch(http, f"{base}/tools?limit=50&offset=3")
    assert json.loads(body) == []
    assert (await fetch(http, f"{base}/tools?offset=abc"))[0] == 400
    assert (await fetch(http, f"{base}/tools?limit=0"))[0] == 400


async def test_dockstore_payload_shape_and_double_decoding(
    start: Start, http: aiohttp.ClientSession
) -> None:
    versions = [
        FakeVersion("master", files=cwl_files()),
        FakeVersion("my branch", files=cwl_files()),
        FakeVersion("feature/x", files=cwl_files()),
        FakeVersion("no-type", descriptor_types=[]),
    ]
    tool = dockstore_tool(versions=versions)
    reg, base = await start("dockstore", [tool])
    enc = quote(tool.id, safe="")
    status, headers, body = await fetch(http, f"{base}/tools/{enc}")
    data = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json;charset=utf-8"
    assert list(data) == sorted(data) and data["aliases"] == [] and data["checker_url"] == ""
    assert data["toolclass"] == {"description": "Workflow", "id": "1", "name": "Workflow"}
    assert data["url"] == f"https://dockstore.example/api/ga4gh/trs/v2/tools/{enc}"
    assert [v["name"] for v in data["versions"]] == ["master", "my branch", "feature/x"]
    assert data["versions"][0]["id"] == f"{tool.id}:master"
    assert reg.requests[-1].path.endswith(enc)
    # '+' is decoded a second time into a space; a stray '%' is a 400
    assert (await fetch(http, f"{base}/tools/{enc}/versions/my+branch"))[0] == 200
    assert (await fetch(http, f"{base}/tools/{enc}/versions/feature%2Fx"))[0] == 200
    status, _, body = await fetch(http, f"{base}/tools/{enc}/versions/m%25zz")
    assert status == 400 and "Could not decode" in json.loads(body)["message"]
    # not found: empty body; /versions/{v} is case-sensitive, descriptor is not
    for missing in (
        f"{base}/tools/%23workflow%2Fgithub.com%2Forg%2Fnope",
        f"{base}/tools/{enc}/versions/MASTER",
    ):
        status, _, body = await fetch(http, missing)
        assert (status, body) == (404, b"")
    assert (await fetch(http, f"{base}/tools/{enc}/versions/MASTER/CWL/descriptor"))[0] == 200
    assert (await fetch(http, f"{base}/tools/{enc}/versions/no-type"))[0] == 404
    status, _, body = await fetch(http, f"{base}/tools/github.com%2Forg/versions/master")
    assert status == 400 and "3 separate segments" in json.loads(body)["message"]


async def test_dockstore_descriptors_files_and_zip(
    start: Start, http: aiohttp.ClientSession
) -> None:
    tool = dockstore_tool()
    reg, base = await start("dockstore", [tool])
    vbase = f"{base}/tools/{quote(tool.id, safe='')}/versions/master"
    _, _, body = await fetch(http, f"{vbase}/CWL/descriptor")
    wrapper = json.loads(body)
    assert wrapper["checksum"][0]["type"] == "sha-256" and wrapper["image_type"] == {}
    assert (
        wrapper["dockstore_absolute_path"] == "/main.cwl" and "master//main.cwl" in wrapper["url"]
    )
    for type_ in ("plain-CWL", "PLAIN_CWL", "plain_cwl"):
        status, _, body = await fetch(http, f"{vbase}/{type_}/descriptor")
        assert (status, body.decode()) == (200, MAIN_CWL)
    for rel in ("tools%2Fwc.cwl", "tools/wc.cwl", "%2Ftools%2Fwc.cwl", "/TOOLS/WC.cwl"):
        status, _, body = await fetch(http, f"{vbase}/PLAIN_CWL/descriptor/{rel}")
        assert (status, body.decode()) == (200, WC_CWL), rel
    status, _, body = await fetch(http, f"{vbase}/CWL/descriptor/nope.cwl")
    assert (status, body) == (404, b"")
    status, _, body = await fetch(http, f"{vbase}/FOO/descriptor")
    assert status == 400 and json.loads(body)["message"].startswith("path param type must be")
    _, _, body = await fetch(http, f"{vbase}/CWL/files")
    files = json.loads(body)
    assert [f["path"] for f in files] == sorted(f["path"] for f in files)
    assert files[0]["checksum"]["type"] == "sha-256"
    assert files[0]["dockstore_absolute_path"] == "/" + files[0]["path"]
    status, headers, body = await fetch(http, f"{vbase}/CWL/files?format=zip")
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"].startswith("attachment")
    assert sorted(zipfile.ZipFile(io.BytesIO(body)).namelist())[0] == "Dockerfile"
    status, headers, _ = await fetch(
        http, f"{vbase}/CWL/files", headers={"Accept": "application/zip"}
    )
    assert headers["Content-Type"] == "application/zip"
    reg.zip_as_json = True  # type: ignore[attr-defined]
    _, headers, _ = await fetch(http, f"{vbase}/CWL/files?format=zip")
    assert headers["Content-Type"] == "application/json;charset=utf-8"
    missing = f"{base}/tools/{quote(tool.id, safe='')}/versions/nope/CWL/files"
    assert (await fetch(http, missing))[0] == 404
    reg.files_204 = True  # type: ignore[attr-defined]
    assert (await fetch(http, missing))[:3:2] == (204, b"")
    beta = base.replace("/api/ga4gh/trs/v2", "/api/api/ga4gh/v2")
    beta_url = f"{beta}/tools/{quote(tool.id, safe='')}/versions/master/plain-CWL/descriptor"
    assert (await fetch(http, beta_url))[0] == 200


# ---------------------------------------------------------------------------- workflowhub


async def test_workflowhub_last_page_bug_and_ignored_filters(
    start: Start, http: aiohttp.ClientSession
) -> None:
    tools = [FakeTool(id=str(100 + i), name=f"Workflow {i}") for i in range(6)]
    _, base = await start("workflowhub", tools)
    _, headers, body = await fetch(http, f"{base}/tools?limit=2&offset=1")
    assert [t["id"] for t in json.loads(body)] == ["101", "102"]
    assert query_of(headers["next_page"])["offset"] == ["3"]
    assert query_of(headers["last_page"])["offset"] == ["3"]
    assert headers["current_offset"] == "1" and headers["current_limit"] == "2"
    _, headers, _ = await fetch(http, f"{base}/tools")
    assert "current_offset" not in headers and "next_page" not in headers
    assert "offset" not in query_of(headers["last_page"])
    _, _, body = await fetch(http, f"{base}/tools?alias=nothing-has-this&registry=x&toolname=y")
    assert len(json.loads(body)) == 6
    _, _, body = await fetch(http, f"{base}/tools?name=WORKFLOW%203")
    assert [t["id"] for t in json.loads(body)] == ["103"]
    for q in ("toolClass=CommandLineTool", "checker=true"):
        assert json.loads((await fetch(http, f"{base}/tools?{q}"))[2]) == []


async def test_workflowhub_shapes_and_errors(start: Start, http: aiohttp.ClientSession) -> None:
    versions = [
        FakeVersion("Version 1", files=cwl_files(), author=["Ada"]),
        FakeVersion("Version 2", descriptor_types=["WDL"]),
    ]
    _, base = await start("workflowhub", [FakeTool(id="599", name="wf", versions=versions)])
    _, _, body = await fetch(http, f"{base}/tools/599")
    tool = json.loads(body)
    assert list(tool) == [
        "id",
        "url",
        "name",
        "description",
        "organization",
        "toolclass",
        "versions",
    ]
    assert tool["url"] == "https://workflowhub.example/workflows/599"
    assert list(tool["versions"][0]) == ["id", "url", "name", "author", "descriptor_type"]
    assert [v["id"] for v in tool["versions"]] == ["1", "2"]
    assert tool["versions"][1]["descriptor_type"] == []
    status, _, body = await fetch(http, f"{base}/tools/999")
    assert (status, json.loads(body)) == (
        404,
        {"code": 404, "message": "Couldn't find tool with 'id'=999"},
    )
    _, _, body = await fetch(http, f"{base}/tools/599/versions/1/CWL/descriptor")
    assert json.loads(body) == {"content": MAIN_CWL, "checksum": [], "url": None}
    status, headers, body = await fetch(http, f"{base}/tools/599/versions/1/plain_cwl/descriptor")
    assert headers["Content-Type"].startswith("text/plain") and body.decode() == MAIN_CWL
    status, _, body = await fetch(http, f"{base}/tools/599/versions/1/plain-CWL/descriptor")
    assert status == 404 and json.loads(body)["message"] == "Type: PLAIN-CWL not available"
    _, _, body = await fetch(http, f"{base}/tools/599/versions/1/CWL/files")
    files = json.loads(body)
    assert {f["file_type"] for f in files} == {"PRIMARY_DESCRIPTOR", "CONTAINERFILE", "OTHER"}
    assert all(set(f) == {"path", "file_type"} for f in files)
    _, headers, _ = await fetch(http, f"{base}/tools/599/versions/1/CWL/files?format=zip")
    assert headers["Content-Type"] == "application/zip"
    _, _, body = await fetch(http, f"{base}/toolClasses")
    assert [c["name"] for c in json.loads(body)] == ["Workflow"]


# ---------------------------------------------------------------------------- biocontainers


def bc_tools() -> list[FakeTool]:
    return [
        FakeTool(
            id=name,
            name=name,
            description=f"{name} does things",
            toolclass="CommandLineTool",
            versions=[FakeVersion("2.27.0"), FakeVersion("2.29.2")],
            extra={"identifiers": [f"biotools:{name}"], "tool_url": f"https://x.example/{name}"},
        )
        for name in ("bedtools", "samtools", "bwa", "bedops", "multiqc")
    ]


async def test_biocontainers_paging_204_and_regex(
    start: Start, http: aiohttp.ClientSession
) -> None:
    _, base = await start("biocontainers", bc_tools())
    status, headers, body = await fetch(http, f"{base}/tools?limit=2")
    assert status == 200
    assert [t["id"] for t in json.loads(body)] == ["bedops", "bedtools"]  # sorted by id
    assert headers["current_offset"] == "0" and query_of(headers["next_page"])["offset"] == ["2"]
    assert query_of(headers["last_page"])["offset"] == ["4"]
    _, headers, body = await fetch(http, f"{base}/tools?limit=2&offset=4")
    assert len(json.loads(body)) == 1 and "next_page" not in headers
    assert (await fetch(http, f"{base}/tools?offset=5"))[:3:2] == (204, b"")
    _, _, body = await fetch(http, f"{base}/tools?toolname=^BED")
    assert [t["id"] for t in json.loads(body)] == ["bedops", "bedtools"]
    assert (await fetch(http, f"{base}/tools?description=^nomatch$"))[0] == 204


async def test_biocontainers_shapes_and_placeholders(
    start: Start, http: aiohttp.ClientSession
) -> None:
    _, base = await start("biocontainers", bc_tools())
    _, _, body = await fetch(http, f"{base}/tools/BEDTOOLS")
    tool = json.loads(body)
    assert list(tool) == sorted(tool) and "aliases" not in tool
    assert tool["identifiers"] == ["biotools:bedtools"] and tool["url"].startswith("http://")
    assert tool["versions"][0] == {
        "id": "bedtools-2.27.0",
        "meta_version": "2.27.0",
        "name": "bedtools",
        "url": "http://api.biocontainers.example/ga4gh/trs/v2/tools/bedtools/versions/bedtools-2.27.0",
    }
    _, _, body = await fetch(http, f"{base}/tools/bedtools/versions/bedtools-2.27.0")
    images = json.loads(body)["images"]
    assert {i["image_type"] for i in images} == {"Docker", "Singularity", "Conda"}
    assert "quay.io/" in {i["registry_host"] for i in images}
    for url in (f"{base}/tools/nope", f"{base}/tools/bedtools/versions/bedtools-9"):
        assert (await fetch(http, url))[:3:2] == (204, b"")
    _, _, body = await fetch(http, f"{base}/tools/bedtools/versions/bedtools-2.27.0/CWL/descriptor")
    assert json.loads(body) == "Not yet implemented!"
    assert json.loads((await fetch(http, f"{base}/service-info"))[2]) == "do some magic!"
    _, _, body = await fetch(http, f"{base}/toolClasses")
    assert [c["id"] for c in json.loads(body)] == ["0", "1", "3", "4"]


# ---------------------------------------------------------------------------- static


async def test_static_tree_serving(start: Start, http: aiohttp.ClientSession) -> None:
    tool = FakeTool(
        id="0d2ae4c2-fe4c-48f7-811a-ac277776533e",
        name="Pitagora",
        description="https://zenodo.example/README.md",
        versions=[FakeVersion("1.0.0", files=cwl_files()), FakeVersion("dev/x", files=cwl_files())],
    )
    reg, base = await start("static", [tool])
    assert reg.base_path == "" and not base.endswith("/")
    for suffix in ("/tools", "/tools/", "/tools?offset=5&limit=1", "/tools/index.json"):
        status, headers, body = await fetch(http, base + suffix)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert len(json.loads(body)) == 1 and "next_page" not in headers
    data = json.loads((await fetch(http, f"{base}/tools/{tool.id}"))[2])
    assert "aliases" not in data and "meta_version" not in data
    assert data["toolclass"]["id"] == "workflow" and data["versions"][0]["verified"] is True
    vbase = f"{base}/tools/{tool.id}/versions/1.0.0/CWL"
    wrapper = json.loads((await fetch(http, f"{vbase}/descriptor"))[2])
    assert wrapper["content"] == MAIN_CWL and wrapper["checksum"][0]["type"] == "sha256"
    wrapper = json.loads((await fetch(http, f"{vbase}/descriptor/tools/wc.cwl"))[2])
    assert wrapper["content"] == WC_CWL
    files = json.loads((await fetch(http, f"{vbase}/files"))[2])
    assert files[0]["checksum"]["type"] == "sha256"
    assert (await fetch(http, f"{base}/tools/{tool.id}/versions/dev%2Fx/"))[0] == 200
    status, headers, body = await fetch(http, f"{base}/tools/nope")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b"404" in body and b"File not found" in body
    reg.tools.append(FakeTool(id="new", name="new"))
    assert (await fetch(http, f"{base}/tools/new/"))[0] == 200


def test_write_static_tree_layout(tmp_path: Path) -> None:
    tool = FakeTool(id="a b", versions=[FakeVersion("1.0", files=cwl_files())])
    write_static_tree(tmp_path, [tool])
    vdir = tmp_path / "tools" / "a%20b" / "versions" / "1.0"
    for rel in ("", "CWL/descriptor", "CWL/descriptor/tools/wc.cwl", "CWL/files", "CWL/tests"):
        assert (vdir / rel / "index.json").is_file(), rel
    assert json.loads((vdir / "containerfile" / "index.json").read_text()) == []
    for top in ("service-info", "toolClasses", "tools"):
        assert (tmp_path / top / "index.json").is_file()


# ---------------------------------------------------------------------------- knobs


FLAVOR_URLS = {
    "generic": "/tools",
    "dockstore": "/tools",
    "workflowhub": "/tools/1",
    "biocontainers": "/service-info",
    "static": "/tools/",
}


@pytest.mark.parametrize("flavor", sorted(FLAVOR_URLS))
async def test_modes(flavor: str, start: Start, http: aiohttp.ClientSession) -> None:
    reg, base = await start(flavor, [FakeTool(id="1", name="one")])
    url = base + FLAVOR_URLS[flavor]
    reg.mode = "error500"
    assert (await fetch(http, url))[0] == 500
    reg.mode = "html"
    status, headers, _ = await fetch(http, url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    reg.mode = "badjson"
    status, _, body = await fetch(http, url)
    with pytest.raises(ValueError):
        json.loads(body)
    reg.mode = "empty200"
    assert (await fetch(http, url))[:3:2] == (200, b"")
    reg.mode = "ok"
    status, _, body = await fetch(http, url)
    assert status == 200 and body
    assert len(reg.requests) == 5


async def test_hang_is_cancellable_and_delay(start: Start, http: aiohttp.ClientSession) -> None:
    reg, base = await start("generic", [], mode="hang")
    began = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await fetch(http, f"{base}/tools", timeout=aiohttp.ClientTimeout(total=0.3))
    assert time.monotonic() - began < 5
    reg.mode, reg.delay = "ok", 0.3
    began = time.monotonic()
    assert (await fetch(http, f"{base}/tools"))[0] == 200
    assert time.monotonic() - began >= 0.3


async def test_head_and_recording(start: Start, http: aiohttp.ClientSession) -> None:
    tool = dockstore_tool()
    reg, base = await start("dockstore", [tool])
    async with http.head(URL(f"{base}/tools/{quote(tool.id, safe='')}", encoded=True)) as resp:
        assert resp.status == 200 and await resp.read() == b""
    recorded = reg.requests[-1]
    assert recorded.method == "HEAD" and "%23workflow%2Fgithub.com%2Forg%2Fmd5sum" in recorded.path
    assert reg.request_count("/tools/") == 1


def test_unknown_knob_and_flavor() -> None:
    with pytest.raises(TypeError):
        make_registry_app("workflowhub", [], files_204=True)
    with pytest.raises(ValueError):
        make_registry_app("nope", [])
