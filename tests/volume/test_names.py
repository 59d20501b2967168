"""Volume name and driver option checks: pure logic."""

import pytest

from hangu_runtime.errors import InvalidArgument
from hangu_volume import names


@pytest.mark.parametrize("name", ["v1", "my_vol.2-x", "A0", "0a" * 32])
def test_valid_names(name: str) -> None:
    names.validate_name(name)


@pytest.mark.parametrize("name", ["a", "-ab", "_ab", ".ab", "a/b", "a b", "/abs", "é1"])
def test_invalid_names_with_dockerd_message(name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        names.validate_name(name)
    assert err.value.message.endswith(
        'includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" '
        "are allowed. If you intended to pass a host directory, use absolute path"
    )


def test_driver_options() -> None:
    names.validate_options({})
    names.validate_options({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    with pytest.raises(InvalidArgument, match='invalid option: "bogus"'):
        names.validate_options({"bogus": "1"})
    with pytest.raises(InvalidArgument, match="device"):
        names.validate_options({"type": "tmpfs"})
