"""Cross-registry identity through the running gateway, over fake upstreams of four flavors.

The catalogue below holds realistic overlaps:

* an IWC-style workflow in Dockstore (``#workflow/github.com/iwc-workflows/rnaseq-pe/main``,
  with Dockstore's hyphenated DOI alias), in WorkflowHub (its description names the same
  GitHub repository) and in a trs-filer-style registry (the DOI as a doi.org URL);
* ``bedtools`` in BioContainers (``identifiers: biotools:bedtools``) and in the trs-filer
  registry (alias ``bio.tools:BEDTOOLS``);
* a crosswalk entry joining a Dockstore workflow and a WorkflowHub entry that share nothing;
* conflicting signals: two Dockstore workflows of one repository and a WorkflowHub entry
  whose description names that repository -- which of the two it is cannot be told;
* a Dockstore tool that has no match anywhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from gateway.app import HARVESTER, RUNTIME
from gateway.federation.core import Federation
from gateway.ids import client_spellings
from tests.conftest import GatewayFactory
from tests.fakes import FakeTool, FakeVersion, start_registry

BASE = "/ga4gh/trs/v2"
RNASEQ_DS = "#workflow/github.com/iwc-workflows/rnaseq-pe/main"
DOI = "10.5281/zenodo.7000001"
DOI_SPELLINGS = [
    DOI,
    f"doi:{DOI}",
    f"https://doi.org/{DOI}",
    "10.5281-zenodo.7000001",
    "DOI:10.5281/ZENODO.7000001",
]
RNASEQ_GROUP = {"dockstore:" + RNASEQ_DS, "workflowhub:599", "filer:RNASEQ1"}
BEDTOOLS_GROUP = {"biocontainers:bedtools", "filer:BEDT01"}
CROSSWALK_GROUP = {"dockstore:#workflow/github.com/lab/variant-calling", "workflowhub:700"}
LONELY = "dockstore:#workflow/github.com/lonely/tool"
MULTI = ["#workflow/github.com/lab/multi/a", "#workflow/github.com/lab/multi/b"]


def _version() -> FakeVersion:
    return FakeVersion(name="1.0", id="1")


def dockstore_tools() -> list[FakeTool]:
    return [
        FakeTool(
            id=RNASEQ_DS,
            name="iwc-workflows/rnaseq-pe/main",
            aliases=["10.5281-zenodo.7000001"],
            versions=[_version()],
        ),
        FakeTool(id="#workflow/github.com/lab/variant-calling", versions=[_version()]),
        FakeTool(id="#workflow/github.com/lonely/tool", versions=[_version()]),
        *(FakeTool(id=tool_id, versions=[_version()]) for tool_id in MULTI),
    ]


def workflowhub_tools() -> list[FakeTool]:
    return [
        FakeTool(
            id="599",
            name="RNA-seq paired end",
            description="Imported from https://github.com/iwc-workflows/rnaseq-pe.",
            versions=[_version()],
        ),
        FakeTool(id="700", name="Variant calling", versions=[_version()]),
        FakeTool(
            id="701",
            name="Multi",
            description="Code: https://github.com/lab/multi",
            versions=[_version()],
        ),
    ]


def biocontainers_tools() -> list[FakeTool]:
    return [
        FakeTool(
            id="bedtools",
            name="bedtools",
            toolclass="CommandLineTool",
            versions=[FakeVersion(name="2.27.0", id="bedtools-2.27.0")],
            extra={"identifiers": ["biotools:bedtools", "PMID:20110278"]},
        ),
        FakeTool(
            id="samtools",
            name="samtools",
            toolclass="CommandLineTool",
            versions=[FakeVersion(name="1.9", id="samtools-1.9")],
            extra={"identifiers": ["biotools:samtools"]},
        ),
    ]


def filer_tools() -> list[FakeTool]:
    return [
        FakeTool(id="RNASEQ1", aliases=[f"https://doi.org/{DOI}"], versions=[_version()]),
        FakeTool(
            id="BEDT01",
            toolclass="CommandLineTool",
            aliases=["bio.tools:BEDTOOLS"],
            versions=[_version()],
        ),
    ]


@pytest.fixture
async def upstreams(aiohttp_server: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """Four fake registries, and a crosswalk file next to where a config would be."""
    entries = []
    for name, flavor, tools in [
        ("dockstore", "dockstore", dockstore_tools()),
        ("workflowhub", "workflowhub", workflowhub_tools()),
        ("biocontainers", "biocontainers", biocontainers_tools()),
        ("filer", "generic", filer_tools()),
    ]:
        _, url = await start_registry(aiohttp_server, flavor, tools)
        entries.append({"name": name, "url": url, "flavor": flavor})
    return entries


@pytest.fixture
def crosswalk(tmp_path: Path) -> str:
    path = tmp_path / "crosswalk.yaml"
    path.write_text(
        "groups:\n  - [dockstore:#workflow/github.com/lab/variant-calling, workflowhub:700]\n",
        encoding="utf-8",
    )
    return str(path)


def identity_section(crosswalk: str | None = None, **harvest: Any) -> dict[str, Any]:
    return {
        "crosswalk": crosswalk,
        "harvest": {"enabled": True, "pause": 0, "page_size": 2, **harvest},
    }


def federation_of(client: TestClient[Any, Any]) -> Federation:
    return client.server.app[RUNTIME].current().federation


async def harvested(client: TestClient[Any, Any], within: float = 15.0) -> None:
    """Wait until every upstream was walked once."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + within
    while loop.time() < stop:
        progress = client.server.app[HARVESTER].progress
        if all(p.walks >= 1 for p in progress.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"harvest did not finish: {client.server.app[HARVESTER].progress}")


