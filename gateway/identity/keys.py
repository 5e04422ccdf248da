"""Identity keys: recognise one tool published by several TRS registries.

The same workflow is often registered in more than one registry (an IWC workflow is in
Dockstore *and* WorkflowHub; a Zenodo DOI is an alias in one place and a record link in
another). No registry publishes a shared id, so the gateway derives **identity keys** from
what each registry does publish and links tools that share a key. This module is pure: no
I/O, no aiohttp, only strings and dicts.

Canonical key forms (a documented contract; other modules may store and compare them)
------------------------------------------------------------------------------------------

``doi:<doi, lowercased>``
    ``doi:10.5281/zenodo.123``. Recognised spellings: ``10.5281/zenodo.123``,
    ``doi:10.5281/zenodo.123``, ``DOI: 10.5281/ZENODO.123``, ``info:doi/…``,
    ``https://doi.org/…``, ``http://dx.doi.org/…``, ``doi.org/…``,
    ``https://zenodo.org/doi/…``, a Zenodo record URL ``https://zenodo.org/records/123``
    (Zenodo mints ``10.5281/zenodo.<record id>``), and Dockstore's alias spelling
    ``10.5281-zenodo.123`` (the first ``/`` after the registrant code written as ``-``). A
    hyphen form is taken for a DOI **only** when it matches ``^10\\.\\d{4,9}-``; everything
    else needs the ``/``. The candidate is URL-decoded once; leading brackets/quotes and
    trailing ``.,;:!?`` and quotes, and unbalanced closing brackets, are stripped.

``repo:<host>/<owner>/<repo>`` and ``repo:<host>/<owner>/<repo>/<name>``
    A source repository, all lowercased, trailing ``.git`` dropped, host without ``www.``.
    From Dockstore ids ``#workflow/github.com/org/repo[/name]`` (also ``#service/``,
    ``#notebook/``, any host, an ``:version`` suffix ignored), Dockstore GitHub-App tool ids
    ``github.com/org/repo/name``, forge URLs ``https://github.com/org/repo(.git)(/tree/…)``,
    ``git@host:org/repo.git``, ``ssh://``, ``git://`` and ``git+https://`` URLs. http(s)
    URLs give a repo key only on a forge host: github.com, gitlab.com, bitbucket.org,
    codeberg.org, gitea.com, or a host whose first label is ``git``, ``gitlab``, ``gitea`` or
    ``forgejo``, or any host when the path ends in ``.git``. Owner and repo are the first
    two path segments (GitLab subgroups are not told apart). A Dockstore id's 4th segment
    (the workflow name) gives the *additional* key ``repo:<host>/<owner>/<repo>/<name>``.

``image:<registry>/<path>``
    A container image, not a source repo: Dockstore tool ids such as ``quay.io/org/tool``
    (a 4th segment is Dockstore's tool name and is not part of the image) and
    ``docker://`` references; tag and digest dropped, lowercased,
    ``registry.hub.docker.com``/``index.docker.io`` spelt ``docker.io``.

``curie:<prefix>:<id>``
    Prefix lowercased and mapped through a small synonym table: ``biotools``/``bio.tools``
    -> ``biotools``, ``pmid``/``pubmed`` -> ``pmid``, ``rrid``. Ids keep their case except
    for ``biotools`` ids, which bio.tools treats case-insensitively (lowercased). Also from
    ``https://bio.tools/<id>`` (and ``/tool/<id>``), ``https://identifiers.org/<curie>`` and
    PubMed URLs. A ``prefix:id`` with any other prefix is an alias.

``trs:<host><base path>/<tool id>``
    A TRS tool URL: host lowercased, scheme dropped (http and https are one), port 80/443
    dropped, base path = the URL path before ``/tools/``, tool id percent-**decoded** once
    (so ``%23workflow%2F…`` and ``#workflow/…`` agree). Version URLs give their tool's key.
    ``trs://<host>/<encoded id>[/<version>]`` URIs resolve per the TRS spec to base path
    ``/ga4gh/trs/v2``. Known Dockstore hosts (:data:`DOCKSTORE_HOSTS`) always use
    Dockstore's ``/api/ga4gh/trs/v2``, which also folds in the beta ``/api/api/ga4gh/v2``
    (TRS issue #220). On a Dockstore host the decoded id also yields its repo/image keys
    (:func:`dockstore_trs_url_keys`). Planemo's shorthand ``trs://workflow/github.com/…``
    is read as a Dockstore ``#workflow/`` id.

``alias:<casefolded text>``
    Any explicit alias, identifier or crosswalk entry that spells none of the above. Dockstore
    compares aliases case-insensitively, hence casefold.

``gw:<upstream>:<tool id>``
    A namespaced gateway id (``dockstore:#workflow/…``), recognised only when the caller
    names the configured upstreams. Upstream names win over every other reading.

Specific and weak keys
----------------------
A key is *weak* (:func:`is_specific` is false) when several distinct tools can honestly
share it:

* ``repo:<host>/<owner>/<repo>`` -- one repo holds many Dockstore workflows;
* ``image:…`` -- one image backs several Dockstore tool names, and is what workflows run;
* ``curie:pmid:…`` -- one paper can describe several tools.

Everything else (DOIs, bio.tools ids, repo+name keys, TRS URLs, aliases, gateway ids) is
*specific*.

Where keys come from (:func:`keys_for_tool`)
--------------------------------------------
Used: the tool's own ``gw:`` key; structural keys spelt by its ``id`` (a bare id such as
``599`` or ``bedtools`` is unique only within its registry, so ids never give alias keys);
every ``aliases`` entry; BioContainers' ``identifiers`` (``biotools:x``, ``PMID:n``) and its
``tool_url`` (structural keys only: a GitHub URL gives a repo key, a homepage gives nothing);
the ``url`` of the tool and of each version when it is a TRS URL (WorkflowHub's HTML page
URLs give nothing). A tool that has no repository key from those gets the bare ``repo:`` key
of every forge repository URL written in its ``description``: WorkflowHub publishes its
source repository nowhere else in TRS. These keys are weak, so a description mentioning
some popular repository links nothing (see the matching rules).

Not used: BioContainers ``contains`` (relatedness, not identity -- TRS PR #92: many entries
can point at the same bio.tools entry), ``checker_url`` (a different tool), DOIs and other URLs in
the description (a cited paper is not the tool), version ``images`` (a workflow's images are
its steps) and ``ToolVersion.id``.

Matching rules (:class:`IdentityIndex`)
---------------------------------------
Tools sharing keys form groups (union-find over keys), built in two phases:

1. Specific keys, and admin crosswalk groups, link unconditionally.
2. Weak keys are applied afterwards, one at a time in sorted order. A weak key is ignored
   if two tools of the **same upstream** carry it (it cannot say which one is meant), and
   ignored if applying it would put two tools of one upstream into one group.

Hence two tools of one upstream are grouped only by a chain of specific evidence: two
Dockstore workflows of one repo never merge through the bare repo key, only through their
repo+name key or another specific key. Crosswalk entries drop their weak keys when the same
entry also yields a specific one (``dockstore:#workflow/github.com/o/r/x`` names one
workflow; its repo is context). The gateway id of a tool is ``<upstream>:<tool id>``
(gateway/federation/ids.py); the part before the first ``:`` is its upstream.

:meth:`IdentityIndex.lookup` answers a query, not a merge: it returns the tools carrying a
specific key of the value if any, else every tool carrying one of its weak keys (a bare repo
URL lists all workflows of that repo). Groups are recomputed lazily, for the whole index,
after any change: simple, and fast enough for tens of thousands of tools.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

__all__ = [
    "DOCKSTORE_HOSTS",
    "IdentityIndex",
    "TrsToolRef",
    "dockstore_trs_url_keys",
    "gw_key",
    "is_specific",
    "keys_for_tool",
    "normalise",
    "parse_crosswalk",
    "parse_doi",
    "parse_trs_url",
]

DOCKSTORE_HOSTS: frozenset[str] = frozenset(
    {"dockstore.org", "www.dockstore.org", "staging.dockstore.org", "dev.dockstore.net"}
)
"""Hosts whose TRS tool ids are Dockstore ids (``#workflow/…``, ``quay.io/…``)."""

_DOCKSTORE_BASE = "/api/ga4gh/trs/v2"
_SPEC_BASE = "/ga4gh/trs/v2"

_FORGE_HOSTS = frozenset({"github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitea.com"})
_FORGE_FIRST_LABELS = frozenset({"git", "gitlab", "gitea", "forgejo"})
_DOCKER_HUB_ALIASES = frozenset(
    {"registry.hub.docker.com", "index.docker.io", "hub.docker.com", "registry-1.docker.io"}
)
_DOCKSTORE_PREFIXES = frozenset({"#workflow", "#service", "#notebook"})
_PLANEMO_TRS_KINDS = frozenset({"workflow", "service", "notebook"})

_CURIE_PREFIXES: Mapping[str, str] = {
    "biotools": "biotools",
    "bio.tools": "biotools",
    "pmid": "pmid",
    "pubmed": "pmid",
    "rrid": "rrid",
}
_CASE_INSENSITIVE_CURIES = frozenset({"biotools"})
_WEAK_CURIE_PREFIXES = ("curie:pmid:",)

_DOI_PREFIX = re.compile(
    r"^(?:doi\s*:\s*|info:doi/|(?:https?://)?(?:dx\.|www\.)?doi\.org/"
    r"|(?:https?://)?(?:www\.|sandbox\.)?zenodo\.org/doi/)",
    re.IGNORECASE,
)
_DOI_SLASH = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$")
_DOI_HYPHEN = re.compile(r"^(10\.\d{4,9})-(\S+)$")
_ZENODO_RECORD = re.compile(
    r"^https?://(?:www\.)?zenodo\.org/records?/(\d+)/?(?:[?#].*)?$", re.IGNORECASE
)
_PLAIN_WORD = re.compile(r"[\w-]+")
"""Letters, digits, ``_`` and ``-`` only (most registries' tool ids): no URL, DOI, CURIE or
Dockstore path can be spelt without a ``.``, ``:``, ``/``, ``#`` or ``%``."""
_CURIE = re.compile(r"^([A-Za-z][A-Za-z0-9._-]*)\s*:\s*(\S+)$")
_SCP_GIT = re.compile(r"^[\w.+-]+@([\w.-]+):(?!//)(.+)$")
_HOST = re.compile(
    r"^(?:(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?|localhost(?::\d+)?|[a-z0-9-]+:\d+)$",
    re.IGNORECASE,
)
_VERSIONS_TAIL = re.compile(r"/versions(?:/|$)")
_TRAILING_PUNCT = ".,;:!?'\""
_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}


