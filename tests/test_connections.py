"""Connection hygiene of ``serve``: an idle flood under a low descriptor limit locks no one out."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import DEMO_REGISTRY, free_port
from tests.test_workers import wait_listening

DESCRIPTOR = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-wordcount/versions/1.0.0/PLAIN_CWL/descriptor"


def timed_get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        response.read()
        return response.status, time.monotonic() - started


@contextmanager
def serving(
    tmp_path: Path, server: dict[str, Any], before: Callable[[], None] | None = None
) -> Iterator[tuple[int, Path]]:
    """``trs-gateway serve`` on the demo registry with this ``server`` section; yields its
    port and log file once it answers. ``before`` runs in the child before it starts."""
    config = tmp_path / "gateway.yaml"
    config.write_text(
        json.dumps(
            {
                "upstreams": [{"name": "demo", "url": DEMO_REGISTRY.as_uri(), "flavor": "static"}],
                "identity": {"harvest": {"enabled": False}},
                "server": server,
            }
        )
    )
    port = free_port()
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "gateway", "serve", "--config", str(config)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=before,
        )  # fmt: skip
    try:
        wait_listening(port, process, log)
        yield port, log
        assert process.poll() is None, log.read_text()
    finally:
        process.terminate()
        process.wait(30)


def low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_an_idle_flood_under_256_descriptors_leaves_health_and_hits_answering(
    tmp_path: Path,
) -> None:
    idle: list[socket.socket] = []
    with serving(tmp_path, {"header_timeout": 30}, low_descriptor_limit) as (port, log):
        try:
            assert timed_get(port, DESCRIPTOR)[0] == 200  # now cached
            for _ in range(1000):
                sock = socket.socket()
                sock.settimeout(5)
                try:
                    sock.connect(("127.0.0.1", port))
                except OSError:
                    sock.close()
                    continue
                idle.append(sock)
            time.sleep(0.5)
            for path in ("/health", DESCRIPTOR, "/health", DESCRIPTOR):
                status, took = timed_get(port, path)
                assert status == 200 and took < 1.0, (path, status, took)
        finally:
            for sock in idle:
                sock.close()
    text = log.read_text()
    assert "out of system resource" not in text
    assert "file-descriptor limit 256" in text


def test_a_half_sent_request_is_closed_after_the_header_timeout(tmp_path: Path) -> None:
    with (
        serving(tmp_path, {"header_timeout": 1}) as (port, _),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no end of headers
        started = time.monotonic()
        assert sock.recv(1024) == b"", "the server closed the connection"
        assert 0.5 < time.monotonic() - started < 5


def test_requests_the_http_parser_refuses_get_a_trs_error_and_one_log_line(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, {}) as (port, log):
        for request in (
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
            b"GET /tools/" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.split()[1] == b"400", head
            assert b"application/json" in head
            error = json.loads(body)
            assert error["code"] == 400 and error["message"].startswith("malformed HTTP")
    text = log.read_text()
    assert text.count("refused a malformed request") == 3
    assert "Traceback" not in text


def test_a_burst_of_connections_opened_together_is_answered_in_full(tmp_path: Path) -> None:
    with serving(tmp_path, {}) as (port, _):
        burst = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
        try:
            for sock in burst:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answers = []
            for sock in burst:
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
                answers.append(data)
        finally:
            for sock in burst:
                sock.close()
    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), [a[:40] for a in answers]
    assert len({a.split(b"X-Request-ID: ")[1][:32] for a in answers}) == 100
