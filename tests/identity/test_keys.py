"""Identity keys: canonical forms, tool key extraction, crosswalks and grouping."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.identity import (
    DOCKSTORE_HOSTS,
    IdentityIndex,
    TrsToolRef,
    dockstore_trs_url_keys,
    gw_key,
    is_specific,
    keys_for_tool,
    normalise,
    parse_crosswalk,
    parse_doi,
    parse_trs_url,
)
from gateway.identity import keys as keys_module

UPSTREAMS = ("dockstore", "workflowhub", "biocontainers", "yevis")

DS_URL = "https://dockstore.org/api/ga4gh/trs/v2/tools/"
DS_MD5 = "#workflow/github.com/dockstore-testing/md5sum-checker"
DS_MD5_ENC = "%23workflow%2Fgithub.com%2Fdockstore-testing%2Fmd5sum-checker"
YEVIS_ID = "0d2ae4c2-fe4c-48f7-811a-ac277776533e"


def one(value: str, **kwargs: Any) -> str:
    keys = normalise(value, **kwargs)
    assert len(keys) == 1, keys
    return next(iter(keys))


# ---------------------------------------------------------------------------- DOIs


@pytest.mark.parametrize(
    "spelling",
    [
        "10.5281/zenodo.123",
        "doi:10.5281/zenodo.123",
        "DOI: 10.5281/ZENODO.123",
        "doi:  10.5281/Zenodo.123",
        "info:doi/10.5281/zenodo.123",
        "https://doi.org/10.5281/zenodo.123",
        "http://doi.org/10.5281/zenodo.123",
        "http://dx.doi.org/10.5281/zenodo.123",
        "https://www.doi.org/10.5281/zenodo.123",
        "doi.org/10.5281/zenodo.123",
        "https://zenodo.org/doi/10.5281/zenodo.123",
        "https://zenodo.org/records/123",
        "https://zenodo.org/record/123",
        "10.5281-zenodo.123",
        "10.5281-ZENODO.123",
        "doi:10.5281-zenodo.123",
        "10.5281%2Fzenodo.123",
        "https://doi.org/10.5281%2Fzenodo.123",
        "10.5281/zenodo.123.",
        "doi:10.5281/zenodo.123;",
        "(doi:10.5281/zenodo.123)",
        "<https://doi.org/10.5281/zenodo.123>",
        "  https://doi.org/10.5281/zenodo.123?foo=bar  ",
    ],
)
def test_every_doi_spelling_gives_one_key(spelling: str) -> None:
    assert normalise(spelling) == {"doi:10.5281/zenodo.123"}


def test_doi_keeps_balanced_brackets_and_long_suffixes() -> None:
    assert parse_doi("10.1002/(SICI)1097-0258(19980815)17:15<1661::AID-SIM968>3.0.CO;2-2") == (
        "10.1002/(sici)1097-0258(19980815)17:15<1661::aid-sim968>3.0.co;2-2"
    )
    assert parse_doi("10.1000.10/abc") == "10.1000.10/abc"


@pytest.mark.parametrize(
    "value",
    [
        "10.12-abc",  # registrant code needs 4-9 digits
        "10.5281zenodo.123",
        "v10.5281-zenodo.123",
        "x-10.5281-zenodo.123",
        "10.5281/",
        "10.5281/zen odo",
        "doi:",
        "hello",
    ],
)
def test_not_a_doi(value: str) -> None:
    assert parse_doi(value) is None
    assert not any(k.startswith("doi:") for k in normalise(value))


def test_hyphen_form_replaces_only_the_first_separator() -> None:
    assert parse_doi("10.5281-zenodo-1-2") == "10.5281/zenodo-1-2"
    assert parse_doi("10.5281/zenodo-1") == "10.5281/zenodo-1"


# ---------------------------------------------------------------------------- repos


@pytest.mark.parametrize(
    "value",
    [
        "#workflow/github.com/Org/Repo",
        "#workflow/github.com/org/repo:master",
        "#Workflow/github.com/org/repo",
        "#service/github.com/org/repo",
        "#notebook/github.com/org/repo",
        "https://github.com/org/repo",
        "https://github.com/Org/Repo/",
        "http://github.com/org/repo.git",
        "https://www.github.com/org/repo",
        "https://github.com/org/repo/tree/main/workflows/x",
        "https://github.com/org/repo/blob/main/README.md#top",
        "git@github.com:org/repo.git",
        "git@github.com:org/repo",
        "git+https://github.com/org/repo.git",
        "git+ssh://git@github.com/org/repo.git",
        "ssh://git@github.com:22/org/repo.git",
        "git://github.com/org/repo.git",
        "github.com/org/repo",
        "https://github.com/org/repo.",
    ],
)
def test_repo_spellings(value: str) -> None:
    assert normalise(value) == {"repo:github.com/org/repo"}


def test_dockstore_workflow_name_gives_an_extra_specific_key() -> None:
    keys = normalise("#workflow/github.com/iwc-workflows/RNAseq-PE/Main:v0.1")
    assert keys == {
        "repo:github.com/iwc-workflows/rnaseq-pe",
        "repo:github.com/iwc-workflows/rnaseq-pe/main",
    }
    assert not is_specific("repo:github.com/iwc-workflows/rnaseq-pe")
    assert is_specific("repo:github.com/iwc-workflows/rnaseq-pe/main")


def test_dockstore_app_tool_id_is_a_repo() -> None:
    assert normalise("github.com/org/repo/mytool") == {
        "repo:github.com/org/repo",
        "repo:github.com/org/repo/mytool",
    }


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("https://gitlab.com/group/project/-/tree/main", "repo:gitlab.com/group/project"),
        ("https://bitbucket.org/Team/Repo.git", "repo:bitbucket.org/team/repo"),
        ("https://codeberg.org/owner/repo", "repo:codeberg.org/owner/repo"),
        ("https://gitlab.bsc.es/lab/wf", "repo:gitlab.bsc.es/lab/wf"),
        ("https://git.example.org/lab/wf.git", "repo:git.example.org/lab/wf"),
        ("https://example.org/lab/wf.git", "repo:example.org/lab/wf"),
        ("git@gitlab.com:group/project.git", "repo:gitlab.com/group/project"),
        ("#workflow/gitlab.com/group/project", "repo:gitlab.com/group/project"),
        ("#workflow/bitbucket.org/team/repo", "repo:bitbucket.org/team/repo"),
        ("#workflow/dockstore.org/user/hosted", "repo:dockstore.org/user/hosted"),
    ],
)
def test_other_forges(value: str, key: str) -> None:
    assert normalise(value) == {key}


@pytest.mark.parametrize(
    "value",
    ["https://github.com/org", "https://github.com/", "#workflow/github.com/org", "github.com/org"],
)
def test_incomplete_repo_is_only_an_alias(value: str) -> None:
    assert normalise(value) == {f"alias:{value.casefold()}"}


def test_non_forge_page_is_not_a_repo() -> None:
    assert normalise("https://example.org/lab/wf") == {"alias:https://example.org/lab/wf"}


# ---------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (
            "quay.io/briandoconnor/dockstore-tool-md5sum",
            "image:quay.io/briandoconnor/dockstore-tool-md5sum",
        ),
        ("quay.io/org/tool/toolname", "image:quay.io/org/tool"),
        ("Quay.io/Org/Tool:1.0", "image:quay.io/org/tool"),
        ("registry.hub.docker.com/org/tool", "image:docker.io/org/tool"),
        ("registry.gitlab.com/group/img", "image:registry.gitlab.com/group/img"),
        ("ghcr.io/org/img@sha256:abc", "image:ghcr.io/org/img"),
        (
            "docker://quay.io/biocontainers/bedtools:2.27.0--he513fc3_4",
            "image:quay.io/biocontainers/bedtools",
        ),
        ("docker://ubuntu:22.04", "image:docker.io/library/ubuntu"),
        ("docker://biocontainers/fastqc", "image:docker.io/biocontainers/fastqc"),
    ],
)
def test_container_images_are_not_repos(value: str, key: str) -> None:
    assert normalise(value) == {key}
    assert not is_specific(key)


# ---------------------------------------------------------------------------- CURIEs


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("biotools:bedtools", "curie:biotools:bedtools"),
        ("biotools:BEDTools", "curie:biotools:bedtools"),
        ("bio.tools:bedtools", "curie:biotools:bedtools"),
        ("BIO.TOOLS:Bedtools", "curie:biotools:bedtools"),
        ("https://bio.tools/bedtools", "curie:biotools:bedtools"),
        ("https://bio.tools/tool/bedtools/", "curie:biotools:bedtools"),
        ("https://bio.tools/api/tool/bedtools?format=json", "curie:biotools:bedtools"),
        ("https://identifiers.org/biotools:bedtools", "curie:biotools:bedtools"),
        ("PMID:20110278", "curie:pmid:20110278"),
        ("pmid: 20110278", "curie:pmid:20110278"),
        ("pubmed:20110278", "curie:pmid:20110278"),
        ("https://pubmed.ncbi.nlm.nih.gov/20110278/", "curie:pmid:20110278"),
        ("https://www.ncbi.nlm.nih.gov/pubmed/20110278", "curie:pmid:20110278"),
        ("https://identifiers.org/pubmed/20110278", "curie:pmid:20110278"),
        ("RRID:SCR_006646", "curie:rrid:SCR_006646"),
    ],
)
def test_curies(value: str, key: str) -> None:
    assert normalise(value) == {key}


def test_rrid_ids_keep_their_case() -> None:
    assert one("rrid:SCR_006646") != one("rrid:scr_006646")


def test_unknown_prefix_is_an_alias() -> None:
    assert normalise("dockstore.org:630d31c3-381e-488d-b639-ce5d047a0142") == {
        "alias:dockstore.org:630d31c3-381e-488d-b639-ce5d047a0142"
    }


def test_pmid_is_weak_biotools_is_specific() -> None:
    assert not is_specific("curie:pmid:20110278")
    assert is_specific("curie:biotools:bedtools")


# ---------------------------------------------------------------------------- TRS URLs


def test_dockstore_trs_url_gives_trs_and_repo_keys() -> None:
    assert normalise(DS_URL + DS_MD5_ENC) == {
        f"trs:dockstore.org/api/ga4gh/trs/v2/{DS_MD5}",
        "repo:github.com/dockstore-testing/md5sum-checker",
    }


@pytest.mark.parametrize(
    "value",
    [
        DS_URL + DS_MD5_ENC,
        "http://dockstore.org/api/ga4gh/trs/v2/tools/" + DS_MD5_ENC,
        "https://DOCKSTORE.org:443/api/ga4gh/trs/v2/tools/" + DS_MD5_ENC + "/",
        DS_URL + DS_MD5_ENC + "/versions/develop",
        DS_URL + DS_MD5_ENC + "/versions/feature%2Fx/CWL/descriptor/tools/a.cwl",
        DS_URL + DS_MD5,  # unencoded: '#' arrives as a fragment
        DS_URL + DS_MD5 + "/versions/develop",
        "https://dockstore.org/api/api/ga4gh/v2/tools/" + DS_MD5_ENC,  # beta path
        "trs://dockstore.org/" + DS_MD5_ENC,
        "trs://dockstore.org/" + DS_MD5_ENC + "/develop",
    ],
)
def test_trs_url_spellings_agree(value: str) -> None:
    ref = parse_trs_url(value)
    assert ref == TrsToolRef("dockstore.org", "/api/ga4gh/trs/v2", DS_MD5)
    assert ref.key in normalise(value)


def test_non_dockstore_trs_urls() -> None:
    assert normalise("https://workflowhub.eu/ga4gh/trs/v2/tools/599") == {
        "trs:workflowhub.eu/ga4gh/trs/v2/599"
    }
    # trs:// resolves to the spec base path, so it meets the https URL
    assert normalise("trs://workflowhub.eu/599/3") == {"trs:workflowhub.eu/ga4gh/trs/v2/599"}
    # BioContainers publishes http:// urls; TRS-Filer writes :443
    assert normalise("http://api.biocontainers.pro/ga4gh/trs/v2/tools/bedtools") == normalise(
        "https://api.biocontainers.pro/ga4gh/trs/v2/tools/bedtools"
    )
    assert one("https://trs.example.org:443/ga4gh/trs/v2/tools/ABC123") == (
        "trs:trs.example.org/ga4gh/trs/v2/ABC123"
    )
    assert one("https://trs.example.org:8443/ga4gh/trs/v2/tools/ABC123") == (
        "trs:trs.example.org:8443/ga4gh/trs/v2/ABC123"
    )
    # a static Yevis tree has no /ga4gh/trs/v2
    assert one(f"https://ddbj.github.io/workflow-registry/tools/{YEVIS_ID}/versions/1.0.0") == (
        f"trs:ddbj.github.io/workflow-registry/{YEVIS_ID}"
    )


def test_trs_ids_keep_case_hosts_do_not() -> None:
    assert one("https://TRS.Example.org/ga4gh/trs/v2/tools/AbC") == (
        "trs:trs.example.org/ga4gh/trs/v2/AbC"
    )


def test_not_trs_urls() -> None:
    assert parse_trs_url("https://workflowhub.eu/workflows/599") is None
    assert parse_trs_url("https://workflowhub.eu/ga4gh/trs/v2/tools") is None
    assert parse_trs_url("https://workflowhub.eu/ga4gh/trs/v2/tools/") is None
    assert parse_trs_url("ftp://example.org/tools/x") is None
    assert parse_trs_url("trs://") is None
    assert parse_trs_url("http://[bad/tools/x") is None


def test_planemo_trs_shorthand_is_a_dockstore_workflow() -> None:
    assert normalise("trs://workflow/github.com/iwc-workflows/pad/main") == {
        "trs:dockstore.org/api/ga4gh/trs/v2/#workflow/github.com/iwc-workflows/pad/main",
        "repo:github.com/iwc-workflows/pad",
        "repo:github.com/iwc-workflows/pad/main",
    }


def test_dockstore_trs_url_keys() -> None:
    enc = "%23workflow%2Fgithub.com%2Fo%2Fr%2Fx"
    assert dockstore_trs_url_keys(DS_URL + enc) == {"repo:github.com/o/r", "repo:github.com/o/r/x"}
    assert dockstore_trs_url_keys(
        "https://staging.dockstore.org/api/ga4gh/trs/v2/tools/" + enc
    ) == {"repo:github.com/o/r", "repo:github.com/o/r/x"}
    tool = "quay.io%2Fbriandoconnor%2Fdockstore-tool-md5sum"
    assert dockstore_trs_url_keys(DS_URL + tool) == {
        "image:quay.io/briandoconnor/dockstore-tool-md5sum"
    }
    # other hosts never give repo keys, whatever the id looks like
    assert dockstore_trs_url_keys("https://mirror.example.org/ga4gh/trs/v2/tools/" + enc) == set()
    assert dockstore_trs_url_keys(
        "https://mirror.example.org/ga4gh/trs/v2/tools/" + enc, hosts={"mirror.example.org"}
    ) == {"repo:github.com/o/r", "repo:github.com/o/r/x"}
    assert dockstore_trs_url_keys("https://dockstore.org/workflows/x") == set()
    assert "dockstore.org" in DOCKSTORE_HOSTS


# ---------------------------------------------------------------------------- aliases, gw


def test_aliases_are_casefolded() -> None:
    assert normalise("Trs-Gateway-Demo/WordCount") == {"alias:trs-gateway-demo/wordcount"}
    assert normalise("  STRASSE  ") == normalise("straße")
    assert normalise("") == set()
    assert normalise("   ") == set()


def test_gateway_ids_need_known_upstreams() -> None:
    value = "dockstore:#workflow/github.com/org/repo/wf"
    assert normalise(value, upstreams=UPSTREAMS) == {
        "gw:dockstore:#workflow/github.com/org/repo/wf",
        "repo:github.com/org/repo",
        "repo:github.com/org/repo/wf",
    }
    assert normalise(value) == {f"alias:{value}"}
    assert normalise("workflowhub:599", upstreams=UPSTREAMS) == {"gw:workflowhub:599"}
    assert normalise("workflowhub:", upstreams=UPSTREAMS) == {"alias:workflowhub:"}
    assert gw_key("yevis", YEVIS_ID) == f"gw:yevis:{YEVIS_ID}"


def test_upstream_names_win_over_other_readings() -> None:
    assert normalise("pmid:1", upstreams=["pmid"]) == {"gw:pmid:1"}


@pytest.mark.parametrize(
    ("key", "specific"),
    [
        ("doi:10.5281/zenodo.1", True),
        ("repo:github.com/o/r", False),
        ("repo:github.com/o/r/name", True),
        ("image:quay.io/o/t", False),
        ("curie:biotools:x", True),
        ("curie:pmid:1", False),
        ("curie:rrid:SCR_1", True),
        ("trs:h/ga4gh/trs/v2/x", True),
        ("alias:x", True),
        ("gw:dockstore:x", True),
    ],
)
def test_is_specific(key: str, specific: bool) -> None:
    assert is_specific(key) is specific


# ---------------------------------------------------------------------------- keys_for_tool


def dockstore_workflow(**extra: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "aliases": [],
        "checker_url": "",
        "description": "See https://github.com/somewhere/else and doi:10.9999/noise",
        "has_checker": False,
        "id": DS_MD5,
        "meta_version": "2024-12-05 18:21:07.123",
        "name": "md5sum-checker",
        "organization": "dockstore-testing",
        "toolclass": {"description": "Workflow", "id": "1", "name": "Workflow"},
        "url": DS_URL + DS_MD5_ENC,
        "versions": [
            {
                "id": DS_MD5 + ":develop",
                "images": [{"image_name": "quay.io/biocontainers/md5:1.0"}],
                "name": "develop",
                "url": DS_URL + DS_MD5_ENC + "/versions/develop",
            }
        ],
    }
    tool.update(extra)
    return tool


def test_keys_for_dockstore_workflow() -> None:
    tool = dockstore_workflow(
        aliases=["10.5281-zenodo.6511019", "My-Alias", 7, None, ""],
        checker_url=DS_URL + "%23workflow%2Fgithub.com%2Fdockstore-testing%2Fchecker",
    )
    assert keys_for_tool("dockstore", tool, upstreams=UPSTREAMS) == {
        f"gw:dockstore:{DS_MD5}",
        "repo:github.com/dockstore-testing/md5sum-checker",
        f"trs:dockstore.org/api/ga4gh/trs/v2/{DS_MD5}",
        "doi:10.5281/zenodo.6511019",
        "alias:my-alias",
    }


def test_keys_for_dockstore_container_tool() -> None:
    tool = {
        "aliases": [],
        "id": "quay.io/briandoconnor/dockstore-tool-md5sum",
        "url": DS_URL + "quay.io%2Fbriandoconnor%2Fdockstore-tool-md5sum",
        "versions": [
            {
                "id": "quay.io/briandoconnor/dockstore-tool-md5sum:1.0.4",
                "images": [{"image_name": "quay.io/briandoconnor/dockstore-tool-md5sum:1.0.4"}],
                "name": "1.0.4",
                "url": DS_URL + "quay.io%2Fbriandoconnor%2Fdockstore-tool-md5sum/versions/1.0.4",
            }
        ],
    }
    assert keys_for_tool("dockstore", tool) == {
        "gw:dockstore:quay.io/briandoconnor/dockstore-tool-md5sum",
        "image:quay.io/briandoconnor/dockstore-tool-md5sum",
        "trs:dockstore.org/api/ga4gh/trs/v2/quay.io/briandoconnor/dockstore-tool-md5sum",
    }


def test_keys_for_workflowhub_tool_html_urls_give_nothing_but_description_repos_do() -> None:
    tool = {
        "id": "109",
        "url": "https://workflowhub.eu/workflows/109",
        "name": "Some workflow",
        "description": "Source at https://github.com/iwc-workflows/x",
        "organization": "IWC",
        "toolclass": {"id": "1", "name": "Workflow", "description": "A computational workflow"},
        "versions": [
            {"id": "5", "url": "https://workflowhub.eu/workflows/109?version=5", "name": "v5"}
        ],
    }
    assert keys_for_tool("workflowhub", tool) == {
        "gw:workflowhub:109",
        "repo:github.com/iwc-workflows/x",
    }
    assert not any(
        is_specific(k) for k in keys_for_tool("workflowhub", tool) - {"gw:workflowhub:109"}
    )


BEDTOOLS: dict[str, Any] = {
    "contains": ["biotools:samtools", "https://github.com/samtools/samtools"],
    "description": "Bedtools is an extensive suite of utilities, https://doi.org/10.1/x.",
    "id": "bedtools",
    "identifiers": ["biotools:bedtools", "PMID:20110278"],
    "license": "GPL-2.0",
    "name": "bedtools",
    "organization": "biocontainers",
    "pulls": 6111180,
    "tool_tags": ["genomics"],
    "tool_url": "https://github.com/arq5x/bedtools2",
    "toolclass": {"description": "CommandLineTool", "id": "0", "name": "CommandLineTool"},
    "url": "http://api.biocontainers.pro/ga4gh/trs/v2/tools/bedtools",
    "versions": [
        {
            "id": "bedtools-v2.28.0",
            "meta_version": "v2.28.0",
            "name": "bedtools",
            "url": "http://api.biocontainers.pro/ga4gh/trs/v2/tools/bedtools/versions/bedtools-v2.28.0",
        }
    ],
}


def test_keys_for_biocontainers_tool() -> None:
    assert keys_for_tool("biocontainers", BEDTOOLS) == {
        "gw:biocontainers:bedtools",
        "curie:biotools:bedtools",
        "curie:pmid:20110278",
        "repo:github.com/arq5x/bedtools2",
        "trs:api.biocontainers.pro/ga4gh/trs/v2/bedtools",
    }


def test_biocontainers_homepage_tool_url_gives_nothing() -> None:
    tool = {"id": "x", "tool_url": "http://bedtools.readthedocs.io/en/latest/"}
    assert keys_for_tool("biocontainers", tool) == {"gw:biocontainers:x"}


def yevis_tool(**extra: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "url": f"https://ddbj.github.io/workflow-registry/tools/{YEVIS_ID}",
        "id": YEVIS_ID,
        "organization": "@suecharo, @inutano",
        "name": "Pitagora CWL - Download SRA",
        "toolclass": {"id": "workflow", "name": "Workflow", "description": "A workflow"},
        "description": "https://zenodo.org/api/files/2422dda0-1bd9/README.md",
        "has_checker": True,
        "checker_url": "https://github.com/ddbj/yevis-cli",
        "versions": [
            {
                "author": ["suecharo", "inutano"],
                "url": f"https://ddbj.github.io/workflow-registry/tools/{YEVIS_ID}/versions/1.0.0",
                "id": "1.0.0",
                "verified": True,
                "verified_source": ["https://github.com/ddbj/workflow-registry/actions/runs/1"],
            }
        ],
    }
    tool.update(extra)
    return tool


def test_keys_for_yevis_tool() -> None:
    trs = f"trs:ddbj.github.io/workflow-registry/{YEVIS_ID}"
    assert keys_for_tool("yevis", yevis_tool()) == {f"gw:yevis:{YEVIS_ID}", trs}
    # a static adapter may surface the yevis-metadata.json DOIs as aliases
    with_dois = yevis_tool(aliases=["10.5281/zenodo.6511020", "doi:10.5281/zenodo.6511019"])
    assert keys_for_tool("yevis", with_dois) == {
        f"gw:yevis:{YEVIS_ID}",
        trs,
        "doi:10.5281/zenodo.6511020",
        "doi:10.5281/zenodo.6511019",
    }


def test_keys_for_tool_alias_naming_a_gateway_id() -> None:
    tool = {"id": "1", "aliases": ["workflowhub:599", "dockstore:x"]}
    assert keys_for_tool("trsfiler", tool, upstreams=["workflowhub"]) == {
        "gw:trsfiler:1",
        "gw:workflowhub:599",
        "alias:dockstore:x",
    }
    # its own upstream name is always known
    assert "gw:trsfiler:2" in keys_for_tool("trsfiler", {"id": "1", "aliases": ["trsfiler:2"]})


def test_keys_for_tool_bare_ids_are_not_aliases() -> None:
    assert keys_for_tool("trsfiler", {"id": "ABC123", "aliases": "single-string"}) == {
        "gw:trsfiler:ABC123",
        "alias:single-string",
    }


@pytest.mark.parametrize("tool", [{}, {"id": ""}, {"id": 599}])
def test_keys_for_tool_needs_an_id(tool: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="workflowhub"):
        keys_for_tool("workflowhub", tool)


# ---------------------------------------------------------------------------- crosswalk


def test_parse_crosswalk() -> None:
    data = {
        "groups": [
            [
                "dockstore:#workflow/github.com/org/repo",
                "10.5281/zenodo.123",
                "https://github.com/org/repo",
            ],
            ["workflowhub:599", f"yevis:{YEVIS_ID}"],
        ]
    }
    groups = parse_crosswalk(data, "crosswalk.yaml", upstreams=UPSTREAMS)
    assert groups == [
        {
            "gw:dockstore:#workflow/github.com/org/repo",
            "doi:10.5281/zenodo.123",
            "repo:github.com/org/repo",
        },
        {"gw:workflowhub:599", f"gw:yevis:{YEVIS_ID}"},
    ]


def test_crosswalk_entry_drops_weak_keys_beside_specific_ones() -> None:
    data = {"groups": [["dockstore:#workflow/github.com/o/r/wf", "workflowhub:1"]]}
    assert parse_crosswalk(data, "cw", upstreams=UPSTREAMS) == [
        {"gw:dockstore:#workflow/github.com/o/r/wf", "repo:github.com/o/r/wf", "gw:workflowhub:1"}
    ]


@pytest.mark.parametrize("data", [None, {}, {"groups": None}, {"groups": []}])
def test_empty_crosswalk(data: Any) -> None:
    assert parse_crosswalk(data, "cw") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([["a", "b"]], r"^cw\.yaml: crosswalk must be a mapping"),
        ({"groups": [["a", "b"]], "group": []}, r"^cw\.yaml: unknown crosswalk keys: group"),
        ({"groups": {"a": "b"}}, r"^cw\.yaml: 'groups' must be a list"),
        ({"groups": [["a", "b"], "a"]}, r"^cw\.yaml: groups\[1\]: must be a list"),
        ({"groups": [["a", "b"], ["a"]]}, r"^cw\.yaml: groups\[1\]: needs at least two"),
        ({"groups": [["a", 3]]}, r"^cw\.yaml: groups\[0\]\[1\]: must be a non-blank string"),
        ({"groups": [["a", "b"], ["c", "  "]]}, r"^cw\.yaml: groups\[1\]\[1\]"),
    ],
)
def test_crosswalk_errors_name_source_and_group(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_crosswalk(data, "cw.yaml")


# ---------------------------------------------------------------------------- IdentityIndex


def index_with(*tools: tuple[str, dict[str, Any]]) -> IdentityIndex:
    index = IdentityIndex(UPSTREAMS)
    for upstream, tool in tools:
        gid = f"{upstream}:{tool['id']}"
        index.add_tool(gid, keys_for_tool(upstream, tool, upstreams=UPSTREAMS))
    return index


IWC_MAIN = "#workflow/github.com/iwc-workflows/rnaseq-pe/main"
IWC_OTHER = "#workflow/github.com/iwc-workflows/rnaseq-pe/other"


def test_dockstore_and_workflowhub_match_through_their_repo() -> None:
    index = index_with(
        ("dockstore", {"id": IWC_MAIN, "aliases": []}),
        ("workflowhub", {"id": "42", "aliases": ["https://github.com/iwc-workflows/rnaseq-pe"]}),
    )
    assert index.group_of(f"dockstore:{IWC_MAIN}") == {f"dockstore:{IWC_MAIN}", "workflowhub:42"}
    assert index.group_of("workflowhub:42") == {f"dockstore:{IWC_MAIN}", "workflowhub:42"}
    assert len(index) == 2


def test_same_upstream_never_merges_through_a_shared_bare_repo_key() -> None:
    index = index_with(
        ("dockstore", {"id": IWC_MAIN}),
        ("dockstore", {"id": IWC_OTHER}),
        ("workflowhub", {"id": "42", "aliases": ["https://github.com/iwc-workflows/rnaseq-pe"]}),
    )
    # the bare repo key is ambiguous in Dockstore: it links nobody
    assert index.group_of(f"dockstore:{IWC_MAIN}") == {f"dockstore:{IWC_MAIN}"}
    assert index.group_of(f"dockstore:{IWC_OTHER}") == {f"dockstore:{IWC_OTHER}"}
    assert index.group_of("workflowhub:42") == {"workflowhub:42"}
    # ... but lookup by the repo URL lists every workflow of the repo
    assert index.lookup("https://github.com/iwc-workflows/rnaseq-pe") == {
        f"dockstore:{IWC_MAIN}",
        f"dockstore:{IWC_OTHER}",
        "workflowhub:42",
    }


def test_specific_repo_name_key_disambiguates() -> None:
    index = index_with(
        ("dockstore", {"id": IWC_MAIN}),
        ("dockstore", {"id": IWC_OTHER}),
        (
            "workflowhub",
            {"id": "42", "aliases": ["trs://workflow/github.com/iwc-workflows/rnaseq-pe/main"]},
        ),
    )
    assert index.group_of("workflowhub:42") == {"workflowhub:42", f"dockstore:{IWC_MAIN}"}
    assert index.group_of(f"dockstore:{IWC_OTHER}") == {f"dockstore:{IWC_OTHER}"}
    # a specific match wins over the weak ones in lookup
    assert index.lookup(DS_URL + "%23workflow%2Fgithub.com%2Fiwc-workflows%2Frnaseq-pe%2Fmain") == {
        f"dockstore:{IWC_MAIN}",
        "workflowhub:42",
    }


def test_doi_in_two_spellings_across_registries() -> None:
    index = index_with(
        ("dockstore", dockstore_workflow(aliases=["10.5281-zenodo.6511019"])),
        ("yevis", yevis_tool(aliases=["https://doi.org/10.5281/ZENODO.6511019"])),
    )
    expected = {f"dockstore:{DS_MD5}", f"yevis:{YEVIS_ID}"}
    assert index.group_of(f"yevis:{YEVIS_ID}") == expected
    assert index.lookup("DOI: 10.5281/zenodo.6511019") == expected


def test_biotools_curie_across_biocontainers_and_an_alias() -> None:
    index = index_with(
        ("biocontainers", BEDTOOLS),
        ("dockstore", {"id": "quay.io/org/bedtools-wrapper", "aliases": ["bio.tools:BEDTools"]}),
    )
    assert index.group_of("biocontainers:bedtools") == {
        "biocontainers:bedtools",
        "dockstore:quay.io/org/bedtools-wrapper",
    }
    assert index.lookup("https://bio.tools/bedtools") == index.group_of("biocontainers:bedtools")


def test_shared_pmid_is_weak() -> None:
    other = {"id": "bedtools-extra", "identifiers": ["PMID:20110278"]}
    index = index_with(
        ("biocontainers", BEDTOOLS),
        ("biocontainers", other),
        ("dockstore", {"id": "#workflow/github.com/o/r", "aliases": ["pmid:20110278"]}),
    )
    for gid in ("biocontainers:bedtools", "biocontainers:bedtools-extra"):
        assert index.group_of(gid) == {gid}
    # one tool per upstream: then the paper links them
    index.remove_tool("biocontainers:bedtools-extra")
    assert index.group_of("dockstore:#workflow/github.com/o/r") == {
        "dockstore:#workflow/github.com/o/r",
        "biocontainers:bedtools",
    }


def test_crosswalk_group_links_tools_without_shared_keys() -> None:
    index = index_with(
        ("workflowhub", {"id": "599"}),
        ("yevis", yevis_tool()),
    )
    assert index.group_of("workflowhub:599") == {"workflowhub:599"}
    data = {"groups": [["workflowhub:599", f"yevis:{YEVIS_ID}", "10.5281/zenodo.77"]]}
    for group in parse_crosswalk(data, "cw", upstreams=UPSTREAMS):
        index.add_group(group)
    assert index.group_of("workflowhub:599") == {"workflowhub:599", f"yevis:{YEVIS_ID}"}
    # lookup is widened by the crosswalk group
    assert index.lookup("doi:10.5281/zenodo.77") == {"workflowhub:599", f"yevis:{YEVIS_ID}"}
    index.replace_groups([])
    assert index.group_of("workflowhub:599") == {"workflowhub:599"}
    assert index.lookup("doi:10.5281/zenodo.77") == set()


def test_crosswalk_with_weak_entry_still_respects_same_upstream_rule() -> None:
    index = index_with(("dockstore", {"id": IWC_MAIN}), ("dockstore", {"id": IWC_OTHER}))
    index.add_tool("workflowhub:42", set())
    for group in parse_crosswalk(
        {"groups": [["workflowhub:42", "https://github.com/iwc-workflows/rnaseq-pe"]]},
        "cw",
        upstreams=UPSTREAMS,
    ):
        index.add_group(group)
    assert index.group_of("workflowhub:42") == {"workflowhub:42"}
    index.remove_tool(f"dockstore:{IWC_OTHER}")
    assert index.group_of("workflowhub:42") == {"workflowhub:42", f"dockstore:{IWC_MAIN}"}


def test_tool_without_match_is_alone() -> None:
    index = index_with(("dockstore", dockstore_workflow()), ("biocontainers", BEDTOOLS))
    assert index.group_of("biocontainers:bedtools") == {"biocontainers:bedtools"}
    assert index.lookup("nothing-like-this") == set()


def test_weak_key_never_joins_a_group_already_holding_that_upstream() -> None:
    # W and B share a DOI (specific); W and A share only a bare repo (weak): A and B are
    # both Dockstore tools, so the weak key is not applied.
    index = index_with(
        ("dockstore", {"id": "#workflow/github.com/o/a"}),
        ("dockstore", {"id": "#workflow/github.com/o/b", "aliases": ["10.5281-zenodo.9"]}),
        ("workflowhub", {"id": "7", "aliases": ["doi:10.5281/zenodo.9", "git@github.com:o/a.git"]}),
    )
    assert index.group_of("workflowhub:7") == {
        "workflowhub:7",
        "dockstore:#workflow/github.com/o/b",
    }
    assert index.group_of("dockstore:#workflow/github.com/o/a") == {
        "dockstore:#workflow/github.com/o/a"
    }


def test_chain_of_weak_keys_does_not_join_one_upstreams_tools() -> None:
    index = index_with(
        ("dockstore", {"id": "#workflow/github.com/o/r1"}),
        ("dockstore", {"id": "#workflow/github.com/o/r2"}),
        (
            "workflowhub",
            {"id": "7", "aliases": ["https://github.com/o/r1", "https://github.com/o/r2"]},
        ),
    )
    # keys are applied in sorted order: r1 first, then r2 would join two Dockstore tools
    assert index.group_of("workflowhub:7") == {
        "workflowhub:7",
        "dockstore:#workflow/github.com/o/r1",
    }
    assert index.group_of("dockstore:#workflow/github.com/o/r2") == {
        "dockstore:#workflow/github.com/o/r2"
    }


def test_specific_keys_may_join_one_upstreams_tools() -> None:
    index = index_with(
        ("dockstore", {"id": "#workflow/github.com/o/a", "aliases": ["10.5281-zenodo.5"]}),
        ("dockstore", {"id": "#workflow/github.com/o/b", "aliases": ["10.5281/zenodo.5"]}),
    )
    assert len(index.group_of("dockstore:#workflow/github.com/o/a")) == 2


def test_transitivity() -> None:
    index = index_with(
        ("dockstore", {"id": "#workflow/github.com/o/a", "aliases": ["10.5281-zenodo.1"]}),
        ("workflowhub", {"id": "2", "aliases": ["doi:10.5281/zenodo.1", "biotools:tool-x"]}),
        ("biocontainers", {"id": "tool-x", "identifiers": ["biotools:TOOL-X"]}),
        ("yevis", {"id": "u", "aliases": ["https://bio.tools/tool-x"]}),
    )
    everyone = {
        "dockstore:#workflow/github.com/o/a",
        "workflowhub:2",
        "biocontainers:tool-x",
        "yevis:u",
    }
    for gid in everyone:
        assert index.group_of(gid) == everyone


def test_replace_tool_drops_stale_links() -> None:
    index = index_with(
        ("dockstore", dockstore_workflow(aliases=["10.5281-zenodo.6511019"])),
        ("yevis", yevis_tool(aliases=["10.5281/zenodo.6511019"])),
    )
    assert len(index.group_of(f"yevis:{YEVIS_ID}")) == 2
    index.replace_tool(f"dockstore:{DS_MD5}", keys_for_tool("dockstore", dockstore_workflow()))
    assert index.group_of(f"yevis:{YEVIS_ID}") == {f"yevis:{YEVIS_ID}"}
    assert index.group_of(f"dockstore:{DS_MD5}") == {f"dockstore:{DS_MD5}"}
    assert index.lookup("10.5281/zenodo.6511019") == {f"yevis:{YEVIS_ID}"}
    assert "doi:10.5281/zenodo.6511019" not in index.keys_of(f"dockstore:{DS_MD5}")
    assert len(index) == 2


def test_remove_tool() -> None:
    index = index_with(
        ("dockstore", dockstore_workflow(aliases=["10.5281-zenodo.6511019"])),
        ("yevis", yevis_tool(aliases=["10.5281/zenodo.6511019"])),
    )
    assert index.remove_tool(f"dockstore:{DS_MD5}") is True
    assert index.remove_tool(f"dockstore:{DS_MD5}") is False
    assert f"dockstore:{DS_MD5}" not in index
    assert index.group_of(f"yevis:{YEVIS_ID}") == {f"yevis:{YEVIS_ID}"}
    with pytest.raises(KeyError):
        index.group_of(f"dockstore:{DS_MD5}")
    with pytest.raises(KeyError):
        index.keys_of(f"dockstore:{DS_MD5}")
    assert len(index) == 1


def test_keys_of_and_gateway_id_lookup() -> None:
    index = IdentityIndex()
    index.add_tool("workflowhub:599", {"alias:x"})
    assert index.keys_of("workflowhub:599") == {"alias:x", "gw:workflowhub:599"}
    # upstream names are learnt from registered tools
    assert index.lookup("workflowhub:599") == {"workflowhub:599"}
    assert index.lookup("X") == {"workflowhub:599"}
    assert "workflowhub:599" in index


def test_alias_naming_another_gateway_id_links_them() -> None:
    index = index_with(
        ("workflowhub", {"id": "599"}), ("dockstore", {"id": "q", "aliases": ["workflowhub:599"]})
    )
    assert index.group_of("workflowhub:599") == {"workflowhub:599", "dockstore:q"}


@pytest.mark.parametrize("gid", ["nocolon", ":x", "up:"])
def test_add_tool_rejects_bad_gateway_ids(gid: str) -> None:
    with pytest.raises(ValueError, match="upstream"):
        IdentityIndex().add_tool(gid, set())


def test_grouping_is_deterministic_whatever_the_insertion_order() -> None:
    tools: list[tuple[str, dict[str, Any]]] = [
        ("dockstore", {"id": "#workflow/github.com/o/r1"}),
        ("dockstore", {"id": "#workflow/github.com/o/r2"}),
        (
            "workflowhub",
            {"id": "7", "aliases": ["https://github.com/o/r2", "https://github.com/o/r1"]},
        ),
    ]
    a = index_with(*tools)
    b = index_with(*reversed(tools))
    for gid in (
        "workflowhub:7",
        "dockstore:#workflow/github.com/o/r1",
        "dockstore:#workflow/github.com/o/r2",
    ):
        assert a.group_of(gid) == b.group_of(gid)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("localhost:5000/org/img", "image:localhost:5000/org/img"),
        ("registry:5000/org/img:1", "image:registry:5000/org/img"),
    ],
)
def test_image_registries_with_ports(value: str, key: str) -> None:
    assert normalise(value) == {key}


@pytest.mark.parametrize("value", ["up:x/a/b", "a b.c/d/e", "dockstore:#workflow/github.com/o/r"])
def test_strings_that_only_look_like_paths_are_aliases(value: str) -> None:
    assert normalise(value) == {f"alias:{value}"}


TRS_ROOTS = [
    "http://127.0.0.1:9201",
    "https://dockstore.org/api/ga4gh/trs/v2",
    "https://workflowhub.eu/ga4gh/trs/v2",
    "https://TRS.Example.org:443/Base/",
    "https://h:8443/x/tools/y/ga4gh/trs/v2",
    "http://[::1]:8080/ga4gh/trs/v2",
    "https://h:99999/ga4gh/trs/v2",
    "https://tools/a",
    "http://h",
]
TOOL_PARTS = [
    "/tools/T1",
    "/tools/T1/",
    "/tools/%23workflow%2Fgithub.com%2Fo%2Fr",
    "/tools/#workflow/github.com/o/r",
    "/tools/a/versions/1",
    "/tools/a%2Fb/versions/2/CWL/descriptor",
    "/tools/a/tools/b",
    "/tools/a?x=1",
    "/tools/ a",
    "/tools/",
    "/tools",
    "/x/tools/b",
]


@pytest.mark.parametrize("root", TRS_ROOTS)
def test_the_quick_parse_of_plain_trs_urls_reads_them_as_the_full_parse_does(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert keys_module._parse_plain_trs_url(root + "/tools/T1") is not None, "quick road taken"
    values = [root + part for part in TOOL_PARTS]
    quick = [parse_trs_url(v) for v in values]
    monkeypatch.setattr(keys_module, "_parse_plain_trs_url", lambda value: None)
    assert quick == [parse_trs_url(v) for v in values]


def _grouped(index: IdentityIndex) -> list[list[str]]:
    return sorted(sorted(group) for group in index.groups())


ISOLATION_CASES = [
    ("up1:fresh", {"trs:other.example/ga4gh/trs/v2/fresh", "repo:github.com/new/repo"}, True),
    ("up1:noisy", set(), True),
    ("up2:twin", {"doi:10.1234/shared"}, False),  # a specific key another tool holds
    ("up2:weak", {"repo:github.com/org/wf"}, False),  # a weak key another tool holds
    ("up2:walked", {"trs:crosswalk.example/ga4gh/trs/v2/x"}, False),  # named by a crosswalk
    ("up0:a", {"doi:10.9/new"}, False),  # already known: re-adding replaces its keys
]


@pytest.mark.parametrize(("gid", "keys", "isolated"), ISOLATION_CASES)
def test_an_isolated_tool_added_to_built_groups_groups_as_building_again_would(
    gid: str, keys: set[str], isolated: bool
) -> None:
    index = IdentityIndex(["up0", "up1", "up2"])
    index.add_tool("up0:a", {"doi:10.1234/shared", "repo:github.com/org/wf"})
    index.add_tool("up1:b", {"doi:10.1234/shared"})
    index.add_tool("up1:c", {"trs:x.example/ga4gh/trs/v2/c"})
    index.replace_groups([{"trs:crosswalk.example/ga4gh/trs/v2/x", "gw:up1:c"}])
    built = index.copy()
    built.build()
    before = _grouped(built)

    assert built.add_isolated(gid, keys) is isolated
    again = index.copy()
    again.add_tool(gid, keys)
    again.build()
    if isolated:
        assert _grouped(built) == _grouped(again)
        assert built.group_of(gid) == {gid}
        for value in (
            "https://other.example/ga4gh/trs/v2/tools/fresh",
            "https://github.com/new/repo",
        ):
            assert built.lookup(value) == again.lookup(value)
        if keys:
            assert built.lookup("https://other.example/ga4gh/trs/v2/tools/fresh") == {gid}
    else:
        assert _grouped(built) == before, "nothing changed"


@pytest.mark.parametrize("value", ["T00001", "bedtools", "599", "0d2ae4c2-fe4c-48f7", "my_tool"])
def test_ids_of_word_characters_alone_are_only_aliases(value: str) -> None:
    assert normalise(value) == {f"alias:{value.casefold()}"}


def test_a_percent_encoded_doi_is_still_read_as_a_doi() -> None:
    assert normalise("10%2E5281%2Fzenodo%2E123") == {"doi:10.5281/zenodo.123"}
