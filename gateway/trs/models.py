"""TRS 2.0.1 models: lenient on the way in, exact on the way out.

Upstreams deviate from the schema (see each flavor): Yevis sends
``descriptor_type`` as a bare string, Dockstore sends ``image_type: {}``,
BioContainers omits fields and adds its own. Validation here *coerces* what has
one sensible reading and *drops* what does not, so that every response the
gateway writes validates against the official 2.0.1 schema.

Non-standard upstream fields (``dockstore_self_url``, BioContainers
``identifiers`` and the like) are dropped: clients with strict models reject
unknown fields, and the gateway's own extensions live in response headers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .types import Language, parse_language

__all__ = [
    "Checksum",
    "Error",
    "FileType",
    "FileWrapper",
    "ImageData",
    "ImageType",
    "Service",
    "ServiceOrganization",
    "ServiceType",
    "Tool",
    "ToolClass",
    "ToolFile",
    "ToolVersion",
]


def _as_str(value: Any) -> Any:
    """Numbers, booleans and the like become strings; ``None`` stays ``None``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    return value


def _as_str_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return value


Str = Annotated[str, BeforeValidator(_as_str)]
OptStr = Annotated[str | None, BeforeValidator(_as_str)]
StrList = Annotated[list[str], BeforeValidator(_as_str_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The JSON-ready form, without unset optional fields."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class ImageType(StrEnum):
    DOCKER = "Docker"
    SINGULARITY = "Singularity"
    CONDA = "Conda"


class FileType(StrEnum):
    TEST_FILE = "TEST_FILE"
    PRIMARY_DESCRIPTOR = "PRIMARY_DESCRIPTOR"
    SECONDARY_DESCRIPTOR = "SECONDARY_DESCRIPTOR"
    CONTAINERFILE = "CONTAINERFILE"
    OTHER = "OTHER"


def _image_type(value: Any) -> Any:
    if isinstance(value, str):
        for member in ImageType:
            if member.value.lower() == value.lower():
                return member
    return None


def _wrapper_image_type(value: Any) -> Any:
    """``FileWrapper.image_type`` is an ImageType or a DescriptorType, or absent."""
    if not isinstance(value, str):
        return None
    image = _image_type(value)
    if image is not None:
        return image.value
    language = parse_language(value)
    return language.value if language else None


def _languages(value: Any) -> Any:
    """Keep the TRS languages; drop what TRS cannot name (``JUPYTER``, ``""``)."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    out: list[Language] = []
    for item in items:
        language = parse_language(item) if isinstance(item, str) else None
        if language is not None and language not in out:
            out.append(language)
    return out


def _type_versions(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    out: dict[str, list[str]] = {}
    for key, versions in value.items():
        language = parse_language(str(key))
        if language is not None:
            out[language.value] = _as_str_list(versions)
    return out or None


class Checksum(_Model):
    checksum: Str
    type: Str


def _checksums(value: Any) -> Any:
    """A list of valid checksums; a single object is accepted, junk dropped."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [
        v
        for v in value
        if isinstance(v, dict) and v.get("checksum") and isinstance(v.get("type"), str)
    ]


Checksums = Annotated[list[Checksum], BeforeValidator(_checksums)]


class ImageData(_Model):
    registry_host: OptStr = None
    image_name: OptStr = None
    size: int | None = None
    updated: OptStr = None
    checksum: Checksums = Field(default_factory=list)
    image_type: Annotated[ImageType | None, BeforeValidator(_image_type)] = None

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


def _images(value: Any) -> Any:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class ToolClass(_Model):
    id: OptStr = None
    name: OptStr = None
    description: OptStr = None


class ToolVersion(_Model):
    author: StrList = Field(default_factory=list)
    name: OptStr = None
    url: Str = ""
    id: Str
    is_production: bool | None = None
    images: Annotated[list[ImageData], BeforeValidator(_images)] = Field(default_factory=list)
    descriptor_type: Annotated[list[Language], BeforeValidator(_languages)] = Field(
        default_factory=list
    )
    descriptor_type_version: Annotated[
        dict[Language, list[str]] | None, BeforeValidator(_type_versions)
    ] = None
    containerfile: bool | None = None
    meta_version: OptStr = None
    verified: bool | None = None
    verified_source: StrList = Field(default_factory=list)
    signed: bool | None = None
    included_apps: StrList = Field(default_factory=list)


class Tool(_Model):
    url: Str = ""
    id: Str
    aliases: StrList = Field(default_factory=list)
    organization: Annotated[str, BeforeValidator(lambda v: _as_str(v) or "")] = ""
    name: OptStr = None
    toolclass: Annotated[ToolClass, BeforeValidator(lambda v: v or {})] = Field(
        default_factory=ToolClass
    )
    description: OptStr = None
    meta_version: OptStr = None
    has_checker: bool | None = None
    checker_url: OptStr = None
    versions: list[ToolVersion] = Field(default_factory=list)

    @field_validator("versions", mode="before")
    @classmethod
    def _versions(cls, value: Any) -> Any:
        """Keep versions that can be addressed; one without an id borrows its name."""
        if not isinstance(value, list):
            return []
        out = []
        for version in value:
            if not isinstance(version, dict):
                continue
            if version.get("id") in (None, "") and version.get("name") not in (None, ""):
                version = {**version, "id": version["name"]}
            if version.get("id") not in (None, ""):
                out.append(version)
        return out


def _file_type(value: Any) -> Any:
    if isinstance(value, str) and value.upper() in FileType.__members__:
        return value.upper()
    return FileType.OTHER


def _single_checksum(value: Any) -> Any:
    """``ToolFile.checksum`` is one object in 2.0.1; some upstreams send a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and value.get("checksum") and isinstance(value.get("type"), str):
        return value
    return None


class ToolFile(_Model):
    path: OptStr = None
    file_type: Annotated[FileType, BeforeValidator(_file_type)] = FileType.OTHER
    checksum: Annotated[Checksum | None, BeforeValidator(_single_checksum)] = None


class FileWrapper(_Model):
    content: OptStr = None
    checksum: Checksums = Field(default_factory=list)
    image_type: Annotated[str | None, BeforeValidator(_wrapper_image_type)] = None
    url: OptStr = None


class ServiceType(_Model):
    group: str
    artifact: str
    version: str


class ServiceOrganization(_Model):
    name: str
    url: str


class Service(_Model):
    id: str
    name: str
    type: ServiceType
    description: str | None = None
    organization: ServiceOrganization
    contact_url: str | None = Field(default=None, alias="contactUrl")
    documentation_url: str | None = Field(default=None, alias="documentationUrl")
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    environment: str | None = None
    version: str


class Error(_Model):
    code: int
    message: str
