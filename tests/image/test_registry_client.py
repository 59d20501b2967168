"""Pure helpers of the registry client: which registries get plain HTTP,
auth challenges, and Docker's wording of registry errors."""

from __future__ import annotations

import pytest

from hangu_image.pull import translate_error
from hangu_image.reference import parse
from hangu_image.registry import (
    DOCKER_HUB_HOST,
    RegistryError,
    _parse_challenge,
    is_insecure,
    registry_host,
)
from hangu_runtime.errors import Internal, NotFound, Unauthenticated


@pytest.mark.parametrize(
    "host,insecure,expected",
    [
        ("127.0.0.1:5000", (), True),
        ("localhost:5000", (), True),
        ("localhost", (), True),
        ("[::1]:5000", (), True),
        ("127.8.9.10", (), True),
        ("registry.example.com", (), False),
        ("10.1.2.3:5000", (), False),
        ("10.1.2.3:5000", ("10.1.2.3:5000",), True),
        ("10.1.2.3:5000", ("10.0.0.0/8",), True),
        ("reg.lan", ("reg.lan",), True),
        ("reg.lan:443", ("reg.lan",), True),
    ],
)
def test_is_insecure(host: str, insecure: tuple[str, ...], expected: bool) -> None:
    assert is_insecure(host, insecure) is expected


def test_registry_host() -> None:
    assert registry_host(parse("busybox")) == DOCKER_HUB_HOST
    assert registry_host(parse("127.0.0.1:5000/x")) == "127.0.0.1:5000"


def test_parse_challenge() -> None:
    scheme, params = _parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }
    assert _parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


@pytest.mark.parametrize(
    "code,message,kind,text",
    [
        (
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            NotFound,
            "manifest for busybox:nosuch not found: manifest unknown: manifest unknown",
        ),
        (
            "NAME_UNKNOWN",
            "repository name not known to registry",
            NotFound,
            "repository busybox not found: name unknown: repository name not known to registry",
        ),
        (
            "DENIED",
            "requested access to the resource is denied",
            NotFound,
            "pull access denied for busybox, repository does not exist or may require "
            "'docker login': denied: requested access to the resource is denied",
        ),
        (
            "UNAUTHORIZED",
            "authentication required",
            Unauthenticated,
            "unauthorized: authentication required",
        ),
        ("TOOMANYREQUESTS", "slow down", Internal, "toomanyrequests: slow down"),
    ],
)
def test_translate_error(code: str, message: str, kind: type, text: str) -> None:
    err = translate_error(RegistryError(429, code, message), parse("busybox:nosuch"))
    assert isinstance(err, kind) and err.message == text
