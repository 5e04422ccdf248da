"""Descriptor type spellings clients really send."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest
from gateway.trs.types import DescriptorType, Language, parse_descriptor_type


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("CWL", DescriptorType(Language.CWL)),
        ("cwl", DescriptorType(Language.CWL)),
        ("PLAIN_CWL", DescriptorType(Language.CWL, plain=True)),
        ("plain-CWL", DescriptorType(Language.CWL, plain=True)),
        ("plain_cwl", DescriptorType(Language.CWL, plain=True)),
        ("Plain-Wdl", DescriptorType(Language.WDL, plain=True)),
        ("PLAIN_NFL", DescriptorType(Language.NFL, plain=True)),
        ("GXFORMAT2", DescriptorType(Language.GALAXY)),
        ("plain-GXFORMAT2", DescriptorType(Language.GALAXY, plain=True)),
        ("galaxy", DescriptorType(Language.GALAXY)),
        ("PLAIN_SMK", DescriptorType(Language.SMK, plain=True)),
        ("nextflow", DescriptorType(Language.NFL)),
    ],
)
def test_client_spellings_normalise(spelling: str, expected: DescriptorType) -> None:
    assert parse_descriptor_type(spelling) == expected


@pytest.mark.parametrize("spelling", ["JUPYTER", "PLAIN_", "plain", "", "CWLX", "PLAIN_PLAIN_CWL"])
def test_unknown_types_are_bad_requests(spelling: str) -> None:
    with pytest.raises(BadRequest):
        parse_descriptor_type(spelling)


def test_plain_is_refused_where_the_spec_forbids_it() -> None:
    with pytest.raises(BadRequest):
        parse_descriptor_type("PLAIN_CWL", allow_plain=False)


def test_canonical_spelling_is_the_spec_enum() -> None:
    assert parse_descriptor_type("plain-cwl").canonical == "PLAIN_CWL"
    assert parse_descriptor_type("gxformat2").canonical == "GALAXY"