# --------------------------------------------------------------------------- small helpers


def gw_key(upstream: str, tool_id: str) -> str:
    """The key of gateway id ``<upstream>:<tool_id>``."""
    return f"gw:{upstream}:{tool_id}"


def is_specific(key: str) -> bool:
    """Whether ``key`` names one tool (True) or may be shared by several (False).

    Weak keys: bare ``repo:<host>/<owner>/<repo>``, every ``image:`` key and
    ``curie:pmid:``. The index applies weak keys only where they are unambiguous.
    """
    if key.startswith("repo:"):
        return key.count("/") >= 3
    if key.startswith("image:"):
        return False
    return not key.startswith(_WEAK_CURIE_PREFIXES)


def _strip_trailing(value: str) -> str:
    """Drop trailing punctuation and unbalanced closing brackets (text around a DOI/URL)."""
    while value:
        last = value[-1]
        unbalanced = last in _BRACKETS and value.count(last) > value.count(_BRACKETS[last])
        if last not in _TRAILING_PUNCT and not unbalanced:
            break
        value = value[:-1]
    return value


def _unwrap(value: str) -> str:
    value = value.strip()
    if len(value) > 1 and value[0] == "<" and value[-1] == ">":
        value = value[1:-1].strip()
    return value


def _host_of(parts: SplitResult) -> str | None:
    """Lowercased host, with its port unless 80/443, or None if the netloc is unusable.

    Ports 80 and 443 are both dropped whatever the scheme: http and https are one, and
    TRS-Filer writes an explicit ``:443``.
    """
    try:
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host if port is None or port in (80, 443) else f"{host}:{port}"


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _is_forge(host: str) -> bool:
    return host in _FORGE_HOSTS or host.split(".", 1)[0] in _FORGE_FIRST_LABELS


