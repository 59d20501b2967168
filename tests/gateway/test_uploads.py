"""The gateway's upload messages (uploads.py): encoded by hand in one copy,
they must be exactly what protobuf makes of the same message."""

from __future__ import annotations

import pytest

from hangu.image.v1 import image_pb2 as ipb
from hangu_gateway.uploads import encode_bytes_field


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16383, 16384, 1 << 20, (1 << 21) + 5])
@pytest.mark.parametrize(
    ("message", "field"),
    [(ipb.BuildRequest, "data"), (ipb.LoadRequest, "data"), (ipb.ImportRequest, "data")],
)
def test_encoded_like_protobuf(size: int, message: type, field: str) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    pieces = [data[: size // 3], data[size // 3 : size // 2], data[size // 2 :]]
    number = message.DESCRIPTOR.fields_by_name[field].number
    encoded = encode_bytes_field(number, pieces)
    assert encoded == message(**{field: data}).SerializeToString()
    assert getattr(message.FromString(encoded), field) == data
