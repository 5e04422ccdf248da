"""The identity index of a gateway: grouping stays current as tools pour in."""

from __future__ import annotations

from gateway.index import Identity


async def test_tools_sharing_no_key_join_the_grouped_view_without_regrouping() -> None:
    identity = Identity(["up0", "up1"], [], None)
    view = identity.view()
    for i in range(500):
        identity.record(f"up0:t{i}", {f"trs:a.example/ga4gh/trs/v2/t{i}"})
    assert identity.view() is view, "the view took the new tools in"
    assert identity.aliases("up0:t7") == ["trs:a.example/ga4gh/trs/v2/t7"]

    identity.record("up1:u", {"trs:a.example/ga4gh/trs/v2/t7"})  # a twin of up0:t7
    await identity.refresh()
    assert identity.view() is not view
    assert identity.twins("up0:t7") == ["up1:u"]
    assert identity.aliases("up1:u") == ["up0:t7", "trs:a.example/ga4gh/trs/v2/t7"]
