"""Supervised background work: failures are reported and retried, stop leaves nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.background import Supervised, TaskState


async def wait_for_state(task: Supervised, state: TaskState) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 5
    while task.state is not state:
        assert loop.time() < give_up, f"{task.name} never became {state}"
        await asyncio.sleep(0.005)


async def test_a_failing_step_is_reported_and_retried_until_it_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[float] = []
    reported: list[BaseException] = []
    loop = asyncio.get_running_loop()

    async def step() -> float | None:
        attempts.append(loop.time())
        if len(attempts) < 3:
            raise RuntimeError(f"broken {len(attempts)}")
        return None

    async def on_error(exc: BaseException) -> None:
        reported.append(exc)

    task = Supervised("flaky", step, retry_min=0.05, retry_max=1.0, on_error=on_error)
    with caplog.at_level(logging.ERROR, logger="gateway.background"):
        task.start()
        await wait_for_state(task, TaskState.FAILING)
        assert task.last_error == "RuntimeError: broken 1"
        await wait_for_state(task, TaskState.DONE)
    assert [str(e) for e in reported] == ["broken 1", "broken 2"]
    assert task.failures == 0 and task.last_error is None
    # Backs off: 0.05 s, then twice that.
    assert attempts[1] - attempts[0] >= 0.05
    assert attempts[2] - attempts[1] >= 0.1
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 2, "an unexpected failure is logged with its traceback"
    await task.stop()


async def test_expected_failures_log_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def step() -> float | None:
        raise ConnectionError("upstream away")

    task = Supervised("quiet", step, retry_min=10, expected=(ConnectionError,))
    with caplog.at_level(logging.WARNING, logger="gateway.background"):
        task.start()
        await wait_for_state(task, TaskState.FAILING)
    await task.stop()
    assert [r.getMessage() for r in caplog.records] == ["quiet failed (attempt 1): upstream away"]
    assert not any(r.exc_info for r in caplog.records)


async def test_a_step_runs_again_after_the_delay_it_returns() -> None:
    runs = 0

    async def step() -> float | None:
        nonlocal runs
        runs += 1
        return 0.01 if runs < 4 else None

    task = Supervised("periodic", step)
    task.start()
    await wait_for_state(task, TaskState.DONE)
    assert runs == 4


async def test_stop_cancels_a_running_step_and_leaves_no_task() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def step() -> float | None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return None

    task = Supervised("long", step)
    task.start()
    task.start()  # starting twice keeps one task
    await started.wait()
    assert [t.get_name() for t in asyncio.all_tasks()].count("long") == 1
    await task.stop()
    assert cancelled.is_set()
    assert task.state is TaskState.STOPPED and not task.alive
    assert "long" not in [t.get_name() for t in asyncio.all_tasks()]
