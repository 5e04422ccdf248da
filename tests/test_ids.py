"""Namespaced ids: splitting, and percent-encoding that round-trips."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from gateway.errors import BadRequest
from gateway.ids import (
    ToolRef,
    client_spellings,
    cwltool_split,
    gateway_id,
    quote_segment,
    safe_spelling,
    split_id,
)

UPSTREAMS = {"dockstore", "workflowhub", "bio.containers"}
NASTY = [
    "#workflow/github.com/org/repo",
    "#workflow/github.com/org/repo/with space",
    "#workflow/github.com/org/a+b",
    "#workflow/github.com/org/100%real",
    "quay.io/org/tool:with:colons",
    "名前/ünïcode",
]


def test_known_prefix_is_a_namespace() -> None:
    assert split_id("dockstore:#workflow/github.com/o/r", UPSTREAMS) == ToolRef(
        "dockstore", "#workflow/github.com/o/r"
    )


def test_split_happens_at_the_first_colon_only() -> None:
    assert split_id("dockstore:a:b:c", UPSTREAMS) == ToolRef("dockstore", "a:b:c")


def test_unknown_prefix_leaves_the_id_whole() -> None:
    assert split_id("#workflow/github.com/o/r", UPSTREAMS) == ToolRef(
        None, "#workflow/github.com/o/r"
    )
    assert split_id("zenodo:123", UPSTREAMS) == ToolRef(None, "zenodo:123")


def test_namespace_without_tool_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        split_id("dockstore:", UPSTREAMS)


@pytest.mark.parametrize("bad", ["", "a\x00b", "line\nbreak", "x" * 3000])
def test_impossible_ids_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest):
        split_id(bad, UPSTREAMS)


@pytest.mark.parametrize("tool_id", NASTY)
def test_gateway_ids_round_trip_through_one_path_segment(tool_id: str) -> None:
    segment = quote_segment(gateway_id("dockstore", tool_id))
    assert "/" not in segment and "#" not in segment and "+" not in segment
    assert split_id(unquote(segment), UPSTREAMS) == ToolRef("dockstore", tool_id)


SPELLED = {"demo", "dockstore", "hub"}


@pytest.mark.parametrize(
    ("value", "ref"),
    [
        ("#workflow/demo/demo-cwl-wordcount", ToolRef("demo", "demo-cwl-wordcount")),
        ("#workflow/hub/101", ToolRef("hub", "101")),
        (
            "#workflow/dockstore/#workflow/github.com/org/repo",
            ToolRef("dockstore", "#workflow/github.com/org/repo"),
        ),
        # Dockstore's own ids are left whole (github.com names no upstream).
        ("#workflow/github.com/org/repo", ToolRef(None, "#workflow/github.com/org/repo")),
        ("#workflow/nope/x", ToolRef(None, "#workflow/nope/x")),
        (
            safe_spelling("dockstore", "#workflow/github.com/org/repo:v1"),
            ToolRef("dockstore", "#workflow/github.com/org/repo:v1"),
        ),
        ("demo~!!", ToolRef(None, "demo~!!")),
        ("nope~ZGVtbw", ToolRef(None, "nope~ZGVtbw")),
    ],
)
def test_client_spellings_resolve_to_their_tool(value: str, ref: ToolRef) -> None:
    assert split_id(value, SPELLED) == ref


def test_the_safe_spelling_has_no_slash_or_colon_and_round_trips() -> None:
    for tool_id in ["#workflow/github.com/org/repo:main", "101", "ü/ñ:é~x", "a" * 300]:
        spelled = safe_spelling("dockstore", tool_id)
        assert "/" not in spelled and ":" not in spelled
        assert split_id(spelled, SPELLED) == ToolRef("dockstore", tool_id)
        assert spelled in client_spellings("dockstore", tool_id)


@pytest.mark.parametrize(
    ("tool", "version", "meant"),
    [
        ("demo", "demo-cwl-wordcount:1.0.0", ("demo:demo-cwl-wordcount", "1.0.0")),
        ("demo", "demo-cwl-wordcount", ("demo:demo-cwl-wordcount", "latest")),
        ("hub", "101:1", ("hub:101", "1")),
        (
            "dockstore",
            "#workflow/github.com/o/r:main",
            ("dockstore:#workflow/github.com/o/r", "main"),
        ),
        ("nope", "x:1", None),
        ("demo", ":1", None),
    ],
)
def test_cwltools_split_is_undone(tool: str, version: str, meant: tuple[str, str] | None) -> None:
    assert cwltool_split(tool, version, SPELLED) == meant
