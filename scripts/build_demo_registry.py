#!/usr/bin/env python3
"""Generate the offline demo TRS registry (static layout) from its sources.

Reads ``gateway/defaults/demo-src/registry.yaml`` and the workflow files next to it
(``demo-src/<tool id>/<version id>/<relative path>``) and writes the static GA4GH TRS
2.0.1 tree to ``gateway/defaults/demo-registry/``: one ``index.json`` per route, e.g.
``tools/{id}/versions/{vid}/{TYPE}/descriptor/tools/wc.cwl/index.json``.

The output directory is deleted and rewritten on every run, so stale files disappear.
The output is byte-for-byte reproducible (sorted keys, 2-space indent, trailing newline).

Usage:
    python scripts/build_demo_registry.py            # (re)generate the tree
    python scripts/build_demo_registry.py --check    # exit 1 if the tree is out of date

Only the standard library and PyYAML are used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = REPO_ROOT / "gateway" / "defaults" / "demo-src"
DEFAULT_OUT = REPO_ROOT / "gateway" / "defaults" / "demo-registry"

REGISTRY_FILE = "registry.yaml"
INDEX = "index.json"
CHECKSUM_TYPE = "sha-256"

DESCRIPTOR_TYPES = frozenset({"CWL", "WDL", "NFL", "GALAXY"})
FILE_TYPES = frozenset(
    {"PRIMARY_DESCRIPTOR", "SECONDARY_DESCRIPTOR", "TEST_FILE", "CONTAINERFILE", "OTHER"}
)
# Ids are kept simple so that percent-encoding them is a no-op.
ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
PATH_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")

Json = Any
Tree = dict[str, bytes]  # POSIX path relative to the output root -> file bytes


class RegistryError(Exception):
    """The sources in demo-src are inconsistent."""


# --------------------------------------------------------------------------- helpers


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum(data: bytes) -> dict[str, str]:
    return {"checksum": sha256_hex(data), "type": CHECKSUM_TYPE}


def file_wrapper(data: bytes) -> dict[str, Json]:
    return {"content": data.decode("utf-8"), "checksum": [checksum(data)]}


def dump_json(obj: Json) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def route(*segments: str) -> str:
    """Path of the index.json serving a route made of raw (unencoded) segments."""
    return "/".join([*(quote(s, safe="") for s in segments), INDEX])


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise RegistryError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def _id(value: object, what: str) -> str:
    text = _str(value, what)
    if not ID_RE.match(text):
        raise RegistryError(f"{what}: {text!r} must match {ID_RE.pattern}")
    return text


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise RegistryError(f"{what}: expected a list, got {value!r}")
    return value


def _map(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RegistryError(f"{what}: expected a mapping, got {value!r}")
    return value


def _relative_path(value: object, what: str) -> PurePosixPath:
    text = _str(value, what)
    path = PurePosixPath(text)
    if path.is_absolute() or text != path.as_posix():
        raise RegistryError(f"{what}: {text!r} must be a normalised relative POSIX path")
    for part in path.parts:
        if not PATH_COMPONENT_RE.match(part):
            raise RegistryError(f"{what}: bad path component {part!r} in {text!r}")
    return path


def _files_under(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def _check_no_strays(directory: Path, expected: Iterable[str], what: str) -> None:
    present = {p.name for p in directory.iterdir()}
    stray = sorted(present - set(expected))
    if stray:
        raise RegistryError(f"{what}: not described in {REGISTRY_FILE}: {', '.join(stray)}")


# --------------------------------------------------------------------------- build


def _build_version(
    tree: Tree,
    src: Path,
    tool_id: str,
    tool_url: str,
    spec: Mapping[str, Any],
    meta_version: str,
) -> dict[str, Json]:
    vid = _id(spec.get("id"), f"tool {tool_id}: version id")
    what = f"{tool_id}/{vid}"
    dtype = _str(spec.get("descriptor_type"), f"{what}: descriptor_type")
    if dtype not in DESCRIPTOR_TYPES:
        raise RegistryError(f"{what}: descriptor_type {dtype!r} not in {sorted(DESCRIPTOR_TYPES)}")
    dtype_version = _str(spec.get("descriptor_type_version"), f"{what}: descriptor_type_version")
    authors = [_str(a, f"{what}: author") for a in _list(spec.get("author", []), what)]

    version_dir = src / tool_id / vid
    if not version_dir.is_dir():
        raise RegistryError(f"{what}: missing source directory {version_dir}")

    entries: list[tuple[str, str, bytes]] = []  # (relative path, file_type, bytes)
    for i, raw in enumerate(_list(spec.get("files"), f"{what}: files")):
        item = _map(raw, f"{what}: files[{i}]")
        path = _relative_path(item.get("path"), f"{what}: files[{i}].path").as_posix()
        file_type = _str(item.get("file_type"), f"{what}: {path}: file_type")
        if file_type not in FILE_TYPES:
            raise RegistryError(f"{what}: {path}: file_type {file_type!r} not in {FILE_TYPES}")
        source = version_dir / path
        if not source.is_file():
            raise RegistryError(f"{what}: listed file {path!r} does not exist in {version_dir}")
        data = source.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{what}: {path} is not UTF-8 text") from exc
        entries.append((path, file_type, data))

    paths = [p for p, _, _ in entries]
    if len(set(paths)) != len(paths):
        raise RegistryError(f"{what}: duplicate paths in files")
    unlisted = sorted(_files_under(version_dir) - set(paths))
    if unlisted:
        raise RegistryError(f"{what}: files not listed in {REGISTRY_FILE}: {', '.join(unlisted)}")
    primaries = [e for e in entries if e[1] == "PRIMARY_DESCRIPTOR"]
    if len(primaries) != 1:
        raise RegistryError(f"{what}: expected exactly one PRIMARY_DESCRIPTOR")

    base = ("tools", tool_id, "versions", vid)
    # Primary descriptor at .../{TYPE}/descriptor, every file (the primary too, so that
    # descriptor/{relative_path} works for it) at .../{TYPE}/descriptor/{p1}/{p2}/...
    tree[route(*base, dtype, "descriptor")] = dump_json(file_wrapper(primaries[0][2]))
    for path, _, data in entries:
        tree[route(*base, dtype, "descriptor", *path.split("/"))] = dump_json(file_wrapper(data))
    tree[route(*base, dtype, "files")] = dump_json(
        [
            {"path": path, "file_type": file_type, "checksum": checksum(data)}
            for path, file_type, data in entries
        ]
    )
    tree[route(*base, dtype, "tests")] = dump_json(
        [file_wrapper(data) for _, file_type, data in entries if file_type == "TEST_FILE"]
    )
    containerfiles = [file_wrapper(d) for _, t, d in entries if t == "CONTAINERFILE"]
    tree[route(*base, "containerfile")] = dump_json(containerfiles)

    version = {
        "id": vid,
        "name": vid,
        "url": f"{tool_url}/versions/{quote(vid, safe='')}",
        "author": authors,
        "descriptor_type": [dtype],
        "descriptor_type_version": {dtype: [dtype_version]},
        "is_production": True,
        "containerfile": bool(containerfiles),
        "verified": False,
        "signed": False,
        "images": [],
        "meta_version": meta_version,
    }
    tree[route(*base)] = dump_json(version)
    return version


def build(src: Path) -> Tree:
    """Return the full static tree (relative path -> bytes) for the sources in ``src``."""
    registry_path = src / REGISTRY_FILE
    if not registry_path.is_file():
        raise RegistryError(f"missing {registry_path}")
    with registry_path.open(encoding="utf-8") as fh:
        registry = _map(yaml.safe_load(fh), REGISTRY_FILE)

    base_url = _str(registry.get("base_url"), "base_url").rstrip("/")
    organization = _str(registry.get("organization"), "organization")
    meta_version = _str(registry.get("meta_version"), "meta_version")

    tree: Tree = {}
    service_info = dict(_map(registry.get("service_info"), "service_info"))
    service_info["type"] = {"group": "org.ga4gh", "artifact": "trs", "version": "2.0.1"}
    for key in ("id", "name", "organization", "version"):
        if key not in service_info:
            raise RegistryError(f"service_info: missing {key}")
    tree[route("service-info")] = dump_json(service_info)

    tool_classes: dict[str, dict[str, str]] = {}
    for i, raw in enumerate(_list(registry.get("tool_classes"), "tool_classes")):
        item = _map(raw, f"tool_classes[{i}]")
        cls = {
            key: _str(item.get(key), f"tool_classes[{i}].{key}")
            for key in ("id", "name", "description")
        }
        tool_classes[cls["name"]] = cls
    tree[route("toolClasses")] = dump_json(list(tool_classes.values()))

    tools: list[dict[str, Json]] = []
    for i, raw in enumerate(_list(registry.get("tools"), "tools")):
        spec = _map(raw, f"tools[{i}]")
        tool_id = _id(spec.get("id"), f"tools[{i}].id")
        if any(t["id"] == tool_id for t in tools):
            raise RegistryError(f"duplicate tool id {tool_id!r}")
        class_name = _str(spec.get("toolclass"), f"{tool_id}: toolclass")
        if class_name not in tool_classes:
            raise RegistryError(f"{tool_id}: unknown toolclass {class_name!r}")
        tool_url = f"{base_url}/tools/{quote(tool_id, safe='')}"
        version_specs = _list(spec.get("versions"), f"{tool_id}: versions")
        if not version_specs:
            raise RegistryError(f"{tool_id}: no versions")
        versions = [
            _build_version(tree, src, tool_id, tool_url, _map(v, tool_id), meta_version)
            for v in version_specs
        ]
        vids = [v["id"] for v in versions]
        if len(set(vids)) != len(vids):
            raise RegistryError(f"{tool_id}: duplicate version ids")
        _check_no_strays(src / tool_id, vids, f"{src / tool_id}")

        tool = {
            "id": tool_id,
            "url": tool_url,
            "name": _str(spec.get("name"), f"{tool_id}: name"),
            "description": _str(spec.get("description"), f"{tool_id}: description"),
            "aliases": [
                _str(a, f"{tool_id}: alias")
                for a in _list(spec.get("aliases", []), f"{tool_id}: aliases")
            ],
            "organization": organization,
            "toolclass": tool_classes[class_name],
            "meta_version": meta_version,
            "has_checker": False,
            "checker_url": "",
            "versions": versions,
        }
        tree[route("tools", tool_id)] = dump_json(tool)
        tree[route("tools", tool_id, "versions")] = dump_json(versions)
        tools.append(tool)

    _check_no_strays(src, [REGISTRY_FILE, *(t["id"] for t in tools)], str(src))
    tree[route("tools")] = dump_json(tools)
    return tree


# --------------------------------------------------------------------------- disk


def read_tree(out: Path) -> Tree:
    if not out.exists():
        return {}
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def diff_trees(expected: Tree, actual: Tree) -> list[str]:
    lines = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    lines += [f"stale:   {p}" for p in sorted(actual.keys() - expected.keys())]
    lines += [
        f"changed: {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]
    ]
    return lines


def write_tree(out: Path, tree: Tree) -> None:
    if out.exists():
        foreign = sorted(p for p in read_tree(out) if PurePosixPath(p).name != INDEX)
        if foreign:
            raise RegistryError(
                f"refusing to delete {out}: it holds files that are not {INDEX}: {foreign[:5]}"
            )
        shutil.rmtree(out)
    for rel, data in sorted(tree.items()):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="source directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the tree on disk differs from what would be generated",
    )
    args = parser.parse_args(argv)

    try:
        tree = build(args.src)
        if args.check:
            problems = diff_trees(tree, read_tree(args.out))
            if problems:
                print(f"{args.out} is out of date ({len(problems)} differences):", file=sys.stderr)
                for line in problems:
                    print(f"  {line}", file=sys.stderr)
                print(f"run: python {Path(__file__).name} to regenerate", file=sys.stderr)
                return 1
            print(f"{args.out} is up to date ({len(tree)} files)")
            return 0
        write_tree(args.out, tree)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(tree)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
