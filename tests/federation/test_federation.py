"""Federation over fake upstreams of every flavor: paging, filters, failures, ids."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from yarl import URL

from gateway.responses import MISSING_HEADER
from tests.conftest import GatewayFactory
from tests.fakes import FakeFile, FakeRegistry, FakeTool, make_registry_app, start_registry
from tests.samples import (
    biocontainers_tools,
    cwl_workflow_version,
    dockstore_tools,
    workflowhub_tools,
)
from tests.schema import assert_valid

Start = Callable[..., Awaitable[tuple[FakeRegistry, dict[str, Any]]]]


@pytest.fixture
def upstream(aiohttp_server: Any) -> Start:
    """Start a fake registry; return it and its gateway configuration entry."""

    async def start(
        name: str, flavor: str, tools: list[FakeTool], **knobs: Any
    ) -> tuple[FakeRegistry, dict[str, Any]]:
        timeout = knobs.pop("timeout", 5)
        registry, url = await start_registry(aiohttp_server, flavor, tools, **knobs)
        return registry, {"name": name, "url": url, "flavor": flavor, "timeout": timeout}

    return start


def seg(value: str) -> str:
    return quote(value, safe="")


async def walk(client: Any, first: str) -> tuple[list[str], list[Any]]:
    """Follow next_page from ``first``; return every id in order and every response."""
    ids: list[str] = []
    responses = []
    if first.startswith("http"):
        response = await client.session.get(URL(first, encoded=True))
    else:
        response = await client.get(first)
    while True:
        assert response.status == 200, await response.text()
        responses.append(response)
        ids.extend(t["id"] for t in await response.json())
        if "next_page" not in response.headers:
            return ids, responses
        assert len(responses) < 1000, "next_page never ends"
        response = await client.session.get(URL(response.headers["next_page"], encoded=True))


def round_robin(streams: list[list[str]]) -> list[str]:
    """The documented merge order: fewest-given-first, ties to the earlier upstream."""
    out: list[str] = []
    taken = [0] * len(streams)
    while any(taken[i] < len(s) for i, s in enumerate(streams)):
        live = [i for i, s in enumerate(streams) if taken[i] < len(s)]
        pick = min(live, key=lambda i: (taken[i], i))
        out.append(streams[pick][taken[pick]])
        taken[pick] += 1
    return out


# -- pagination ----------------------------------------------------------------


@pytest.fixture
async def four(upstream: Start, gateway: GatewayFactory) -> Any:
    """Dockstore (150 tools, so several of its 100-tool pages), WorkflowHub (7),
    BioContainers (13) and a static tree (5): four different paging schemes."""
    regs = [
        await upstream("dockstore", "dockstore", dockstore_tools(150)),
        await upstream("workflowhub", "workflowhub", workflowhub_tools(7)),
        await upstream("biocontainers", "biocontainers", biocontainers_tools(13)),
        await upstream(
            "static",
            "static",
            [
                FakeTool(id=f"uuid-{i}", name=f"static {i}", versions=[cwl_workflow_version()])
                for i in range(5)
            ],
        ),
    ]
    client = await gateway([entry for _, entry in regs])
    return client, [reg for reg, _ in regs]


def expected_streams(registries: list[FakeRegistry], names: list[str]) -> list[list[str]]:
    """Each upstream's own listing order, namespaced (BioContainers sorts by id)."""
    streams = []
    for name, reg in zip(names, registries, strict=True):
        ids = [t.id for t in reg.tools]
        if name == "biocontainers":
            ids.sort()
        streams.append([f"{name}:{i}" for i in ids])
    return streams


