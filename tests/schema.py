"""Validating gateway responses against the official TRS 2.0.1 OpenAPI document."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_URI = "urn:trs-2.0.1"


@cache
def spec() -> dict[str, Any]:
    path = resources.files("gateway") / "trs" / "openapi" / "trs-2.0.1.bundled.yaml"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@cache
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), DRAFT4))


def assert_valid(instance: Any, schema: str, *, array: bool = False) -> None:
    """Validate against ``components/schemas/<schema>`` (or an array of it)."""
    ref: dict[str, Any] = {"$ref": f"{SPEC_URI}#/components/schemas/{schema}"}
    wanted = {"type": "array", "items": ref} if array else ref
    Draft4Validator(wanted, registry=_registry()).validate(instance)