async def get_json(client: TestClient[Any, Any], path: str, **params: str) -> Any:
    response = await client.get(path, params=params)
    assert response.status == 200, await response.text()
    return await response.json()


async def tool_aliases(client: TestClient[Any, Any], gid: str) -> list[str]:
    """The tool's aliases but the client spellings every tool carries (checked here)."""
    tool = await get_json(client, f"{BASE}/tools/{quote(gid, safe='')}")
    assert tool["id"] == gid
    spellings = client_spellings(*gid.split(":", 1))
    assert set(spellings) <= set(tool["aliases"])
    return [a for a in tool["aliases"] if a not in spellings]


async def test_harvest_finds_twins_nobody_asked_for(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]], crosswalk: str
) -> None:
    client = await gateway(upstreams, identity=identity_section(crosswalk))
    await harvested(client)

    # The first request about any of these tools already lists its twins.
    aliases = await tool_aliases(client, "workflowhub:599")
    assert set(aliases) >= RNASEQ_GROUP - {"workflowhub:599"}
    assert "repo:github.com/iwc-workflows/rnaseq-pe" in aliases
    assert "workflowhub:599" not in aliases

    aliases = await tool_aliases(client, "dockstore:" + RNASEQ_DS)
    assert aliases[0] == "10.5281-zenodo.7000001"  # the upstream's own alias stays first
    assert {"workflowhub:599", "filer:RNASEQ1", f"doi:{DOI}"} <= set(aliases)

    assert "biocontainers:bedtools" in await tool_aliases(client, "filer:BEDT01")
    assert "curie:biotools:bedtools" in await tool_aliases(client, "biocontainers:bedtools")
    assert "workflowhub:700" in await tool_aliases(
        client, "dockstore:#workflow/github.com/lab/variant-calling"
    )


@pytest.mark.parametrize("spelling", DOI_SPELLINGS)
async def test_alias_query_in_every_doi_spelling_returns_the_whole_group(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]], spelling: str
) -> None:
    client = await gateway(upstreams, identity=identity_section())
    await harvested(client)
    tools = await get_json(client, f"{BASE}/tools", alias=spelling)
    assert {t["id"] for t in tools} == RNASEQ_GROUP
    # Ordered by upstream as configured, and every one names its twins.
    assert [t["id"].partition(":")[0] for t in tools] == ["dockstore", "workflowhub", "filer"]
    for tool in tools:
        assert RNASEQ_GROUP - {tool["id"]} <= set(tool["aliases"])


@pytest.mark.parametrize(
    ("spelling", "group"),
    [
        ("https://github.com/iwc-workflows/rnaseq-pe.git", RNASEQ_GROUP),
        ("git@github.com:iwc-workflows/rnaseq-pe.git", RNASEQ_GROUP),
        ("dockstore:" + RNASEQ_DS, RNASEQ_GROUP),
        ("biotools:bedtools", BEDTOOLS_GROUP),
        ("https://bio.tools/BEDTOOLS", BEDTOOLS_GROUP),
        ("workflowhub:700", CROSSWALK_GROUP),
    ],
)
async def test_alias_query_by_repository_curie_gateway_id_and_crosswalk(
    gateway: GatewayFactory,
    upstreams: list[dict[str, Any]],
    crosswalk: str,
    spelling: str,
    group: set[str],
) -> None:
    client = await gateway(upstreams, identity=identity_section(crosswalk))
    await harvested(client)
    tools = await get_json(client, f"{BASE}/tools", alias=spelling)
    assert {t["id"] for t in tools} == group


