"""Configuration: pydantic models for the YAML file and the loader.

The file is read with PyYAML, ``${VAR}`` / ``${VAR:-default}`` references in
string values are replaced from the environment, and the tree is validated by
:class:`GatewayConfig`. Unknown keys are errors. Every problem is reported as
``<file>: <key.path>: <what is wrong>`` through :class:`~gateway.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import os
import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .identity.keys import parse_crosswalk

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_BASE_PATHS",
    "AccessConfig",
    "AuthConfig",
    "CacheConfig",
    "EventLoop",
    "FederationConfig",
    "Flavor",
    "GatewayConfig",
    "HarvestConfig",
    "HealthConfig",
    "IdentityConfig",
    "Lifetime",
    "Lifetimes",
    "LogFormat",
    "LoggingConfig",
    "RateLimitConfig",
    "ServerConfig",
    "ServiceInfoConfig",
    "UpstreamConfig",
    "default_config_path",
    "load_config",
]

CONFIG_ENV_VAR = "TRS_GATEWAY_CONFIG"
DEFAULT_BASE_PATHS = ["/ga4gh/trs/v2", "/api/ga4gh/trs/v2", "/api/ga4gh/v2"]
UPSTREAM_NAME = r"^[a-z0-9][a-z0-9._-]*$"
TRS_FILTERS = frozenset(
    {
        "id",
        "alias",
        "toolClass",
        "descriptorType",
        "registry",
        "organization",
        "name",
        "toolname",
        "description",
        "author",
        "checker",
    }
)

RESERVED_NAMES = frozenset({"alias", "curie", "doi", "gw", "image", "repo", "trs"})
"""Identity-key kinds (``doi:…``); an upstream so named would make aliases ambiguous."""
DOCKSTORE_SOURCE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org"})
"""Hosts Dockstore builds ``#workflow/{host}/...`` ids from: an upstream so named would
capture Dockstore's ids (``#workflow/{upstream}/{id}`` is a gateway spelling)."""

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Flavor(StrEnum):
    """How an upstream deviates from the TRS specification."""

    GENERIC = "generic"
    DOCKSTORE = "dockstore"
    WORKFLOWHUB = "workflowhub"
    BIOCONTAINERS = "biocontainers"
    STATIC = "static"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _tokens(values: Any, files: Any, where: str) -> list[str]:
    """The tokens given inline (empty ones dropped) and one per line of each file."""
    found = [str(t).strip() for t in (values or []) if str(t).strip()]
    for path in files or []:
        try:
            lines = Path(str(path)).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"{where}: cannot read {str(path)!r}: {exc.strerror}") from None
        found += [line.strip() for line in lines if line.strip()]
    return found


class AccessConfig(_Strict):
    """Optional bearer tokens (``Authorization: Bearer <token>``).

    With ``tokens`` set, the TRS routes answer only requests carrying one of them
    (or an operator token). With ``operator_tokens`` set, the operator routes
    (``/metrics``, ``/health/ready``, the status page at ``/``) answer only those.
    ``/health`` always answers, for probes. Files hold one token per line
    (Kubernetes secrets mounted as files); tokens are compared in constant time and
    never logged.
    """

    tokens: list[SecretStr] = Field(default_factory=list)
    token_files: list[str] = Field(default_factory=list)
    operator_tokens: list[SecretStr] = Field(default_factory=list)
    operator_token_files: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _read_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            **data,
            "tokens": _tokens(data.get("tokens"), data.get("token_files"), "token_files"),
            "operator_tokens": _tokens(
                data.get("operator_tokens"),
                data.get("operator_token_files"),
                "operator_token_files",
            ),
        }


