"""Starting a federation, and replacing it when the configuration file changes.

``kill -HUP <pid>`` (or ``kill -HUP`` of the ``serve --workers`` supervisor,
which passes it on to every worker) makes a gateway serving from a file
reload it:

1. the file is read and validated; if it is invalid, every problem is logged
   and the configuration in force stays;
2. a new federation (new upstream clients) is built and installed as the new
   generation: requests arriving from then on use it. The application's
   resources that outlive reloads follow the new configuration: the monitor,
   the probes, the identity index (its upstreams and crosswalk) and the
   harvest (one walk per harvested upstream);
3. the old federation is closed once the requests that started on it are done
   (plus a grace period as long as its longest upstream timeout or fan-out
   deadline, for background cache refreshes), so no request in flight fails.

Settings bound at startup keep their old value until a restart, with a
warning naming each one that changed: ``server.host``, ``server.port``,
``server.base_paths`` and every ``cache.*`` setting but ``cache.lifetimes``.
Everything else takes effect at once: upstreams, ``federation.*``,
``cache.lifetimes``, ``health.*``, ``logging.*``, ``server.public_url``,
``service_info.*``. Health history is kept per upstream name.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import GatewayConfig, load_config, load_crosswalk
from ..errors import ConfigError
from ..federation.core import build_federation
from ..index import Harvester, Identity
from ..runtime import Generation, Runtime
from .logs import configure_logging, logging_configured
from .metrics import Metrics
from .monitor import Monitor
from .probes import Prober

__all__ = ["ReloadSource", "Reloader"]

log = logging.getLogger(__name__)

MAX_DRAIN = 600.0
"""Longest wait for the requests on a replaced generation before it is closed anyway."""
RESTART_SERVER_KEYS = ("host", "port", "base_paths")


@dataclass(frozen=True, slots=True)
class ReloadSource:
    """Where the configuration came from, so it can be read again."""

    path: Path
    server_overrides: dict[str, Any] = field(default_factory=dict)
    """``--host``/``--port`` given on the command line; they win over the file."""
    log_level: str | None = None
    """``--log-level`` given on the command line; it wins over ``logging.level``."""


def with_server_overrides(config: GatewayConfig, overrides: dict[str, Any]) -> GatewayConfig:
    if not overrides:
        return config
    return config.model_copy(update={"server": config.server.model_copy(update=overrides)})


def keep_restart_settings(old: GatewayConfig, new: GatewayConfig) -> GatewayConfig:
    """``new`` with the settings that need a restart put back to ``old``'s, each change logged."""
    changed = [
        f"server.{key}"
        for key in RESTART_SERVER_KEYS
        if getattr(old.server, key) != getattr(new.server, key)
    ]
    changed += [
        f"cache.{key}"
        for key in type(old.cache).model_fields
        if key != "lifetimes" and getattr(old.cache, key) != getattr(new.cache, key)
    ]
    for key in changed:
        log.warning("%s changed; the new value needs a restart, the old one stays in force", key)
    if not changed:
        return new
    server = new.server.model_copy(update={k: getattr(old.server, k) for k in RESTART_SERVER_KEYS})
    cache = old.cache.model_copy(update={"lifetimes": new.cache.lifetimes})
    return new.model_copy(update={"server": server, "cache": cache})


class Reloader:
    """Reloads one application's configuration from its file, one reload at a time."""

    def __init__(
        self,
        source: ReloadSource,
        runtime: Runtime,
        *,
        monitor: Monitor,
        prober: Prober,
        identity: Identity,
        harvester: Harvester,
        metrics: Metrics,
    ) -> None:
        self.source = source
        self.runtime = runtime
        self.monitor = monitor
        self.prober = prober
        self.identity = identity
        self.harvester = harvester
        self.metrics = metrics
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.retiring: dict[asyncio.Task[None], Generation] = {}
        self._signal_installed = False

    def request(self) -> None:
        """Start a reload in the background (the SIGHUP handler)."""
        task = asyncio.get_running_loop().create_task(self.reload(), name="config reload")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def reload(self) -> bool:
        """Reload now; ``True`` if the new configuration is in force."""
        async with self.lock:
            ok = await self._reload()
        self.metrics.reloads.labels("ok" if ok else "error").inc()
        return ok

    async def _reload(self) -> bool:
        path = self.source.path
        old_config = self.runtime.config
        log.info("reloading the configuration from %s", path)
        try:
            loaded = await asyncio.to_thread(load_config, path)
            config = keep_restart_settings(
                old_config, with_server_overrides(loaded, self.source.server_overrides)
            )
            crosswalk = await asyncio.to_thread(load_crosswalk, config)
            federation = build_federation(config, self.identity)
        except ConfigError as exc:
            log.error(
                "configuration reload failed with %d error(s); the configuration in force stays",
                len(exc.problems),
            )
            for problem in exc.problems:
                log.error("configuration error: %s", problem)
            return False
        except Exception:
            log.exception("the new configuration could not be started; the old one stays")
            return False
        if logging_configured():
            configure_logging(config, self.source.log_level)
        self.monitor.watch(federation.upstreams)
        self.monitor.sync(config)
        self.identity.reconfigure([u.name for u in config.upstreams], crosswalk)
        old = self.runtime.install(federation)
        await self.prober.sync()
        await self.harvester.sync(config.identity.harvest, config.upstreams)
        if old is not None:
            self._retire(old)
        before = {u.name for u in old_config.upstreams}
        after = {u.name for u in config.upstreams}
        log.info(
            "configuration reloaded from %s: %d upstream(s); added %s; removed %s",
            path,
            len(config.upstreams),
            sorted(after - before) or "none",
            sorted(before - after) or "none",
        )
        return True

    def _retire(self, generation: Generation) -> None:
        task = asyncio.get_running_loop().create_task(self._close_when_idle(generation))
        self.retiring[task] = generation
        task.add_done_callback(lambda t: self.retiring.pop(t, None))

    async def _close_when_idle(self, generation: Generation) -> None:
        config = generation.config
        grace = max([u.timeout for u in config.upstreams] + [config.federation.deadline])
        try:
            async with asyncio.timeout(MAX_DRAIN):
                await self.runtime.drained(generation)
        except TimeoutError:
            log.warning(
                "%d request(s) still use the replaced configuration after %gs; closing it",
                self.runtime.in_flight(generation),
                MAX_DRAIN,
            )
        await asyncio.sleep(grace)
        await generation.federation.close()

    def listen(self) -> None:
        """Reload on SIGHUP (where this platform lets a process handle it)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request)
            self._signal_installed = True
        except (NotImplementedError, RuntimeError, AttributeError):
            log.info("SIGHUP cannot be handled here; configuration reloads are off")

    async def close(self) -> None:
        """At shutdown: stop listening, stop pending reloads and close replaced
        generations at once."""
        if self._signal_installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        for task in [*self.tasks, *self.retiring]:
            task.cancel()
        generations = list(self.retiring.values())
        await asyncio.gather(*self.tasks, *self.retiring, return_exceptions=True)
        await asyncio.gather(*(g.federation.close() for g in generations), return_exceptions=True)
