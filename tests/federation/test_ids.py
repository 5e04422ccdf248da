"""Namespaced ids: splitting, and percent-encoding that round-trips."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from gateway.errors import BadRequest
from gateway.ids import ToolRef, gateway_id, quote_segment, split_id

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