def _plain_host(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def _repo_keys(host: str, segments: list[str]) -> set[str]:
    """``repo:`` keys for ``host`` + ``[owner, repo, name…]`` (name optional)."""
    if len(segments) < 2:
        return set()
    owner = segments[0].lower()
    repo = segments[1].lower()
    if repo.endswith(".git"):
        repo = repo[:-4]
    if not owner or not repo:
        return set()
    base = f"repo:{_plain_host(host)}/{owner}/{repo}"
    keys = {base}
    name = "/".join(segments[2:]).lower()
    if name:
        keys.add(f"{base}/{name}")
    return keys


def _image_key(registry: str, path: list[str]) -> str | None:
    if not path:
        return None
    last = path[-1].split("@", 1)[0].split(":", 1)[0]
    path = [*path[:-1], last]
    if not all(path):
        return None
    reg = registry.lower()
    if reg in _DOCKER_HUB_ALIASES:
        reg = "docker.io"
    return "image:" + "/".join([reg, *path]).lower()


def _looks_like_host(segment: str) -> bool:
    """A registry host: a dotted name (port optional), ``localhost[:port]`` or ``name:port``."""
    return _HOST.match(segment) is not None


# --------------------------------------------------------------------------- DOIs


def parse_doi(value: str) -> str | None:
    """The lowercased DOI spelt by ``value`` (without ``doi:``), or None.

    See the module docstring for the accepted spellings, including Dockstore's
    ``10.5281-zenodo.123`` hyphen form (only when it matches ``^10\\.\\d{4,9}-``).
    """
    s = _unwrap(value).lstrip("([{<'\"")
    record = _ZENODO_RECORD.match(s)
    if record:
        return f"10.5281/zenodo.{record.group(1)}"
    m = _DOI_PREFIX.match(s)
    if m:
        rest = s[m.end() :]
        if "://" in m.group(0) or m.group(0).lower().endswith(("doi.org/", "/doi/")):
            rest = re.split(r"[?#]", rest, maxsplit=1)[0]
        s = rest
    s = _strip_trailing(unquote(s).strip())
    if _DOI_SLASH.match(s):
        return s.lower()
    hyphen = _DOI_HYPHEN.match(s)
    if hyphen:
        return f"{hyphen.group(1)}/{hyphen.group(2)}".lower()
    return None


# --------------------------------------------------------------------------- CURIEs


def _curie_key(value: str) -> str | None:
    m = _CURIE.match(value.strip())
    if not m:
        return None
    prefix = _CURIE_PREFIXES.get(m.group(1).lower())
    if prefix is None:
        return None
    ident = m.group(2)
    if prefix in _CASE_INSENSITIVE_CURIES:
        ident = ident.lower()
    return f"curie:{prefix}:{ident}"


# --------------------------------------------------------------------------- Dockstore ids


def _dockstore_id_keys(tool_id: str) -> set[str]:
    """repo/image keys of a Dockstore-shaped id, or nothing if it is not one.

    ``#workflow/host/org/repo[/name][:version]`` (also ``#service``, ``#notebook``, any
    host) -> repo keys. A bare ``host/org/name[/toolname]`` with a host-like first segment
    -> repo keys on a forge host (GitHub-App tools), else an image key.
    """
    s = tool_id.strip()
    head, _, rest = s.partition("/")
    if head.lower() in _DOCKSTORE_PREFIXES:
        rest = rest.split(":", 1)[0]
        segs = _segments(rest)
        if len(segs) < 3:
            return set()
        return _repo_keys(segs[0], segs[1:])
    if s.startswith("#") or not _looks_like_host(head) or not rest:
        return set()
    rest = rest.split(":", 1)[0].split("@", 1)[0]
    segs = _segments(rest)
    if len(segs) < 2:
        return set()
    host = head.lower()
    if _is_forge(_plain_host(host)):
        return _repo_keys(host, segs)
    key = _image_key(host, segs[:2])
    return {key} if key else set()


# --------------------------------------------------------------------------- TRS URLs


@dataclass(frozen=True, slots=True)
class TrsToolRef:
    """A TRS tool reference: host (with non-default port), base path, decoded tool id."""

    host: str
    base_path: str
    tool_id: str

    @property
    def key(self) -> str:
        """The canonical ``trs:`` key."""
        return f"trs:{self.host}{self.base_path}/{self.tool_id}"


def _tools_split(path: str) -> tuple[str, str] | None:
    """Split a URL path at its ``/tools/`` route: (base path, rest)."""
    start = path.find("/ga4gh/")
    idx = path.find("/tools/", max(start, 0))
    if idx < 0 and path.endswith("/tools"):
        idx = len(path) - len("/tools")
    if idx < 0:
        return None
    return path[:idx], path[idx + len("/tools/") :]


def parse_trs_url(value: str) -> TrsToolRef | None:
    """Parse an http(s) TRS tool/version URL or a ``trs://`` URI; None otherwise.

    The tool id is the path part after ``/tools/`` up to ``/versions`` (so both a
    percent-encoded id and, leniently, an unencoded one work), decoded once. An unencoded
    ``#`` (``…/tools/#workflow/…``) arrives as a URL fragment and is put back.
    """
    quick = _parse_plain_trs_url(value)
    if quick is not None:
        return quick if quick is not _NOT_TRS else None
    s = _unwrap(value)
    try:
        parts = urlsplit(s)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "trs":
        return _parse_trs_uri(parts)
    if scheme not in ("http", "https"):
        return None
    host = _host_of(parts)
    if host is None:
        return None
    split = _tools_split(parts.path)
    if split is None:
        return None
    base, rest = split
    if parts.fragment and not rest.strip("/"):
        rest = "#" + parts.fragment
    tool_id = _tool_id_in(rest)
    if not tool_id:
        return None
    base = base.rstrip("/")
    if host in DOCKSTORE_HOSTS:
        base = _DOCKSTORE_BASE
    return TrsToolRef(host, base, tool_id)


def _tool_id_in(rest: str) -> str:
    """The decoded tool id that ``rest`` (what follows ``/tools/``) starts with, up to
    ``/versions``."""
    rest = rest.rstrip("/")
    tail = _VERSIONS_TAIL.search(rest)
    if tail:
        rest = rest[: tail.start()]
    return unquote(rest)


_NOT_TRS = TrsToolRef("", "", "")
"""What :func:`_parse_plain_trs_url` gives for a URL that is certainly not a TRS tool URL."""


def _parse_plain_trs_url(value: str) -> TrsToolRef | None:
    """The quick road of :func:`parse_trs_url` for the common plain URL (``http(s)``, no
    query, fragment, space or control character; a listing has thousands of them, one
    registry's base each): the part before the tool id is parsed once per base. ``None``
    when the value is not plain (the full parse decides), :data:`_NOT_TRS` when it is
    plain but names no TRS tool."""
    if not value.startswith(("https://", "http://")) or not value.isprintable():
        return None
    if " " in value or "?" in value or "#" in value:
        return None
    path = value.find("/", value.find("//") + 2)
    if path < 0:
        return None
    start = value.find("/ga4gh/", path)
    idx = value.find("/tools/", max(start, path))
    if idx < 0:
        return None  # ends with ``/tools`` or has no tool route: rare, the full parse decides
    base = _plain_base(value[:idx])
    if base is None:
        return _NOT_TRS
    tool_id = _tool_id_in(value[idx + len("/tools/") :])
    if not tool_id:
        return _NOT_TRS
    return TrsToolRef(base[0], base[1], tool_id)


@functools.lru_cache(maxsize=1024)
def _plain_base(prefix: str) -> tuple[str, str] | None:
    """Host and base path of a TRS API root written as ``prefix`` (what precedes
    ``/tools/``), exactly as the full parse reads them; ``None`` if it is no TRS root."""
    ref = parse_trs_url(f"{prefix}/tools/x?")  # the ``?`` keeps this off the quick road
    return None if ref is None else (ref.host, ref.base_path)


def _parse_trs_uri(parts: SplitResult) -> TrsToolRef | None:
    netloc = parts.netloc.lower()
    if netloc in _PLANEMO_TRS_KINDS:
        # planemo's shorthand trs://workflow/github.com/org/repo/name = Dockstore id
        path = parts.path.strip("/")
        if not path:
            return None
        return TrsToolRef("dockstore.org", _DOCKSTORE_BASE, f"#{netloc}/{unquote(path)}")
    host = _host_of(parts)
    if host is None:
        return None
    raw = parts.path.lstrip("/")
    if parts.fragment and not raw:
        tool_id = "#" + unquote(parts.fragment)
    else:
        tool_id = unquote(raw.split("/", 1)[0])
    if not tool_id:
        return None
    base = _DOCKSTORE_BASE if host in DOCKSTORE_HOSTS else _SPEC_BASE
    return TrsToolRef(host, base, tool_id)


def dockstore_trs_url_keys(value: str, *, hosts: Collection[str] = DOCKSTORE_HOSTS) -> set[str]:
    """repo (or image) keys of a TRS URL/URI whose host is a Dockstore.

    ``https://dockstore.org/api/ga4gh/trs/v2/tools/%23workflow%2Fgithub.com%2Fo%2Fr%2Fx``
    -> ``{repo:github.com/o/r, repo:github.com/o/r/x}``. Empty for other hosts and for
    ids that are not Dockstore-shaped.
    """
    ref = parse_trs_url(value)
    if ref is None or ref.host not in hosts:
        return set()
    return _dockstore_id_keys(ref.tool_id)


# --------------------------------------------------------------------------- other URLs


def _url_keys(s: str) -> set[str] | None:
    """Keys of an absolute URL; None if ``s`` is not one this module reads as a URL."""
    if ":" not in s:  # every URL and scp-like git address has one; ids mostly do not
        return None
    scp = _SCP_GIT.match(s)
    if scp and "://" not in s:
        return _repo_keys(scp.group(1), _segments(scp.group(2))[:2])
    try:
        parts = urlsplit(s)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "trs":
        ref = parse_trs_url(s)
        return set() if ref is None else {ref.key, *dockstore_trs_url_keys(s)}
    if scheme == "docker":
        segs = _segments(parts.netloc + parts.path)
        if not segs:
            return set()
        if len(segs) < 2 or not _looks_like_host(segs[0]):
            segs = ["docker.io", *(segs if len(segs) > 1 else ["library", *segs])]
        key = _image_key(segs[0], segs[1:])
        return {key} if key else set()
    is_git = scheme in ("ssh", "git") or scheme.startswith("git+")
    if not is_git and scheme not in ("http", "https"):
        return None
    host = _host_of(parts)
    if host is None:
        return set()
    host = _plain_host(host.split(":", 1)[0] if is_git else host)
    segs = _segments(parts.path)
    if is_git or _is_forge(host) or (len(segs) == 2 and segs[1].lower().endswith(".git")):
        return _repo_keys(host, segs[:2])
    doi = parse_doi(s)
    if doi:
        return {f"doi:{doi}"}
    if host == "bio.tools":
        ids = [x for x in segs if x.lower() not in ("api", "tool", "t")]
        return {f"curie:biotools:{unquote(ids[0]).lower()}"} if ids else set()
    if host == "identifiers.org" and segs:
        curie = unquote(":".join(segs) if len(segs) == 2 else "/".join(segs))
        key = _curie_key(curie)
        if key:
            return {key}
        doi = parse_doi(curie)
        return {f"doi:{doi}"} if doi else set()
    if host in ("pubmed.ncbi.nlm.nih.gov", "ncbi.nlm.nih.gov"):
        digits = [x for x in segs if x.isdigit()]
        return {f"curie:pmid:{digits[0]}"} if digits else set()
    ref = parse_trs_url(s)
    if ref is not None:
        return {ref.key, *dockstore_trs_url_keys(s)}
    return set()


# --------------------------------------------------------------------------- normalise


def _split_gateway_id(value: str, upstreams: Collection[str]) -> tuple[str, str] | None:
    prefix, sep, rest = value.partition(":")
    if sep and rest and prefix in upstreams:
        return prefix, rest
    return None


def _structural_keys(value: str) -> set[str]:
    """Every key ``value`` spells except ``gw:`` and the ``alias:`` fallback."""
    s = _unwrap(value)
    if not s or _PLAIN_WORD.fullmatch(s):
        return set()
    url_keys = _url_keys(_strip_trailing(s) if "://" in s else s)
    if url_keys is not None:
        return url_keys
    doi = parse_doi(s)
    if doi:
        return {f"doi:{doi}"}
    curie = _curie_key(s)
    if curie:
        return {curie}
    return _dockstore_id_keys(s)


def normalise(value: str, *, upstreams: Collection[str] = ()) -> set[str]:
    """Every identity key one string yields (empty only for a blank string).

    A namespaced gateway id (its prefix is one of ``upstreams``) gives its ``gw:`` key plus
    the structural keys of the upstream id. Otherwise the string's structural keys (a TRS URL
    may give a ``trs:`` key and repo keys), or, when it spells none, ``alias:<casefold>``.
    """
    s = _unwrap(value)
    if not s:
        return set()
    gid = _split_gateway_id(s, upstreams)
    if gid is not None:
        return {gw_key(*gid), *_structural_keys(gid[1])}
    return _structural_keys(s) or {f"alias:{s.casefold()}"}


# --------------------------------------------------------------------------- tools


def _strings(value: Any) -> Iterator[str]:
    """Non-empty strings of a JSON value that should be a list of strings (lenient)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str) and item.strip():
                yield item


def _trs_url_keys(value: Any) -> set[str]:
    if not isinstance(value, str):
        return set()
    ref = parse_trs_url(value)
    if ref is None:
        return set()
    if ref.host in DOCKSTORE_HOSTS:  # what dockstore_trs_url_keys gives, parsed once
        return {ref.key, *_dockstore_id_keys(ref.tool_id)}
    return {ref.key}


_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'()\[\]]+")


def _description_repo_keys(text: Any) -> set[str]:
    """Weak repository keys of forge URLs written in free text (WorkflowHub's only signal)."""
    if not isinstance(text, str):
        return set()
    keys: set[str] = set()
    for url in _URL_IN_TEXT.findall(text):
        keys |= {k for k in _structural_keys(url) if k.startswith("repo:") and not is_specific(k)}
    return keys


def keys_for_tool(
    upstream: str, tool: Mapping[str, Any], *, upstreams: Collection[str] = ()
) -> set[str]:
    """Every identity key of one raw upstream TRS ``Tool`` JSON object.

    See the module docstring for which fields are used and why the others are not.
    Raises ``ValueError`` when the tool has no string ``id``.
    """
    tool_id = tool.get("id")
    if not isinstance(tool_id, str) or not tool_id:
        raise ValueError(f"upstream {upstream!r}: tool without a string id")
    names = {*upstreams, upstream}
    keys = {gw_key(upstream, tool_id)}
    keys |= _structural_keys(tool_id)
    for text in _strings(tool.get("aliases")):
        keys |= normalise(text, upstreams=names)
    for text in _strings(tool.get("identifiers")):
        keys |= normalise(text, upstreams=names)
    for text in _strings(tool.get("tool_url")):
        keys |= _structural_keys(text)
    url = tool.get("url")
    url_keys = _trs_url_keys(url)
    keys |= url_keys
    # A version URL below a TRS tool URL names that same tool: its keys are known.
    below = f"{url}/versions/" if url_keys and isinstance(url, str) else None
    versions = tool.get("versions")
    if isinstance(versions, list):
        for version in versions:
            if isinstance(version, Mapping):
                version_url = version.get("url")
                known = below is not None and isinstance(version_url, str)
                if known and str(version_url).startswith(str(below)):
                    continue
                keys |= _trs_url_keys(version_url)
    if not any(k.startswith("repo:") for k in keys):
        keys |= _description_repo_keys(tool.get("description"))
    return keys


# --------------------------------------------------------------------------- crosswalk


def _entry_keys(entry: str, upstreams: Collection[str]) -> set[str]:
    keys = normalise(entry, upstreams=upstreams)
    specific = {k for k in keys if is_specific(k)}
    return specific or keys


def parse_crosswalk(data: Any, source: str, *, upstreams: Collection[str] = ()) -> list[set[str]]:
    """Key sets of an admin crosswalk file (already parsed from YAML).

    Shape: ``{"groups": [[entry, entry, …], …]}``; each entry is a gateway id (pass
    ``upstreams`` so ``dockstore:#workflow/…`` is read as one), alias, DOI, CURIE or URL,
    and each group lists spellings of one tool. An empty file (None) or missing/null
    ``groups`` means no groups. Each entry contributes its specific keys, or its weak keys
    when it has no specific one. Raises ``ValueError`` naming ``source`` (and the group
    index) on any other shape: unknown top-level keys, a group that is not a list of at
    least two non-blank strings.
    """
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: crosswalk must be a mapping with a 'groups' list")
    unknown = sorted(str(k) for k in data if k != "groups")
    if unknown:
        raise ValueError(f"{source}: unknown crosswalk keys: {', '.join(unknown)}")
    groups = data.get("groups")
    if groups is None:
        return []
    if not isinstance(groups, list):
        raise ValueError(f"{source}: 'groups' must be a list of lists")
    result: list[set[str]] = []
    for index, group in enumerate(groups):
        where = f"{source}: groups[{index}]"
        if not isinstance(group, list):
            raise ValueError(f"{where}: must be a list of ids, aliases or URLs")
        if len(group) < 2:
            raise ValueError(f"{where}: needs at least two entries to link anything")
        keys: set[str] = set()
        for pos, entry in enumerate(group):
            if not isinstance(entry, str) or not entry.strip():
                raise ValueError(f"{where}[{pos}]: must be a non-blank string")
            keys |= _entry_keys(entry, upstreams)
        result.append(keys)
    return result


# --------------------------------------------------------------------------- index


def _upstream_of(gid: str) -> str:
    return gid.partition(":")[0]


class _UnionFind:
    """Union-find over keys; each root knows the gateway ids in its component."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}

    def find(self, node: str) -> str:
        root = self.parent.setdefault(node, node)
        while self.parent[root] != root:
            root = self.parent[root]
        while node != root:  # path compression
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members.get(ra, ())) < len(self.members.get(rb, ())):
            ra, rb = rb, ra
        self.parent[rb] = ra
        moved = self.members.pop(rb, None)
        if moved:
            self.members.setdefault(ra, set()).update(moved)

    def tools(self, root: str) -> set[str]:
        return self.members.get(root, set())


class IdentityIndex:
    """In-memory identity groups over gateway ids (pure; rebuilt lazily on change).

    Tools are registered with their keys (:func:`keys_for_tool`); each tool also carries
    its own ``gw:`` key, so crosswalk groups and aliases naming a gateway id link to it.
    Grouping follows the two-phase rule in the module docstring. Re-adding a tool replaces
    its keys, so a re-harvested tool leaves no stale links.
    """

    def __init__(self, upstreams: Collection[str] = ()) -> None:
        self._upstreams: set[str] = set(upstreams)
        self._tools: dict[str, frozenset[str]] = {}
        self._holders: dict[str, set[str]] = {}
        self._groups: list[frozenset[str]] = []
        self._uf: _UnionFind | None = None

    # -- mutation

    def add_tool(self, gid: str, keys: Iterable[str]) -> None:
        """Register (or re-register, replacing old keys) tool ``gid`` with ``keys``."""
        upstream, sep, tool_id = gid.partition(":")
        if not (upstream and sep and tool_id):
            raise ValueError(f"gateway id {gid!r} is not '<upstream>:<tool id>'")
        if gid in self._tools:
            self.remove_tool(gid)
        own = frozenset({*keys, gw_key(upstream, tool_id)})
        self._tools[gid] = own
        for key in own:
            self._holders.setdefault(key, set()).add(gid)
        self._uf = None

    def replace_tool(self, gid: str, keys: Iterable[str]) -> None:
        """Replace tool ``gid``'s keys (same as :meth:`add_tool`; reads better on re-harvest)."""
        self.add_tool(gid, keys)

    def remove_tool(self, gid: str) -> bool:
        """Forget tool ``gid``; False if it was not registered."""
        keys = self._tools.pop(gid, None)
        if keys is None:
            return False
        for key in keys:
            holders = self._holders.get(key)
            if holders is not None:
                holders.discard(gid)
                if not holders:
                    del self._holders[key]
        self._uf = None
        return True

    def add_group(self, keys: Iterable[str]) -> None:
        """Add one crosswalk group: keys an admin says name the same tool."""
        group = frozenset(keys)
        if group:
            self._groups.append(group)
            self._uf = None

    def replace_groups(self, groups: Iterable[Iterable[str]]) -> None:
        """Replace every crosswalk group (a reloaded crosswalk file)."""
        self._groups = [g for g in (frozenset(k) for k in groups) if g]
        self._uf = None

    # -- queries

    def __len__(self) -> int:
        return len(self._tools)

    def tools(self) -> list[str]:
        """Every registered gateway id."""
        return list(self._tools)

    def groups(self) -> list[set[str]]:
        """Every identity group (sets of gateway ids), singletons included."""
        uf = self._index()
        roots: dict[str, set[str]] = {}
        for gid in self._tools:
            upstream, _, tool_id = gid.partition(":")
            roots.setdefault(uf.find(gw_key(upstream, tool_id)), set()).add(gid)
        return list(roots.values())

    def crosswalk_size(self) -> int:
        """How many admin crosswalk groups are loaded."""
        return len(self._groups)

    def add_isolated(self, gid: str, keys: Iterable[str]) -> bool:
        """Add new tool ``gid`` to groups already built, as a group of its own, when that is
        what building them again would give: none of its keys is held by a tool or named
        by a crosswalk group. ``False`` (and nothing changed) otherwise."""
        uf = self._uf
        if uf is None or gid in self._tools:
            return False
        upstream, sep, tool_id = gid.partition(":")
        if not (upstream and sep and tool_id):
            return False
        node = gw_key(upstream, tool_id)
        own = frozenset({*keys, node})
        if any(key in self._holders or key in uf.parent for key in own):
            return False
        self._tools[gid] = own
        for key in own:  # one new component, rooted at the tool's own key
            self._holders[key] = {gid}
            uf.parent[key] = node
        uf.members[node] = {gid}
        return True

    def copy(self) -> IdentityIndex:
        """An independent index with the same tools and crosswalk groups (groups not built)."""
        other = IdentityIndex(self._upstreams)
        other._tools = dict(self._tools)
        other._holders = {key: set(gids) for key, gids in self._holders.items()}
        other._groups = list(self._groups)
        return other

    def build(self) -> None:
        """Compute the groups now (otherwise done by the first question that needs them)."""
        self._index()

    def __contains__(self, gid: object) -> bool:
        return gid in self._tools

    def keys_of(self, gid: str) -> set[str]:
        """The keys tool ``gid`` was registered with, plus its ``gw:`` key."""
        return set(self._tools[gid])

    def alias_keys(self, gid: str) -> list[str]:
        """The keys of ``gid`` that are not gateway ids (``gw:``), sorted; KeyError if unknown."""
        return sorted(k for k in self._tools[gid] if not k.startswith("gw:"))

    def group_of(self, gid: str) -> set[str]:
        """Gateway ids grouped with ``gid`` (always includes ``gid``); KeyError if unknown."""
        if gid not in self._tools:
            raise KeyError(gid)
        uf = self._index()
        upstream, _, tool_id = gid.partition(":")
        return set(uf.tools(uf.find(gw_key(upstream, tool_id))))

    def lookup(self, value: str) -> set[str]:
        """Gateway ids carrying a key of ``normalise(value)``.

        The value's keys are first widened by every crosswalk group containing one of them.
        Tools matching a specific key are returned if there are any; otherwise the tools
        matching a weak key (a bare repo URL lists all workflows of that repo). Not expanded
        to groups: call :meth:`group_of` on the results for that.
        """
        names = self._upstreams | {_upstream_of(g) for g in self._tools}
        keys = normalise(value, upstreams=names)
        for group in self._groups:
            if not keys.isdisjoint(group):
                keys |= group
        specific: set[str] = set()
        weak: set[str] = set()
        for key in keys:
            holders = self._holders.get(key, set())
            (specific if is_specific(key) else weak).update(holders)
        return specific or weak

    # -- grouping

    def _index(self) -> _UnionFind:
        if self._uf is None:
            self._uf = self._build()
        return self._uf

    def _build(self) -> _UnionFind:
        uf = _UnionFind()
        # Phase 1: specific keys and crosswalk groups link unconditionally.
        for gid in sorted(self._tools):
            upstream, _, tool_id = gid.partition(":")
            node = gw_key(upstream, tool_id)
            uf.members[uf.find(node)] = {gid}
        for gid in sorted(self._tools):
            upstream, _, tool_id = gid.partition(":")
            node = gw_key(upstream, tool_id)
            for key in self._tools[gid]:
                if is_specific(key):
                    uf.union(node, key)
        for group in self._groups:
            first, *rest = sorted(group)
            for key in rest:
                uf.union(first, key)
        # Phase 2: weak keys, only where unambiguous and never joining one upstream's tools.
        for key in sorted(k for k in self._holders if not is_specific(k)):
            holders = self._holders[key]
            ups = [_upstream_of(h) for h in holders]
            if len(set(ups)) < len(ups):
                continue
            roots = {uf.find(key)}
            for gid in holders:
                upstream, _, tool_id = gid.partition(":")
                roots.add(uf.find(gw_key(upstream, tool_id)))
            seen: set[str] = set()
            clash = False
            for root in roots:
                root_ups = {_upstream_of(g) for g in uf.tools(root)}
                if not seen.isdisjoint(root_ups):
                    clash = True
                    break
                seen |= root_ups
            if clash:
                continue
            first, *rest = sorted(roots)
            for root in rest:
                uf.union(first, root)
        return uf
