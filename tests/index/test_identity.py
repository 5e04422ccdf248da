"""The identity index of a gateway: grouping stays current as tools pour in."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gateway.index import Identity
from gateway.store import KeySpace, RedisStore


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


async def test_tools_whose_write_to_redis_was_stopped_midway_are_written_by_the_next_flush(
    cache_section: dict[str, Any],
) -> None:
    store = RedisStore(cache_section["redis_url"], KeySpace(cache_section["key_prefix"]), timeout=2)
    identity = Identity(["up0"], [], store)
    try:
        identity.record("up0:a", {"trs:a.example/ga4gh/trs/v2/a"})
        write = store.write_identity
        started = asyncio.Event()

        async def never_answers(tools: Any) -> bool:
            started.set()
            await asyncio.Event().wait()
            return True

        store.write_identity = never_answers  # type: ignore[method-assign]
        flushing = asyncio.ensure_future(identity.flush())
        await started.wait()
        flushing.cancel()  # as stopping the sync task at shutdown does
        with contextlib.suppress(asyncio.CancelledError):
            await flushing
        store.write_identity = write  # type: ignore[method-assign]
        await identity.flush()
        loaded = await store.load_identity()
        assert loaded is not None and set(loaded[0]) == {"up0:a"}
    finally:
        await store.close()
