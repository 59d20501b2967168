"""Progress rendering and multiplexed frames."""

from hangu.image.v1 import image_pb2 as ipb
from hangu_gateway import hijack
from hangu_gateway.streams import error_message, progress_bar, progress_message
from hangu_runtime.units import human_size


def test_human_size_is_decimal_four_digits() -> None:
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1200000) == "1.2MB"
    assert human_size(3400000) == "3.4MB"
    assert human_size(1234567) == "1.235MB"


def test_bar_like_dockerd() -> None:
    bar = progress_bar(1200000, 3400000)
    assert bar.startswith("[=================>")
    assert bar.endswith("1.2MB/3.4MB")
    assert bar.index("]") == 52  # "[" + 50 cells + ">"
    assert progress_bar(0, 0) == ""
    assert progress_bar(5000, 0) == "     5kB"


def test_progress_message_shapes() -> None:
    msg = progress_message(ipb.Progress(id="abc", status="Downloading", current=5, total=10))
    assert msg["status"] == "Downloading"
    assert msg["id"] == "abc"
    assert msg["progressDetail"] == {"current": 5, "total": 10}
    assert "5B/10B" in msg["progress"]
    plain = progress_message(ipb.Progress(id="87be7837f558", status="Pulling fs layer"))
    assert plain == {"status": "Pulling fs layer", "progressDetail": {}, "id": "87be7837f558"}
    if "detail" in ipb.Progress.DESCRIPTOR.fields_by_name:
        flagged = progress_message(ipb.Progress(id="abc", status="Waiting", detail=True))
        assert flagged == {"status": "Waiting", "progressDetail": {}, "id": "abc"}
    # Whole-operation lines carry no progressDetail, or the CLI overwrites them.
    digest = progress_message(ipb.Progress(status="Digest: sha256:x"))
    assert digest == {"status": "Digest: sha256:x"}
    tag_line = progress_message(ipb.Progress(id="latest", status="Pulling from busybox"))
    assert tag_line == {"status": "Pulling from busybox", "id": "latest"}
    aux = progress_message(ipb.Progress(id_result=ipb.IDResult(id="sha256:x")))
    assert aux == {"aux": {"ID": "sha256:x"}}


def test_errors_in_stream() -> None:
    assert progress_message(ipb.Progress(error="boom")) == error_message("boom")
    assert error_message("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}


def test_frames() -> None:
    data = hijack.frame(hijack.STDOUT, b"hi\n") + hijack.frame(hijack.STDERR, b"oops")
    assert data[:8] == bytes([1, 0, 0, 0, 0, 0, 0, 3])
    assert hijack.unframe(data) == [(1, b"hi\n"), (2, b"oops")]


def test_push_aux_is_dockerds_bytes() -> None:
    """The typed PushResult is written as dockerd writes its aux object."""
    import json

    line = progress_message(
        ipb.Progress(push_result=ipb.PushResult(tag="v1", digest="sha256:ab", size=527))
    )
    assert json.dumps(line) == '{"aux": {"Tag": "v1", "Digest": "sha256:ab", "Size": 527}}'
    # An empty result is still a result (dockerd's Size 0 is written too).
    empty = progress_message(ipb.Progress(push_result=ipb.PushResult()))
    assert empty == {"aux": {"Tag": "", "Digest": "", "Size": 0}}
    assert "aux" not in progress_message(ipb.Progress(status="Pushed"))
