"""The ``trs-gateway`` command.

``trs-gateway serve [--config PATH] [--host HOST] [--port PORT] [--workers N]
[--log-level LEVEL]`` runs the gateway (reloading its file on SIGHUP);
``trs-gateway check-config PATH`` validates a file and prints a summary, or
every problem with exit status 2; ``trs-gateway cache purge|warm|stats``
manages the shared cache; ``trs-gateway identity harvest|stats|lookup`` works on
the shared identity index.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from redis.exceptions import RedisError

from . import __version__
from .config import CONFIG_ENV_VAR, EventLoop, GatewayConfig, default_config_path, load_config
from .errors import ConfigError, GatewayError
from .ops.logs import RedactingStream, Redactor, secrets_of

__all__ = ["main"]

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trs-gateway", description="One GA4GH TRS v2 endpoint over many tool registries."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config",
        metavar="PATH",
        help=f"configuration file (default: ${CONFIG_ENV_VAR}, else the shipped default)",
    )
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides server.port)")
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="overrides logging.level",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve the port from N processes sharing Redis (default 1)",
    )
    serve.add_argument("--worker-id", type=int, help=argparse.SUPPRESS)

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("path", metavar="PATH", help="the configuration file to check")

    cache = commands.add_parser("cache", help="manage the shared (Redis) cache")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    purge = actions.add_parser("purge", help="delete cached answers: all, one upstream or tool")
    purge.add_argument("--upstream", metavar="NAME", help="only this upstream's answers")
    purge.add_argument("--tool", metavar="ID", help="only this tool (a namespaced gateway id)")
    warm = actions.add_parser("warm", help="prefetch the files and descriptors of a listing")
    warm.add_argument("--upstream", metavar="NAME", help="only this upstream's tools")
    warm.add_argument("--limit", type=int, metavar="N", help="at most N tools")
    warm.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="requests the warming gateway makes at once (default 4)",
    )
    actions.add_parser("stats", help="entries per class and upstream, Redis memory")
    for sub in (purge, warm, actions.choices["stats"]):
        sub.add_argument("--config", metavar="PATH", help=f"as for serve (${CONFIG_ENV_VAR})")

    identity = commands.add_parser("identity", help="the shared cross-registry identity index")
    steps = identity.add_subparsers(dest="action", required=True, metavar="ACTION")
    harvest = steps.add_parser("harvest", help="walk the catalogues now, with a progress bar")
    harvest.add_argument("--upstream", metavar="NAME", help="only this upstream")
    steps.add_parser("stats", help="index size and each upstream's harvest progress")
    lookup = steps.add_parser("lookup", help="the tools a value names in any spelling")
    lookup.add_argument("value", metavar="VALUE", help="an id, alias, DOI, URL or CURIE")
    for sub in steps.choices.values():
        sub.add_argument("--config", metavar="PATH", help=f"as for serve (${CONFIG_ENV_VAR})")
    return parser


def _cache_summary(config: GatewayConfig) -> str:
    return f"Redis {config.cache.redis_url}" if config.cache.redis_url else "in-process only"


def summary(config: GatewayConfig) -> str:
    lines = [
        f"server: {config.server.host}:{config.server.port}"
        + (f" (public URL {config.server.public_url})" if config.server.public_url else ""),
        f"base paths: {', '.join(config.server.base_paths)}",
        f"federation: deadline {config.federation.deadline:g}s, "
        f"limit {config.federation.default_limit} (max {config.federation.max_limit})",
        f"cache: {_cache_summary(config)}",
        f"upstreams ({len(config.upstreams)}):",
    ]
    for u in config.upstreams:
        auth = ", auth" if u.auth else ""
        lines.append(f"  {u.name:<16} {u.flavor.value:<13} timeout {u.timeout:g}s{auth}  {u.url}")
    return "\n".join(lines)


def _load(path: str | None) -> GatewayConfig | None:
    """The configuration, or ``None`` after printing every problem to stderr.

    Its secrets are learnt by the redactor of this command's output (see :func:`main`).
    """
    try:
        config = load_config(path)
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, RedactingStream):
                stream.redactor.learn(secrets_of(config))
        return config
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} error(s)", file=sys.stderr)
        return None


def _check(path: str) -> int:
    config = _load(path)
    if config is None:
        return EXIT_CONFIG
    print(f"{path}: OK")
    print(summary(config))
    return 0


def _config_path(given: str | None) -> Path:
    """The file ``serve`` reads (and reloads): as :func:`load_config` resolves it."""
    return Path(given or os.environ.get(CONFIG_ENV_VAR) or default_config_path())


GC_THRESHOLDS = (50_000, 20, 100)
"""Allocations between young collections, and young (then middle) collections between
older ones: far fewer collections than Python's default (700, 10, 10)."""


