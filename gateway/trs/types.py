"""Descriptor types: parsing the spellings clients send, naming them canonically.

TRS 2.0.1 spells the ``{type}`` path parameter ``CWL``, ``PLAIN_CWL`` and so on.
Real clients also send ``plain-CWL`` (cwltool, from the v2 beta), ``plain_cwl``
and lower case; Dockstore knows Galaxy as ``GXFORMAT2``. All of them parse into
one :class:`DescriptorType`, and each upstream flavor spells it back its own way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ..errors import BadRequest

__all__ = ["DescriptorType", "Language", "parse_descriptor_type", "parse_language"]


class Language(StrEnum):
    """The five descriptor languages of TRS 2.0.1."""

    CWL = "CWL"
    WDL = "WDL"
    NFL = "NFL"
    GALAXY = "GALAXY"
    SMK = "SMK"


_ALIASES = {
    "cwl": Language.CWL,
    "wdl": Language.WDL,
    "nfl": Language.NFL,
    "nextflow": Language.NFL,
    "galaxy": Language.GALAXY,
    "gxformat2": Language.GALAXY,
    "smk": Language.SMK,
    "snakemake": Language.SMK,
}
_PLAIN = re.compile(r"^plain[-_]?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DescriptorType:
    """A language, and whether the raw file (``PLAIN_``) was asked for."""

    language: Language
    plain: bool = False

    @property
    def canonical(self) -> str:
        """The TRS 2.0.1 spelling: ``CWL`` or ``PLAIN_CWL``."""
        return f"PLAIN_{self.language}" if self.plain else str(self.language)


def parse_language(value: str) -> Language | None:
    """A language from any known spelling, or ``None``."""
    return _ALIASES.get(value.strip().lower())


def parse_descriptor_type(value: str, *, allow_plain: bool = True) -> DescriptorType:
    """Parse a ``{type}`` path parameter; raise :class:`BadRequest` if unknown."""
    rest, plain = value, False
    match = _PLAIN.match(value)
    if match and parse_language(value[match.end() :]) is not None:
        rest, plain = value[match.end() :], True
    language = parse_language(rest)
    if language is None or (plain and not allow_plain):
        allowed = ", ".join(f"{lang}" for lang in Language)
        extra = " (each optionally prefixed PLAIN_)" if allow_plain else ""
        raise BadRequest(f"unknown descriptor type {value!r}; use one of {allowed}{extra}")
    return DescriptorType(language, plain)
