"""Image references parsed and normalised exactly as Docker does
(distribution/reference): `busybox` is `docker.io/library/busybox:latest`,
`host:port/repo:tag`, `repo@sha256:...`, and the familiar (short) form for
display."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hangu_runtime.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_NAME_RE = re.compile(rf"^(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)$")
IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")
SHORT_ID_RE = re.compile(r"^[a-f0-9]{1,64}$")
DIGEST_RE = re.compile(rf"^{_DIGEST}$")


class ReferenceError(InvalidArgument):
    pass


@dataclass(frozen=True)
class Reference:
    """A normalised named reference: domain, path, and a tag and/or digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """Full repository name: docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """As the docker CLI shows it: busybox, 127.0.0.1:5000/busybox."""
        if self.domain == DEFAULT_DOMAIN:
            return (
                self.path.removeprefix(OFFICIAL_PREFIX)
                if self.path.startswith(OFFICIAL_PREFIX) and self.path.count("/") == 1
                else self.path
            )
        return self.name

    def __str__(self) -> str:
        return self.name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def with_default_tag(self) -> Reference:
        """TagNameOnly: add `latest` when neither tag nor digest is given."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, DEFAULT_TAG)

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, "", digest)

    @property
    def repo_only(self) -> Reference:
        return Reference(self.domain, self.path)

    @property
    def tag_or_digest(self) -> str:
        return self.digest or self.tag or DEFAULT_TAG


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i] if i >= 0 else ""
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, rest = DEFAULT_DOMAIN, name
    else:
        domain, rest = first, name[i + 1 :]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in rest:
        rest = OFFICIAL_PREFIX + rest
    return domain, rest


def parse(text: str) -> Reference:
    """ParseNormalizedNamed: a familiar or full reference to a normalised one."""
    if IDENTIFIER_RE.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep > -1 else remainder
    remote = remote.split("@", 1)[0]
    if remote.lower() != remote:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    m = REFERENCE_RE.match(f"{domain}/{remainder}")
    if not m or not text:
        raise ReferenceError("invalid reference format")
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_MAX:
        raise ReferenceError(
            f"invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_MAX} characters"
        )
    nm = _ANCHORED_NAME_RE.match(name)
    if not nm:
        raise ReferenceError("invalid reference format")
    if digest and not digest.startswith("sha256:"):
        raise ReferenceError("invalid reference format: unsupported digest algorithm")
    if digest.startswith("sha256:") and len(digest) != 71:
        raise ReferenceError("invalid reference format: invalid checksum digest length")
    return Reference(nm.group(1) or DEFAULT_DOMAIN, nm.group(2), tag, digest.lower())


def is_full_id(text: str) -> bool:
    """A 64-hex image id, with or without the sha256: prefix (ParseAnyReference)."""
    return bool(IDENTIFIER_RE.match(text.removeprefix("sha256:"))) and (
        text.startswith("sha256:") or len(text) == 64
    )


def parse_repository_tag(repository: str, tag: str) -> Reference:
    """`docker tag`/`import` style: repository plus an optional separate tag."""
    ref = parse(repository)
    if tag:
        if ref.tag or ref.digest:
            raise ReferenceError("invalid reference format")
        if not re.fullmatch(_TAG, tag):
            raise ReferenceError("invalid tag format")
        ref = ref.with_tag(tag)
    return ref
