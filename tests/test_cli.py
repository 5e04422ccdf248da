"""The ``trs-gateway`` command as operators run it: a real process on a real port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DEMO_REGISTRY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 20) -> tuple[dict[str, str], object]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return dict(response.headers), json.loads(response.read())


def wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("serve did not start listening")


@pytest.fixture
def offline_config(tmp_path: Path) -> Path:
    """The demo registry plus an upstream that refuses connections, like an offline machine."""
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"""
server: {{port: 1}}
upstreams:
  - {{name: unreachable, url: "http://127.0.0.1:1/ga4gh/trs/v2", flavor: dockstore}}
  - {{name: demo, url: "{DEMO_REGISTRY.as_uri()}", flavor: static}}
federation: {{deadline: 5}}
"""
    )
    return path


DESCRIPTOR = "/ga4gh/trs/v2/tools/demo%3Ademo-cwl-md5sum/versions/1.0.0/PLAIN_CWL/descriptor"


@pytest.mark.parametrize(("how", "loop"), [("flag", "uvloop"), ("env", "asyncio")])
def test_serve_answers_from_the_demo_registry_with_an_upstream_down(
    offline_config: Path, how: str, loop: str, tmp_path: Path
) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
    offline_config.write_text(
        offline_config.read_text().replace("server: {port: 1}", f"server: {{event_loop: {loop}}}")
    )
    env = dict(os.environ)
    if how == "flag":
        argv += ["--config", str(offline_config)]
    else:
        env["TRS_GATEWAY_CONFIG"] = str(offline_config)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(port, process)
        headers, body = get_json(f"http://127.0.0.1:{port}/ga4gh/trs/v2/tools")
        assert isinstance(body, list)
        assert "demo:demo-cwl-wordcount" in {tool["id"] for tool in body}
        assert '"unreachable";reason="unavailable"' in headers["X-TRS-Gateway-Missing"]
        caches = []
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{DESCRIPTOR}") as response:
                caches.append(response.headers["X-Cache"])
        assert caches == ["MISS", "HIT", "HIT"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            log.close()
    output = (tmp_path / "serve.log").read_text()
    assert process.returncode == 0, output
    assert f"Running on http://127.0.0.1:{port} ({loop})" in output
    access = [json.loads(line) for line in output.splitlines() if '"gateway.access"' in line]
    assert [(a["path"], a["status"]) for a in access][:1] == [("/ga4gh/trs/v2/tools", 200)]
    descriptor = [a for a in access if a["path"] == DESCRIPTOR]
    assert [a["cache"] for a in descriptor] == ["MISS", "HIT", "HIT"]
    assert all(a["level"] == "info" and a["route"].endswith("/descriptor") for a in descriptor)
    assert len({a["request_id"] for a in access}) == len(access) == 4


def test_serve_refuses_an_invalid_config_with_status_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("upstreams: []\nextra: 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"{path}: extra: unknown key" in result.stderr
    assert f"{path}: upstreams:" in result.stderr


SECRET = "s3cret-Pa55word"


@pytest.mark.parametrize(
    "command",
    [
        ["check-config", "{config}"],
        ["cache", "stats", "--config", "{config}"],
        ["cache", "purge", "--config", "{config}"],
        ["identity", "stats", "--config", "{config}"],
        ["identity", "lookup", "x", "--config", "{config}"],
        ["identity", "harvest", "--config", "{config}"],
        ["cache", "warm", "--config", "{config}"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_no_command_prints_a_secret(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "upstreams:\n"
        "  - {name: a, url: 'http://127.0.0.1:1', auth: {bearer_token: '${TOKEN}'}}\n"
        "cache: {redis_url: '${REDIS}', redis_timeout: 0.2}\n"
    )
    env = {
        **os.environ,
        "TOKEN": f"tok-{SECRET}",
        "REDIS": f"redis://:{SECRET}@127.0.0.1:1/0",  # nothing listens: commands fail
    }
    argv = [part.replace("{config}", str(config)) for part in command]
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert output.strip(), "the command said something"
    assert SECRET not in output
    if command[0] == "check-config":
        assert "redis://:[redacted]@127.0.0.1:1/0" in output


def test_an_event_loop_that_is_not_installed_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.cli import _new_loop
    from gateway.config import EventLoop
    from gateway.errors import ConfigError

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'trs-gateway\[fast\]'"):
        _new_loop(EventLoop.UVLOOP)
    loop = _new_loop(EventLoop.AUTO)  # falls back to asyncio's own
    try:
        assert type(loop).__module__.startswith("asyncio")
    finally:
        loop.close()