class RateLimitConfig(_Strict):
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_second``.

    The client is its bearer token when it sends one, else its address (the first
    untrusted address of ``X-Forwarded-For`` when the request comes through one of
    ``server.trusted_proxies``). With Redis configured the buckets are shared by
    every process and replica. ``/health`` is never limited.
    """

    per_second: Annotated[float, Field(gt=0)] | None = None
    """``None``: no limit."""
    burst: Annotated[int, Field(ge=1, le=100_000)] = 50


class EventLoop(StrEnum):
    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


class ServerConfig(_Strict):
    """Where the gateway listens and how it names itself in links."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    public_url: str | None = None
    """Origin (and optional prefix) clients reach the gateway at, used in every
    link the gateway writes; ``None`` derives it from each request's Host."""
    base_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_BASE_PATHS))
    access: AccessConfig = Field(default_factory=AccessConfig)
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    """Origins whose browser pages may read the API; ``*`` for any, ``[]`` for none."""
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    """Proxies whose ``X-Forwarded-For`` names the real client (CIDR ranges)."""
    header_timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0
    """Seconds a new connection has to send a complete request before it is closed."""
    keepalive_timeout: Annotated[float, Field(ge=0, le=3600)] = 15.0
    """Seconds an idle keep-alive connection stays open."""
    max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = 4096
    """Connections open at once (kept below the file-descriptor limit); see
    :mod:`gateway.ops.connections` for what happens beyond."""
    event_loop: EventLoop = EventLoop.AUTO
    """The event loop ``serve`` runs on; ``auto`` is uvloop when it is installed
    (``pip install 'trs-gateway[fast]'``), else asyncio's own."""

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://trs.example.org")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("base_paths")
    @classmethod
    def _check_base_paths(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one base path")
        cleaned = []
        for path in value:
            if not path.startswith("/") or "//" in path or "?" in path or "#" in path:
                raise ValueError(f"{path!r} must be an absolute path like /ga4gh/trs/v2")
            cleaned.append(path.rstrip("/") or "/")
        if "/" in cleaned:
            raise ValueError("the site root cannot be a TRS base path")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("base paths must be unique")
        return cleaned


class AuthConfig(_Strict):
    """Credentials sent to one upstream only."""

    bearer_token: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    def as_headers(self) -> dict[str, str]:
        out = {name: secret.get_secret_value() for name, secret in self.headers.items()}
        if self.bearer_token is not None and self.bearer_token.get_secret_value():
            out["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        return out


class Lifetime(StrEnum):
    """The classes of cached answers that have a lifetime of their own."""

    CONTENT = "content"
    CONTENT_IMMUTABLE = "content_immutable"
    METADATA = "metadata"
    LISTING = "listing"


class Lifetimes(_Strict):
    """Seconds a cached answer counts as fresh, by class of answer."""

    content: Annotated[float, Field(ge=0)] = 3600.0
    """Descriptors, files listings, zips, tests and containerfiles."""
    content_immutable: Annotated[float, Field(ge=0)] = 30 * 86400.0
    """The same for versions marked ``is_production`` or whose files carry checksums."""
    metadata: Annotated[float, Field(ge=0)] = 300.0
    """Tools, version lists and versions."""
    listing: Annotated[float, Field(ge=0)] = 60.0
    """``/tools`` pages and ``/toolClasses``."""


class LifetimeOverrides(_Strict):
    """Per-upstream lifetimes; unset classes use ``cache.lifetimes``."""

    content: Annotated[float | None, Field(ge=0)] = None
    content_immutable: Annotated[float | None, Field(ge=0)] = None
    metadata: Annotated[float | None, Field(ge=0)] = None
    listing: Annotated[float | None, Field(ge=0)] = None


class UpstreamCacheConfig(_Strict):
    lifetimes: LifetimeOverrides = Field(default_factory=LifetimeOverrides)


class UpstreamConfig(_Strict):
    """One upstream TRS registry."""

    name: Annotated[str, Field(pattern=UPSTREAM_NAME, max_length=64)]
    url: str
    flavor: Flavor = Flavor.GENERIC
    timeout: Annotated[float, Field(gt=0, le=600)] = 5.0
    auth: AuthConfig | None = None
    max_connections: Annotated[int, Field(ge=1, le=1000)] = 20
    """Most calls in flight to this upstream; more wait their turn (never counted as its
    failure)."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=2**31)] = 64 * 1024 * 1024
    """Largest answer accepted from this upstream, counted after decompression."""
    allow_redirects_to: list[str] = Field(default_factory=list)
    """Origins (``https://host[:port]``) besides the upstream's own that its redirects
    may lead to. Configured headers are never sent to another origin."""
    local_filters: list[str] = Field(default_factory=list)
    """Filters this upstream ignores or gets wrong; the gateway applies them itself."""
    label: str | None = None
    cache: UpstreamCacheConfig = Field(default_factory=UpstreamCacheConfig)
    harvest: bool = True
    """Whether the identity harvester walks this upstream's catalogue."""

    @field_validator("name")
    @classmethod
    def _not_a_key_kind(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(
                f"{value!r} is reserved: tools' aliases carry identity keys that start with "
                f"{', '.join(sorted(RESERVED_NAMES))}"
            )
        if value in DOCKSTORE_SOURCE_HOSTS:
            raise ValueError(
                f"{value!r} is reserved: Dockstore's ids #workflow/{value}/... would be read "
                f"as this upstream's tools"
            )
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme in ("http", "https"):
            if not parts.netloc:
                raise ValueError("an http(s) URL needs a host")
            if parts.query or parts.fragment:
                raise ValueError("must not carry a query or fragment")
        elif parts.scheme == "file":
            if not parts.path:
                raise ValueError("a file: URL needs a path")
            root = Path(url2pathname(parts.path))
            if not root.is_dir():
                raise ValueError(f"no directory {str(root)!r} (a static TRS tree is a directory)")
            if not (root / "tools" / "index.json").is_file():
                raise ValueError(
                    f"{str(root)!r} holds no tools/index.json: it is not a static TRS tree"
                )
        else:
            raise ValueError("must be an http://, https:// or file: URL")
        return value.rstrip("/")

    @field_validator("allow_redirects_to")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for entry in value:
            parts = urlsplit(entry)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{entry!r} is not an http(s) origin")
            if parts.path.strip("/") or parts.query or parts.fragment:
                raise ValueError(f"{entry!r} must be an origin only (scheme://host[:port])")
            origins.append(f"{parts.scheme}://{parts.netloc}".lower())
        return origins

    @field_validator("local_filters")
    @classmethod
    def _check_filters(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - TRS_FILTERS)
        if unknown:
            raise ValueError(f"unknown filter(s) {unknown}; known: {sorted(TRS_FILTERS)}")
        return value

    @model_validator(mode="after")
    def _static_for_files(self) -> UpstreamConfig:
        if self.url.startswith("file:") and self.flavor is not Flavor.STATIC:
            raise ValueError("a file: URL can only be served with flavor: static")
        return self

    @property
    def is_file(self) -> bool:
        return self.url.startswith("file:")


class FederationConfig(_Strict):
    """How fan-out and merged listings behave."""

    deadline: Annotated[float, Field(gt=0, le=600)] = 3.0
    default_limit: Annotated[int, Field(ge=1, le=10000)] = 100
    max_limit: Annotated[int, Field(ge=1, le=10000)] = 1000
    cursor_secret: SecretStr | None = None
    """Key that signs pagination cursors; replicas must share it. When unset it
    is derived from the upstream list, so replicas with one config agree."""
    circuit_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    """Consecutive failures after which an upstream's circuit opens (it is skipped)."""
    circuit_cooldown: Annotated[float, Field(gt=0, le=86400)] = 30.0
    """Seconds an open circuit skips its upstream before one trial request."""
    budget: Annotated[float, Field(gt=0, le=3600)] = 15.0
    """Seconds a single-resource answer (tool, versions, descriptor, files, zip) may take
    in all, however many upstream calls it needs."""
    max_zip_files: Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Most files a zip the gateway builds itself may hold."""
    max_zip_bytes: Annotated[int, Field(ge=1024, le=2**31)] = 100 * 1024 * 1024
    """Largest zip, counted as its files' uncompressed size."""

    @field_validator("cursor_secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        # ``${TRS_GATEWAY_CURSOR_SECRET:-}`` with the variable unset: derive the key.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value

    @model_validator(mode="after")
    def _limits(self) -> FederationConfig:
        if self.default_limit > self.max_limit:
            raise ValueError("default_limit must not exceed max_limit")
        return self


class CacheConfig(_Strict):
    """The two cache tiers: in-process memory, and Redis shared by every process."""

    redis_url: str | None = None
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")] = "trsgw"
    redis_timeout: Annotated[float, Field(gt=0, le=30)] = 0.25
    """Longest wait for one Redis call; slower counts as a miss and marks Redis degraded."""
    redis_pool_size: Annotated[int, Field(ge=1, le=10000)] = 64
    """Most Redis connections one process opens; more concurrent calls wait for one."""
    memory_entries: Annotated[int, Field(ge=0)] = 10000
    memory_bytes: Annotated[int, Field(ge=0)] = 256 * 1024 * 1024
    lifetimes: Lifetimes = Field(default_factory=Lifetimes)
    stale_while_revalidate: Annotated[float, Field(ge=0)] = 300.0
    """Past its lifetime, an entry is still served this long while one refresh runs."""
    stale_if_error: Annotated[float, Field(ge=0)] = 7 * 86400.0
    """Past its lifetime, an entry is served this long while its upstream fails."""
    lock_lease: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Longest time one process holds the fill lock of a key; others wait at most this."""

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class HealthConfig(_Strict):
    """Background probing of the upstreams, for ``/health/ready``."""

    probe_interval: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Seconds between two probes of one upstream."""
    probe_timeout: Annotated[float, Field(gt=0, le=600)] = 5.0
    latency_window: Annotated[int, Field(ge=1, le=100000)] = 200
    """Recent upstream calls kept per upstream for the p50/p95 latencies."""
    degraded_for: Annotated[float, Field(ge=0, le=86400)] = 300.0
    """Seconds an upstream that answers again stays ``degraded`` after its last failure."""


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class LoggingConfig(_Strict):
    level: Annotated[str, Field(pattern=r"^(?i:debug|info|warning|error)$")] = "info"
    format: LogFormat = LogFormat.JSON
    access_log: bool = True
    """One line per request served."""


class HarvestConfig(_Strict):
    """The background walk of every upstream's catalogue that fills the identity index."""

    enabled: bool = True
    interval: Annotated[float, Field(gt=0)] = 6 * 3600.0
    """Seconds from the end of one harvest of an upstream to the start of the next."""
    pause: Annotated[float, Field(ge=0, le=3600)] = 1.0
    """Seconds between two listing requests to one upstream."""
    page_size: Annotated[int, Field(ge=1, le=1000)] = 100
    start_delay: Annotated[float, Field(ge=0)] = 0.0
    """Seconds after startup before the first harvest begins."""
    retry_min: Annotated[float, Field(gt=0)] = 5.0
    """Seconds before retrying a failed walk; doubles with each failure in a row."""
    retry_max: Annotated[float, Field(gt=0)] = 600.0
    """Longest wait between two attempts at a failing walk."""


class IdentityConfig(_Strict):
    """Matching one tool across registries."""

    crosswalk: str | None = None
    """YAML file of groups of ids, aliases or URLs that name one tool; relative
    paths are read from the configuration file's directory."""
    harvest: HarvestConfig = Field(default_factory=HarvestConfig)


class OrganizationConfig(_Strict):
    name: str = "trs-gateway"
    url: str = "https://github.com/trs-gateway/trs-gateway"


class ServiceInfoConfig(_Strict):
    """What ``/service-info`` says about this deployment."""

    id: str = "org.ga4gh.trs-gateway"
    name: str = "TRS gateway"
    description: str = "A GA4GH TRS v2 endpoint federating several tool registries."
    organization: OrganizationConfig = Field(default_factory=OrganizationConfig)
    contact_url: str | None = None
    documentation_url: str | None = None
    environment: str | None = None


class GatewayConfig(_Strict):
    """The whole configuration file."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    upstreams: list[UpstreamConfig]
    federation: FederationConfig = Field(default_factory=FederationConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    service_info: ServiceInfoConfig = Field(default_factory=ServiceInfoConfig)

    @field_validator("upstreams")
    @classmethod
    def _unique(cls, value: list[UpstreamConfig]) -> list[UpstreamConfig]:
        if not value:
            raise ValueError("needs at least one upstream")
        seen: set[str] = set()
        for upstream in value:
            if upstream.name in seen:
                raise ValueError(f"upstream name {upstream.name!r} is used twice")
            seen.add(upstream.name)
        return value

    def upstream(self, name: str) -> UpstreamConfig | None:
        return next((u for u in self.upstreams if u.name == name), None)

    def lifetime(self, upstream: str | None, kind: Lifetime) -> float:
        """Seconds an answer of class ``kind`` from ``upstream`` stays fresh."""
        entry = self.upstream(upstream) if upstream else None
        override = getattr(entry.cache.lifetimes, kind.value) if entry else None
        if override is not None:
            return float(override)
        return float(getattr(self.cache.lifetimes, kind.value))

    def cursor_key(self) -> bytes:
        """The key that signs pagination cursors."""
        if self.federation.cursor_secret is not None:
            return self.federation.cursor_secret.get_secret_value().encode()
        material = "\n".join(f"{u.name} {u.url} {u.flavor}" for u in self.upstreams)
        return hashlib.sha256(b"trs-gateway cursor\n" + material.encode()).digest()


def default_config_path() -> Path:
    """The configuration shipped inside the package (public registries + demo)."""
    return Path(str(resources.files("gateway") / "defaults" / "gateway.yaml"))


def _interpolate(node: Any, path: str, missing: list[str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of the tree."""
    if isinstance(node, dict):
        return {
            k: _interpolate(v, f"{path}.{k}" if path else str(k), missing) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(v, f"{path}[{i}]", missing) for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if value is None:
                if default is not None:
                    return default
                missing.append(f"{path}: environment variable {name} is not set")
                return ""
            return value

        return _ENV_REF.sub(repl, node)
    return node


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _resolve_file_urls(data: dict[str, Any], base_dir: Path) -> None:
    """Make relative ``file:`` upstream URLs absolute, relative to the config file."""
    for upstream in data.get("upstreams") or []:
        if not isinstance(upstream, dict):
            continue
        url = upstream.get("url")
        if isinstance(url, str) and url.startswith("file:") and not url.startswith("file:/"):
            upstream["url"] = (base_dir / url[len("file:") :]).resolve().as_uri()


def _resolve_crosswalk(data: dict[str, Any], base_dir: Path) -> None:
    identity = data.get("identity")
    if isinstance(identity, dict):
        path = identity.get("crosswalk")
        if isinstance(path, str) and path and not Path(path).is_absolute():
            identity["crosswalk"] = str((base_dir / path).resolve())


def parse_config(text: str, source: str, base_dir: Path | None = None) -> GatewayConfig:
    """Validate configuration text; ``source`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    missing: list[str] = []
    data = _interpolate(data, "", missing)
    if missing:
        raise ConfigError([f"{source}: {m}" for m in missing])
    if base_dir is not None:
        _resolve_file_urls(data, base_dir)
        _resolve_crosswalk(data, base_dir)
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            elif message.startswith("Value error, "):
                message = message[len("Value error, ") :]
            problems.append(f"{source}: {_loc(err['loc'])}: {message}")
        raise ConfigError(problems) from None
    if config.identity.crosswalk is not None:
        load_crosswalk(config, source)
    return config


def load_crosswalk(config: GatewayConfig, source: str = "configuration") -> list[set[str]]:
    """The key groups of ``identity.crosswalk`` (none when unset); a bad file is a ConfigError."""
    path = config.identity.crosswalk
    if path is None:
        return []
    where = f"{source}: identity.crosswalk"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{where}: {path} is not valid YAML: {exc}"]) from None
    try:
        return parse_crosswalk(data, path, upstreams=[u.name for u in config.upstreams])
    except ValueError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None


def load_config(path: str | Path | None = None) -> GatewayConfig:
    """Load the file at ``path``, ``$TRS_GATEWAY_CONFIG``, or the shipped default."""
    if path is None:
        path = os.environ.get(CONFIG_ENV_VAR) or default_config_path()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    return parse_config(text, str(path), base_dir=path.resolve().parent)