@pytest.mark.parametrize("limit", [1, 7, 33, 100, 1000])
async def test_walking_next_page_visits_every_tool_once_in_one_order(four: Any, limit: int) -> None:
    client, registries = four
    ids, responses = await walk(client, f"/ga4gh/trs/v2/tools?limit={limit}")
    names = ["dockstore", "workflowhub", "biocontainers", "static"]
    expected = round_robin(expected_streams(registries, names))
    assert len(ids) == len(set(ids)) == 175
    assert ids == expected
    assert all(MISSING_HEADER not in r.headers for r in responses)
    sizes = [len(await r.json()) for r in responses]
    assert all(size == limit for size in sizes[:-1]) and 0 < sizes[-1] <= limit
    last = responses[-1]
    assert last.headers["last_page"] == last.headers["self_link"]
    assert all(r.headers["current_limit"] == str(limit) for r in responses)


async def test_pages_validate_and_keep_filters_in_links(four: Any) -> None:
    client, _ = four
    ids, responses = await walk(client, "/ga4gh/trs/v2/tools?limit=4&toolClass=Workflow")
    assert ids and all(not i.startswith("biocontainers:") for i in ids)
    for response in responses:
        assert_valid(await response.json(), "Tool", array=True)
        for header in ("self_link", "next_page"):
            if header in response.headers:
                assert "toolClass=Workflow" in response.headers[header]
                assert "limit=4" in response.headers[header]


async def test_limit_above_the_maximum_is_reduced_and_reported(four: Any) -> None:
    client, _ = four
    response = await client.get("/ga4gh/trs/v2/tools?limit=50000")
    assert response.headers["current_limit"] == "1000"
    assert len(await response.json()) == 175


async def test_cursor_reused_with_other_filters_is_rejected(four: Any) -> None:
    client, _ = four
    first = await client.get("/ga4gh/trs/v2/tools?limit=3")
    cursor = URL(first.headers["next_page"], encoded=True).query["offset"]
    response = await client.get("/ga4gh/trs/v2/tools", params={"offset": cursor, "name": "x"})
    assert response.status == 400
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    response = await client.get("/ga4gh/trs/v2/tools", params={"offset": tampered})
    assert response.status == 400
    assert (await response.json())["code"] == 400


async def test_upstream_requests_for_one_page_run_concurrently(
    aiohttp_server: Any, gateway: GatewayFactory
) -> None:
    """Every fake holds its /tools answer until all three were asked: only a
    concurrent fan-out completes the page without anyone timing out."""
    arrived: set[str] = set()
    everyone = asyncio.Event()

    def barrier(name: str) -> Any:
        @web.middleware
        async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.endswith("/tools"):
                arrived.add(name)
                if len(arrived) == 3:
                    everyone.set()
                try:
                    await asyncio.wait_for(everyone.wait(), timeout=2)
                except TimeoutError:
                    raise web.HTTPServiceUnavailable() from None
            return await handler(request)

        return middleware

    entries = []
    for name, flavor, tools in [
        ("dockstore", "dockstore", dockstore_tools(3)),
        ("workflowhub", "workflowhub", workflowhub_tools(3)),
        ("biocontainers", "biocontainers", biocontainers_tools(3)),
    ]:
        registry = make_registry_app(flavor, tools)
        registry.app.middlewares.append(barrier(name))
        server = await aiohttp_server(registry.app)
        url = str(server.make_url(registry.base_path)).rstrip("/")
        entries.append({"name": name, "url": url, "flavor": flavor})
    client = await gateway(entries, federation={"deadline": 5})
    response = await client.get("/ga4gh/trs/v2/tools")
    assert MISSING_HEADER not in response.headers
    assert len(await response.json()) == 9


# -- filters ---------------------------------------------------------------------


async def test_filters_are_applied_to_upstreams_that_ignore_them(
    upstream: Start, gateway: GatewayFactory
) -> None:
    dock_tools = dockstore_tools(3)
    dock_tools[1].aliases = ["Shared-Alias"]
    dock, dock_entry = await upstream("dockstore", "dockstore", dock_tools)
    hub, hub_entry = await upstream("workflowhub", "workflowhub", workflowhub_tools(4))
    client = await gateway([dock_entry, hub_entry])
    body = await (await client.get("/ga4gh/trs/v2/tools?alias=Shared-Alias")).json()
    assert [t["id"] for t in body] == [f"dockstore:{dock_tools[1].id}"]
    assert all("alias" not in r.query for r in hub.requests)
    assert any(r.query.get("alias") == "Shared-Alias" for r in dock.requests)