async def test_alias_query_combines_with_other_filters_and_pages(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    client = await gateway(upstreams, identity=identity_section())
    await harvested(client)
    only = await get_json(client, f"{BASE}/tools", alias=DOI, name="rna-seq")
    assert [t["id"] for t in only] == ["workflowhub:599"]

    seen: list[str] = []
    response = await client.get(f"{BASE}/tools", params={"alias": DOI, "limit": "1"})
    while True:
        assert response.status == 200
        seen += [t["id"] for t in await response.json()]
        if "next_page" not in response.headers:
            break
        response = await client.get(URL(response.headers["next_page"]).path_qs)
    assert sorted(seen) == sorted(RNASEQ_GROUP)
    assert len(seen) == 3


async def test_tool_without_a_match_has_only_its_own_keys(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    client = await gateway(upstreams, identity=identity_section())
    await harvested(client)
    aliases = await tool_aliases(client, LONELY)
    assert "repo:github.com/lonely/tool" in aliases
    assert all(a.startswith(("repo:", "trs:")) for a in aliases), aliases
    assert await get_json(client, f"{BASE}/tools", alias=LONELY) == [
        await get_json(client, f"{BASE}/tools/{quote(LONELY, safe='')}")
    ]
    assert await get_json(client, f"{BASE}/tools", alias="https://github.com/nobody/nothing") == []


async def test_conflicting_repository_signal_links_nothing(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    """Two Dockstore workflows share the repository WorkflowHub 701 names: no guess is made."""
    client = await gateway(upstreams, identity=identity_section())
    await harvested(client)
    aliases = await tool_aliases(client, "workflowhub:701")
    assert not any(a.startswith("dockstore:") for a in aliases)
    for tool_id in MULTI:
        assert "workflowhub:701" not in await tool_aliases(client, f"dockstore:{tool_id}")
        assert f"dockstore:{MULTI[0]}" not in await tool_aliases(client, f"dockstore:{MULTI[1]}")
    # Asking by the repository lists every tool carrying it, since that is what was asked.
    tools = await get_json(client, f"{BASE}/tools", alias="https://github.com/lab/multi")
    assert {t["id"] for t in tools} == {f"dockstore:{MULTI[0]}", f"dockstore:{MULTI[1]}"} | {
        "workflowhub:701"
    }


async def test_unnamespaced_dockstore_id_and_doi_resolve_as_tool_ids(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    client = await gateway(upstreams, identity=identity_section())
    await harvested(client)

    tool = await get_json(client, f"{BASE}/tools/{quote(RNASEQ_DS, safe='')}")
    assert tool["id"] == "dockstore:" + RNASEQ_DS

    response = await client.get(f"{BASE}/tools/{quote(DOI, safe='')}")
    assert response.status == 200
    assert (await response.json())["id"] == "dockstore:" + RNASEQ_DS
    alternates = response.headers["Link"]
    assert f'{BASE}/tools/workflowhub%3A599>; rel="alternate"' in alternates
    assert f'{BASE}/tools/filer%3ARNASEQ1>; rel="alternate"' in alternates

    # Follow-up calls under the alias reach the same tool.
    versions = await get_json(client, f"{BASE}/tools/{quote(DOI, safe='')}/versions")
    assert [v["name"] for v in versions] == ["1.0"]

    missing = await client.get(f"{BASE}/tools/{quote('10.9999/not.there', safe='')}")
    assert missing.status == 404


async def test_answers_fill_the_index_without_a_harvest(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    client = await gateway(upstreams)  # harvest off
    federation = federation_of(client)
    assert len(federation.identity.index) == 0
    assert await tool_aliases(client, "workflowhub:599") == [
        "repo:github.com/iwc-workflows/rnaseq-pe"
    ]
    await get_json(client, f"{BASE}/tools", limit="100")
    assert len(federation.identity.index) == sum(
        len(f()) for f in (dockstore_tools, workflowhub_tools, biocontainers_tools, filer_tools)
    )
    assert "dockstore:" + RNASEQ_DS in await tool_aliases(client, "workflowhub:599")


async def test_alias_answers_name_upstreams_whose_harvest_never_completed(
    gateway: GatewayFactory, upstreams: list[dict[str, Any]]
) -> None:
    client = await gateway(upstreams)  # harvest off: the index knows only what was seen
    response = await client.get(f"{BASE}/tools", params={"alias": "biotools:bedtools"})
    assert response.status == 200
    missing = response.headers["X-TRS-Gateway-Missing"]
    # Dockstore and the generic registry search aliases themselves; the others are
    # answered from the index only.
    assert missing == (
        '"workflowhub";reason="index-incomplete", "biocontainers";reason="index-incomplete"'
    )
    assert response.headers["Cache-Control"] == "no-store"

    harvesting = await gateway(upstreams, identity=identity_section())
    await harvested(harvesting)
    response = await harvesting.get(f"{BASE}/tools", params={"alias": "biotools:bedtools"})
    assert "X-TRS-Gateway-Missing" not in response.headers
    assert {t["id"] for t in await response.json()} >= {"biocontainers:bedtools", "filer:BEDT01"}
