"""The gateway's reading of `filters` and `since`/`until` query values:
Docker's rules (hangu_runtime) with dockerd's 400 wording per endpoint."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from google.protobuf.timestamp_pb2 import Timestamp

from hangu_gateway.errors import ApiError
from hangu_gateway.routers.common import filters, query_time


def _req(query: str) -> web.Request:
    return make_mocked_request("GET", f"/x?{query}")


def test_filters_both_forms() -> None:
    assert filters(_req("")) == {}
    assert filters(_req('filters={"label":{"a=b":true}}')) == {"label": ["a=b"]}
    assert filters(_req('filters={"label":["a=b"]}')) == {"label": ["a=b"]}


@pytest.mark.parametrize("raw", ["{", '{"label":"a"}', "[]"])
def test_malformed_filters_are_dockerds_400(raw: str) -> None:
    with pytest.raises(ApiError) as err:
        filters(_req(f"filters={raw}"))
    assert (err.value.status, err.value.message) == (400, "invalid filter")


def test_query_time() -> None:
    req = _req("since=1700000000.5&until=2023-11-14T22:13:20Z")
    assert query_time(req, "since", "'since'") == Timestamp(
        seconds=1_700_000_000, nanos=500_000_000
    )
    assert query_time(req, "until", "'until'") == Timestamp(seconds=1_700_000_000)
    assert query_time(req, "other", "'other'") is None
    with pytest.raises(ApiError) as err:
        query_time(_req("since=soon"), "since", "'since'")
    assert err.value.status == 400
    assert err.value.message == (
        "invalid value for 'since': failed to parse value as time or duration: "
        'invalid seconds "soon": invalid syntax'
    )