async def test_bio_containers_name_filter_is_applied_by_the_gateway(
    upstream: Start, gateway: GatewayFactory
) -> None:
    bio, entry = await upstream("biocontainers", "biocontainers", biocontainers_tools(12))
    client = await gateway([entry])
    body = await (await client.get("/ga4gh/trs/v2/tools?name=TOOL1")).json()
    assert sorted(t["id"] for t in body) == [f"biocontainers:tool{i}" for i in (10, 11)]
    assert all("name" not in r.query for r in bio.requests)


async def test_descriptor_type_filter_spans_upstreams(four: Any) -> None:
    client, _ = four
    body = await (await client.get("/ga4gh/trs/v2/tools?descriptorType=galaxy")).json()
    assert len(body) == 7 and all(t["id"].startswith("workflowhub:") for t in body)


async def test_namespaced_id_filter_asks_only_that_upstream(four: Any) -> None:
    client, registries = four
    before = [r.request_count("/tools") for r in registries]
    body = await (await client.get("/ga4gh/trs/v2/tools", params={"id": "workflowhub:103"})).json()
    assert [t["id"] for t in body] == ["workflowhub:103"]
    after = [r.request_count("/tools") for r in registries]
    assert [a - b for a, b in zip(after, before, strict=True)] == [0, 1, 0, 0]


# -- partial failure ---------------------------------------------------------------


async def test_failing_upstreams_degrade_the_listing_within_the_deadline(
    upstream: Start, gateway: GatewayFactory
) -> None:
    ok, ok_entry = await upstream("good", "dockstore", dockstore_tools(4))
    _, five_entry = await upstream("fails", "workflowhub", workflowhub_tools(2), mode="error500")
    _, hang_entry = await upstream("hangs", "biocontainers", biocontainers_tools(2), mode="hang")
    _, html_entry = await upstream("html", "generic", dockstore_tools(2, "h"), mode="html")
    _, bad_entry = await upstream("broken", "generic", dockstore_tools(2, "b"), mode="badjson")
    client = await gateway(
        [ok_entry, five_entry, hang_entry, html_entry, bad_entry], federation={"deadline": 1}
    )
    started = time.monotonic()
    response = await client.get("/ga4gh/trs/v2/tools")
    elapsed = time.monotonic() - started
    assert response.status == 200
    assert elapsed < 10, "the hung upstream (60 s) must be cut off at the deadline"
    body = await response.json()
    assert sorted(t["id"] for t in body) == sorted(f"good:{t.id}" for t in ok.tools)
    missing = response.headers[MISSING_HEADER]
    assert '"fails";reason="unavailable"' in missing
    assert '"hangs";reason="timeout"' in missing
    assert '"html";reason="bad-response"' in missing
    assert '"broken";reason="bad-response"' in missing
    assert '"good"' not in missing
    classes = await client.get("/ga4gh/trs/v2/toolClasses")
    assert classes.status == 200 and '"hangs";reason="timeout"' in classes.headers[MISSING_HEADER]


