"""Reference parsing and normalisation, checked against Docker's answers."""

from __future__ import annotations

import pytest

from hangu_image.reference import ReferenceError, is_full_id, parse, parse_repository_tag

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text,full,familiar",
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "busybox"),
        ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
        ("user/app", "docker.io/user/app", "user/app"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox"),
        ("localhost/app:v1", "localhost/app:v1", "localhost/app:v1"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("quay.io/x/y", "quay.io/x/y", "quay.io/x/y"),
        (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
        (f"host:5000/r:tag@{D}", f"host:5000/r:tag@{D}", f"host:5000/r:tag@{D}"),
        ("[::1]:5000/img", "[::1]:5000/img", "[::1]:5000/img"),
        ("a__b/c-d.e", "docker.io/a__b/c-d.e", "a__b/c-d.e"),
    ],
)
def test_normalise(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_default_tag_and_names() -> None:
    ref = parse("busybox")
    assert ref.with_default_tag().familiar == "busybox:latest"
    assert ref.path == "library/busybox"
    assert parse(f"busybox@{D}").with_default_tag().tag == ""
    assert parse("127.0.0.1:5000/busybox").path == "busybox"


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "invalid reference format"),
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("busybox:", "invalid reference format"),
        ("-busybox", "invalid reference format"),
        ("busy box", "invalid reference format"),
        ("a:b:c", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        (
            "a" * 64,
            "invalid repository name ("
            + "a" * 64
            + "), cannot specify 64-byte hexadecimal strings",
        ),
        (
            "x/" + "a" * 260,
            "invalid reference format: repository name must not be more than 255 characters",
        ),
    ],
)
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(ReferenceError) as err:
        parse(text)
    assert err.value.message == message


def test_uppercase_domain_is_a_domain() -> None:
    # As Docker: an uppercase first component is taken as a registry host.
    assert str(parse("UPPER/x")) == "UPPER/x"


def test_ids_and_repository_tag() -> None:
    assert is_full_id("a" * 64) and is_full_id("sha256:" + "b" * 64)
    assert not is_full_id("abc") and not is_full_id("sha256:abc")
    assert str(parse_repository_tag("busybox", "v2")) == "docker.io/library/busybox:v2"
    with pytest.raises(ReferenceError):
        parse_repository_tag("busybox:1", "v2")
