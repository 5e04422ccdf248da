"""``trs-gateway serve --workers N``: several real processes on one port, under a supervisor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DEMO_REGISTRY, free_port

TOOL = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-wordcount"


def get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a new connection (so the kernel picks a worker afresh)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
        return response.status, response.read()


def health_pid(port: int) -> int:
    status, body = get(port, "/health")
    assert status == 200
    return int(json.loads(body)["pid"])


def wait_listening(
    port: int, process: subprocess.Popen[bytes], log: Path, workers: int = 1
) -> None:
    """Wait until ``workers`` different processes have answered on ``port`` (each worker
    listens on its own socket once it has started, so an early request may find one)."""
    deadline = time.monotonic() + 30
    seen: set[int] = set()
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            seen.add(health_pid(port))
        except OSError:
            time.sleep(0.1)
            continue
        if len(seen) >= workers:
            return
    raise AssertionError(f"{len(seen)} of {workers} workers started listening")


def serve_two_workers(tmp_path: Path, **sections: Any) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``serve --workers 2`` on the demo registry (plus ``sections``): the supervisor, its
    port and its log."""
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "upstreams": [{"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"}],
                "identity": {"harvest": {"enabled": False}},
                **sections,
            }
        )
    )
    port = free_port()
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    argv += ["--port", str(port), "--workers", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    return process, port, log


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_workers_serve_one_port_share_metrics_restart_and_stop_cleanly(
    tmp_path: Path,
) -> None:
    process, port, log_path = serve_two_workers(tmp_path)
    seen: set[int] = set()
    try:
        wait_listening(port, process, log_path)
        health_calls = 1
        deadline = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < deadline:
            seen.add(health_pid(port))
            health_calls += 1
            assert get(port, TOOL)[0] == 200
        assert len(seen) == 2, "two different worker processes answered"
        assert process.pid not in seen, "the supervisor itself serves nothing"

        # Metrics are shared: one scrape, answered by either worker, counts both.
        _, text = get(port, "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text.decode())}
        health_counted = sum(
            s.value
            for s in families["trs_gateway_http_requests"].samples
            if s.name.endswith("_total") and s.labels["route"] == "/health"
        )
        assert health_counted == health_calls

        # A worker that dies is replaced.
        victim = next(iter(seen))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        replacement = None
        while replacement is None and time.monotonic() < deadline:
            try:
                pid = health_pid(port)
            except OSError:
                continue
            if pid not in seen:
                replacement = pid
            time.sleep(0.05)
        assert replacement is not None, "the killed worker was restarted"
        seen.add(replacement)

        # SIGHUP to the supervisor reaches every worker: each reloads the file.
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while log_path.read_text().count("configuration reloaded") < 2:
            assert time.monotonic() < deadline, "both workers reload"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert not [pid for pid in seen if alive(pid)], "no worker outlives the supervisor"
    assert "exited with status -9; restarting it" in output


def test_tokens_and_rate_limits_hold_across_two_workers_sharing_redis(
    tmp_path: Path, redis_url: str
) -> None:
    process, port, log = serve_two_workers(
        tmp_path,
        cache={"redis_url": redis_url, "key_prefix": f"rate{time.time_ns()}"},
        server={
            "rate_limit": {"per_second": 0.01, "burst": 5},
            "access": {"tokens": ["reader-token"]},
        },
    )
    try:
        wait_listening(port, process, log, workers=2)
        statuses, workers = [], set()
        for attempt in range(44):
            headers = {} if attempt % 11 == 0 else {"Authorization": "Bearer reader-token"}
            request = urllib.request.Request(f"http://127.0.0.1:{port}{TOOL}", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    statuses.append(response.status)
                    workers.add(response.headers["X-Request-ID"][:16])
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
                workers.add(error.headers["X-Request-ID"][:16])
        assert len(workers) == 2, "both workers answered (their request ids differ)"
        # Without a token: 401 from either worker; with it, one bucket shared by both.
        assert [statuses[i] for i in range(0, 44, 11)] == [401] * 4
        assert statuses.count(200) == 5, statuses
        assert statuses.count(429) == 35
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