async def test_a_recovered_upstream_is_picked_up_by_later_pages(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, good_entry = await upstream("good", "dockstore", dockstore_tools(6))
    flaky, flaky_entry = await upstream("flaky", "workflowhub", workflowhub_tools(6))
    client = await gateway([good_entry, flaky_entry])
    flaky.mode = "error500"
    first = await client.get("/ga4gh/trs/v2/tools?limit=4")
    assert MISSING_HEADER in first.headers
    flaky.mode = "ok"
    rest, _ = await walk(client, first.headers["next_page"])
    ids = [t["id"] for t in await first.json()] + rest
    assert len(ids) == len(set(ids)) == 12


async def test_listing_with_every_upstream_down_ends_instead_of_looping(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, entry = await upstream("down", "dockstore", dockstore_tools(3), mode="error500")
    client = await gateway([entry])
    response = await client.get("/ga4gh/trs/v2/tools")
    assert response.status == 200 and await response.json() == []
    assert "next_page" not in response.headers
    assert MISSING_HEADER in response.headers


@pytest.mark.parametrize(
    ("mode", "status"), [("error500", 502), ("html", 502), ("badjson", 502), ("hang", 504)]
)
async def test_single_upstream_failures_map_to_gateway_errors(
    upstream: Start, gateway: GatewayFactory, mode: str, status: int
) -> None:
    reg, entry = await upstream("dockstore", "dockstore", dockstore_tools(1), timeout=0.5)
    client = await gateway([entry])
    reg.mode = mode
    response = await client.get(f"/ga4gh/trs/v2/tools/{seg('dockstore:' + reg.tools[0].id)}")
    assert response.status == status
    body = await response.json()
    assert set(body) == {"code", "message"} and body["code"] == status
    assert "dockstore" in body["message"]


# -- ids and versions ---------------------------------------------------------------


NASTY_IDS = [
    "#workflow/github.com/org/a+b",
    "#workflow/github.com/org/with space",
    "#workflow/github.com/org/100%real",
    "#workflow/github.com/org/repo/name:with:colons",
]


@pytest.mark.parametrize("tool_id", NASTY_IDS)
async def test_nasty_dockstore_ids_round_trip(
    upstream: Start, gateway: GatewayFactory, tool_id: str
) -> None:
    tool = FakeTool(id=tool_id, name="nasty", versions=[cwl_workflow_version("feature/x+y")])
    _, entry = await upstream("dockstore", "dockstore", [tool])
    client = await gateway([entry])
    gid = f"dockstore:{tool_id}"
    listed = await (await client.get("/ga4gh/trs/v2/tools")).json()
    assert [t["id"] for t in listed] == [gid]
    found = await client.session.get(URL(listed[0]["url"], encoded=True))
    assert (await found.json())["id"] == gid
    version_url = listed[0]["versions"][0]["url"]
    assert version_url.endswith("/versions/feature%2Fx%2By")
    version = await client.session.get(URL(version_url, encoded=True))
    assert version.status == 200, await version.text()
    text = await client.get(
        f"/ga4gh/trs/v2/tools/{seg(gid)}/versions/{seg('feature/x+y')}"
        "/PLAIN_CWL/descriptor/tools/wc.cwl"
    )
    assert text.status == 200 and "wc" in await text.text()


async def test_malformed_ids_get_clean_client_errors(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, entry = await upstream("dockstore", "dockstore", dockstore_tools(1))
    client = await gateway([entry])
    for path, status in [
        ("dockstore%3A", 400),
        ("dockstore%3A%23workflow%2Fnope", 404),
        ("%25%25%25", 404),
        ("dockstore%3A%23workflow%2Fgithub.com%2Forg%2F100%25zz", 404),
    ]:
        response = await client.get(f"/ga4gh/trs/v2/tools/{path}")
        assert response.status == status, path
        assert (await response.json())["code"] == status


async def test_unnamespaced_ids_resolve_in_config_order(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, first_entry = await upstream("first", "dockstore", dockstore_tools(2))
    _, second_entry = await upstream("second", "dockstore", dockstore_tools(3))
    client = await gateway([first_entry, second_entry])
    shared = seg("#workflow/github.com/org/repo-001")
    assert (await (await client.get(f"/ga4gh/trs/v2/tools/{shared}")).json())["id"].startswith(
        "first:"
    )
    only_second = seg("#workflow/github.com/org/repo-002")
    body = await (await client.get(f"/api/ga4gh/trs/v2/tools/{only_second}")).json()
    assert body["id"] == "second:#workflow/github.com/org/repo-002"
    response = await client.get("/ga4gh/trs/v2/tools/nosuch%3Athing")
    assert response.status == 404 and "first" in (await response.json())["message"]


async def test_unnamespaced_lookup_survives_a_failing_upstream(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, down = await upstream("down", "dockstore", dockstore_tools(2), mode="hang")
    _, up = await upstream("up", "dockstore", dockstore_tools(2))
    client = await gateway([down, up], federation={"deadline": 1})
    response = await client.get(f"/ga4gh/trs/v2/tools/{seg('#workflow/github.com/org/repo-000')}")
    assert response.status == 200
    assert (await response.json())["id"].startswith("up:")


async def test_versions_are_found_by_name_by_id_and_by_namespaced_id(
    upstream: Start, gateway: GatewayFactory
) -> None:
    dock, dock_entry = await upstream("dockstore", "dockstore", dockstore_tools(1))
    _, hub_entry = await upstream("workflowhub", "workflowhub", workflowhub_tools(1))
    client = await gateway([dock_entry, hub_entry])
    tool_id = dock.tools[0].id
    gid = seg(f"dockstore:{tool_id}")
    version = await (await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/main")).json()
    assert version["id"] == f"dockstore:{tool_id}:main"
    for spelling in (f"{tool_id}:main", f"dockstore:{tool_id}:main"):
        response = await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/{seg(spelling)}/CWL/files")
        assert response.status == 200, spelling
    for spelling in ("1", "Version 1"):
        response = await client.get(
            f"/ga4gh/trs/v2/tools/workflowhub%3A100/versions/{seg(spelling)}"
        )
        assert response.status == 200, spelling
        body = await response.json()
        assert body["id"] == "1" and body["url"].endswith("/versions/1")
    missing = await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/nope")
    assert missing.status == 404 and "'main'" in (await missing.json())["message"]


# -- flavors ------------------------------------------------------------------------


async def test_tool_classes_are_merged_by_name(four: Any) -> None:
    client, _ = four
    body = await (await client.get("/ga4gh/trs/v2/toolClasses")).json()
    names = [c["name"] for c in body]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "CommandLineTool",
        "Workflow",
        "Service",
        "Notebook",
        "CommandLineMultiTool",
    }
    assert all(c["id"] == c["name"] for c in body)


async def test_dockstore_zip_is_passed_through(upstream: Start, gateway: GatewayFactory) -> None:
    reg, entry = await upstream("dockstore", "dockstore", dockstore_tools(1))
    client = await gateway([entry])
    gid = seg(f"dockstore:{reg.tools[0].id}")
    response = await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/main/CWL/files?format=zip")
    assert response.status == 200 and response.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        assert set(archive.namelist()) >= {"main.cwl", "tools/wc.cwl"}
    assert reg.request_count("/CWL/files") == 1


async def test_dockstore_zip_mislabelled_as_json_is_rebuilt(
    upstream: Start, gateway: GatewayFactory
) -> None:
    reg, entry = await upstream("dockstore", "dockstore", dockstore_tools(1), zip_as_json=True)
    client = await gateway([entry])
    gid = seg(f"dockstore:{reg.tools[0].id}")
    response = await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/main/CWL/files?format=zip")
    assert response.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
        assert set(archive.namelist()) >= {"main.cwl", "tools/wc.cwl"}


async def test_workflowhub_descriptors_and_files_validate(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, entry = await upstream("workflowhub", "workflowhub", workflowhub_tools(1))
    client = await gateway([entry])
    base = "/ga4gh/trs/v2/tools/workflowhub%3A100/versions/2"
    files = await (await client.get(f"{base}/GALAXY/files")).json()
    assert_valid(files, "ToolFile", array=True)
    wrapper = await (await client.get(f"{base}/GALAXY/descriptor")).json()
    assert_valid(wrapper, "FileWrapper")
    assert "a_galaxy_workflow" in wrapper["content"]
    plain = await client.get(f"{base}/plain-GALAXY/descriptor")
    assert plain.status == 200 and "a_galaxy_workflow" in await plain.text()
    tool = await (await client.get("/ga4gh/trs/v2/tools/workflowhub%3A100")).json()
    assert_valid(tool, "Tool")


async def test_biocontainers_quirks_become_spec_answers(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, entry = await upstream("bio", "biocontainers", biocontainers_tools(2))
    client = await gateway([entry])
    tool = await client.get("/ga4gh/trs/v2/tools/bio%3Atool00")
    body = await tool.json()
    assert_valid(body, "Tool")
    assert "identifiers" not in body
    assert body["versions"][0]["url"].endswith("/tools/bio%3Atool00/versions/tool00-1.0")
    assert (await client.get("/ga4gh/trs/v2/tools/bio%3Anope")).status == 404
    assert (await client.get("/ga4gh/trs/v2/tools/bio%3Atool00/versions/nope")).status == 404
    response = await client.get(
        "/ga4gh/trs/v2/tools/bio%3Atool00/versions/tool00-1.0/CWL/descriptor"
    )
    assert response.status == 404


async def test_old_dockstore_204_on_files_is_not_found(
    upstream: Start, gateway: GatewayFactory
) -> None:
    reg, entry = await upstream("dockstore", "dockstore", dockstore_tools(1), files_204=True)
    client = await gateway([entry])
    gid = seg(f"dockstore:{reg.tools[0].id}")
    response = await client.get(f"/ga4gh/trs/v2/tools/{gid}/versions/nope/CWL/files")
    assert response.status == 404


async def test_auth_token_reaches_its_upstream_only(
    upstream: Start, gateway: GatewayFactory
) -> None:
    secret, secret_entry = await upstream("private", "generic", dockstore_tools(1, "p"))
    public, public_entry = await upstream("public", "generic", dockstore_tools(1, "q"))
    secret_entry["auth"] = {"bearer_token": "tok-123"}
    client = await gateway([secret_entry, public_entry])
    await client.get("/ga4gh/trs/v2/tools", headers={"Authorization": "Bearer client-token"})
    assert all(r.headers.get("Authorization") == "Bearer tok-123" for r in secret.requests)
    assert all("Authorization" not in r.headers for r in public.requests)


async def test_an_unknown_id_with_an_upstream_down_names_every_upstreams_outcome(
    upstream: Start, gateway: GatewayFactory
) -> None:
    _, found_nothing = await upstream("filer", "generic", [])
    down, down_entry = await upstream("dockstore", "dockstore", [])
    down.mode = "error500"
    client = await gateway([down_entry, found_nothing], health={"probe_interval": 3600})
    response = await client.get("/ga4gh/trs/v2/tools/no-such-tool")
    assert response.status == 502
    message = (await response.json())["message"]
    assert "filer said not found" in message
    assert "dockstore: unavailable" in message
    assert response.headers["Cache-Control"] == "no-store"

    down.mode = "ok"
    response = await client.get("/ga4gh/trs/v2/tools/no-such-tool-either")
    assert response.status == 404, "every upstream said not found"


async def test_a_zip_of_too_many_files_is_refused_before_any_file_is_fetched(
    upstream: Start, gateway: GatewayFactory
) -> None:
    version = cwl_workflow_version()
    version.files += [FakeFile(f"data/{i}.txt", "x", "OTHER") for i in range(60)]
    # A static tree serves no zip of its own: the gateway builds it.
    registry, entry = await upstream("filer", "static", [FakeTool(id="big", versions=[version])])
    client = await gateway([entry], federation={"max_zip_files": 50})
    response = await client.get("/ga4gh/trs/v2/tools/filer%3Abig/versions/1.0/CWL/files?format=zip")
    assert response.status == 502
    assert "more than the 50" in (await response.json())["message"]
    assert registry.request_count("/descriptor") == 0
