"""The ``/tools`` filters, checked by the gateway on every tool it lists.

Upstreams that honour a filter get it sent along, which keeps their answers
small; the gateway still checks every result itself, so all upstreams agree on
what a filter means (the result is the intersection of both readings):

``id``            the tool's upstream id, exactly (a namespaced id asks only
                  that upstream)
``alias``         one of the tool's aliases, ignoring case
``toolClass``     the tool class name, ignoring case
``descriptorType``  some version offers that language (any spelling)
``registry``      some version's image registry host contains it
``organization``, ``name``, ``toolname``, ``description``
                  the field contains it, ignoring case (``name`` and
                  ``toolname`` both read the tool's name)
``author``        some version's author contains it, ignoring case
``checker``       ``true``/``false`` against ``has_checker``
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import TRS_FILTERS
from ..errors import BadRequest
from ..ids import check_text
from ..trs.models import Tool
from ..trs.types import parse_language

__all__ = ["matches", "parse_filters"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_filters(query: Mapping[str, str]) -> dict[str, str]:
    """The filters of a ``/tools`` query, checked; other parameters are ignored."""
    filters = {k: v for k, v in query.items() if k in TRS_FILTERS}
    for key, value in filters.items():
        check_text(value, f"filter {key}")
    if "descriptorType" in filters and parse_language(filters["descriptorType"]) is None:
        raise BadRequest(
            f"unknown descriptorType {filters['descriptorType']!r}; "
            "use one of CWL, WDL, NFL, GALAXY, SMK"
        )
    if "checker" in filters and filters["checker"].lower() not in _TRUE | _FALSE:
        raise BadRequest("checker must be true or false")
    return filters


def _contains(haystack: str | None, needle: str) -> bool:
    return needle.casefold() in (haystack or "").casefold()


def matches(tool: Tool, filters: Mapping[str, str], *, tool_id: str | None = None) -> bool:
    """Whether ``tool`` passes every filter; ``tool_id`` overrides the id checked."""
    for key, value in filters.items():
        if key == "id":
            ok = (tool_id if tool_id is not None else tool.id) == value
        elif key == "alias":
            ok = any(a.casefold() == value.casefold() for a in tool.aliases)
        elif key == "toolClass":
            ok = (tool.toolclass.name or "").casefold() == value.casefold()
        elif key == "descriptorType":
            language = parse_language(value)
            ok = any(language in v.descriptor_type for v in tool.versions)
        elif key == "registry":
            ok = any(_contains(i.registry_host, value) for v in tool.versions for i in v.images)
        elif key in ("name", "toolname"):
            ok = _contains(tool.name, value)
        elif key == "organization":
            ok = _contains(tool.organization, value)
        elif key == "description":
            ok = _contains(tool.description, value)
        elif key == "author":
            ok = any(_contains(a, value) for v in tool.versions for a in v.author)
        elif key == "checker":
            ok = bool(tool.has_checker) == (value.lower() in _TRUE)
        else:
            ok = True
        if not ok:
            return False
    return True
