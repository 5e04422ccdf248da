"""Cross-registry identity keys and matching (pure; see :mod:`gateway.identity.keys`)."""

from __future__ import annotations

from .keys import (
    DOCKSTORE_HOSTS,
    IdentityIndex,
    TrsToolRef,
    dockstore_trs_url_keys,
    gw_key,
    is_specific,
    keys_for_tool,
    normalise,
    parse_crosswalk,
    parse_doi,
    parse_trs_url,
)

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
