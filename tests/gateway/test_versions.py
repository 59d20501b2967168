"""Version negotiation as dockerd's middleware does it."""

import pytest

from hangu_gateway import versions


def test_no_version_is_the_newest() -> None:
    assert versions.negotiate(None) == "1.47"
    assert versions.negotiate("") == "1.47"


@pytest.mark.parametrize("v", ["v1.24", "v1.30", "v1.41", "v1.47", "1.44"])
def test_supported(v: str) -> None:
    assert versions.negotiate(v) == v.removeprefix("v")


def test_too_new() -> None:
    with pytest.raises(versions.VersionError) as err:
        versions.negotiate("v1.48")
    assert str(err.value) == (
        "client version 1.48 is too new. Maximum supported API version is 1.47"
    )


def test_too_old() -> None:
    with pytest.raises(versions.VersionError) as err:
        versions.negotiate("v1.12")
    assert "client version 1.12 is too old. Minimum supported API version is 1.24" in str(err.value)


def test_compare_numerically() -> None:
    assert versions.less_than("1.9", "1.24")
    assert versions.at_least("1.100", "1.47") is True