def _tune_collector() -> None:
    """Make the cycle collector cheap for a server that holds large transient answers.

    Everything made at startup is moved out of the collector's sight
    (``gc.freeze``), and collections run less often. With Python's defaults a
    registry answer of 100,000 versions triggered full collections that held
    every request for over half a second; with these, about 0.2 s, most of it
    the JSON parse itself (measured in the README's limits section).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _new_loop(choice: EventLoop) -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``server.event_loop`` asks for."""
    if choice is not EventLoop.ASYNCIO:
        try:
            import uvloop
        except ImportError:
            if choice is EventLoop.UVLOOP:
                raise ConfigError(
                    [
                        "server.event_loop is uvloop, but uvloop is not installed "
                        "(pip install 'trs-gateway[fast]')"
                    ]
                ) from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _run_server(app: web.Application, config: GatewayConfig, *, reuse_port: bool) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, with the connection limits of ``server.*``.

    Raises ``OSError`` when the address cannot be listened on.
    """
    from .app import open_front_door
    from .ops.connections import (
        DESCRIPTOR_MARGIN,
        ConnectionGuard,
        accept_forever,
        listening_socket,
        raise_descriptor_limit,
    )

    server = config.server
    descriptors = raise_descriptor_limit()
    limit = min(server.max_connections, max(16, descriptors - DESCRIPTOR_MARGIN))
    if limit < server.max_connections:
        print(
            f"server.max_connections {server.max_connections} is above what the "
            f"file-descriptor limit {descriptors} allows; using {limit}",
            file=sys.stderr,
        )

    listener = listening_socket(server.host, server.port, reuse_port=reuse_port)

    async def serve() -> None:
        runner = web.AppRunner(
            app, handle_signals=True, access_log=None, keepalive_timeout=server.keepalive_timeout
        )
        await runner.setup()
        assert runner.server is not None  # set up just above
        open_front_door(app, runner.server)
        admit = ConnectionGuard(runner.server, limit, server.header_timeout)
        stopping = asyncio.Event()
        accepting = asyncio.create_task(accept_forever(listener, admit, stopping))
        try:
            kind = type(asyncio.get_running_loop()).__module__.partition(".")[0]
            print(
                f"======== Running on http://{server.host}:{server.port} ({kind}) ========",
                flush=True,
            )
            await asyncio.Event().wait()
        finally:
            stopping.set()
            accepting.cancel()
            await asyncio.gather(accepting, return_exceptions=True)
            listener.close()
            await runner.cleanup()

    loop = _new_loop(server.event_loop)
    main = loop.create_task(serve())
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        loop.run_until_complete(asyncio.gather(main, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .ops.logs import configure_logging
    from .ops.reload import ReloadSource, with_server_overrides
    from .ops.workers import Supervisor, check_port, watch_parent, worker_argv

    path = _config_path(args.config)
    config = _load(str(path))
    if config is None:
        return EXIT_CONFIG
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    config = with_server_overrides(config, overrides)
    configure_logging(config, args.log_level)
    host, port = config.server.host, config.server.port
    if args.workers < 1:
        print("trs-gateway serve: --workers must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    if args.workers > 1 and args.worker_id is None:
        if port == 0:
            print("trs-gateway serve: --workers needs a fixed port, not 0", file=sys.stderr)
            return EXIT_CONFIG
        try:
            check_port(host, port)
        except OSError as exc:
            print(f"trs-gateway serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        print(f"======== {args.workers} workers on http://{host}:{port} ========", flush=True)
        argv = worker_argv(str(path.resolve()), host, port, args.log_level)
        return Supervisor(args.workers, argv).run()
    # Until the application handles SIGHUP itself, an early one must not kill the process.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    app = create_app(config, ReloadSource(path, overrides, args.log_level))
    if args.worker_id is not None:
        app.cleanup_ctx.append(watch_parent(os.getppid()))
    _tune_collector()
    try:
        _run_server(app, config, reuse_port=args.worker_id is not None)
    except ConfigError as exc:
        print(f"trs-gateway serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"trs-gateway serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cache(args: argparse.Namespace) -> int:
    from .commands import cache as operations

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    try:
        if args.action == "purge":
            target = operations.purge_target(config, args.upstream, args.tool)
            deleted = asyncio.run(operations.purge(config, target))
            scope = target.tool or target.upstream or "everything"
            print(f"purged {deleted} entr{'y' if deleted == 1 else 'ies'} ({scope})")
        elif args.action == "warm":
            outcome = asyncio.run(
                operations.warm(config, args.upstream, args.limit, args.concurrency)
            )
            print(", ".join(f"{k}: {v}" for k, v in sorted(outcome.items())))
        else:
            print(json.dumps(asyncio.run(operations.cache_stats(config)), indent=2))
    except (RuntimeError, ValueError) as exc:
        print(f"trs-gateway cache {args.action}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, RedisError) as exc:
        print(f"trs-gateway cache {args.action}: Redis failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _identity(args: argparse.Namespace) -> int:
    from .commands import identity as commands

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    result: object = None
    try:
        if args.action == "harvest":
            asyncio.run(commands.harvest(config, args.upstream))
        elif args.action == "stats":
            result = asyncio.run(commands.stats(config))
        else:
            result = asyncio.run(commands.lookup(config, args.value))
    except commands.HarvestIncomplete as exc:
        for name, why in exc.failed.items():
            print(f"trs-gateway identity harvest: {name} failed: {why}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"trs-gateway identity {args.action}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, RedisError) as exc:
        print(f"trs-gateway identity {args.action}: Redis failed: {exc}", file=sys.stderr)
        return 1
    except GatewayError as exc:
        print(f"trs-gateway identity {args.action}: {exc.message}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; nothing it prints carries a configured secret or a URL password,
    redacted exactly as the server's logs are."""
    redactor = Redactor()
    with contextlib.ExitStack() as restore:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if not isinstance(stream, RedactingStream):
                setattr(sys, name, RedactingStream(stream, redactor))
                restore.callback(setattr, sys, name, stream)
        try:
            return _run(argv)
        except BrokenPipeError:
            # The reader went away (``| head``): say nothing more, as other tools do.
            if sys.__stdout__ is not None:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno())
            return 1


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return _check(args.path)
    if args.command == "cache":
        return _cache(args)
    if args.command == "identity":
        return _identity(args)
    return _serve(args)
