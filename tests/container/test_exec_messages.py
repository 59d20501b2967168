"""What `docker exec` prints when a start fails: runc's message without
its logrus decoration, as dockerd shows it after "OCI runtime exec failed: "."""

from __future__ import annotations

import pytest

from hangu_container.execs import runc_message


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            'time="2026-12-08T01:30:11Z" level=error msg="exec failed: unable to start container'
            ' process: exec: \\"/nonexist\\": stat /nonexist: no such file or directory"\n',
            'exec failed: unable to start container process: exec: "/nonexist": stat /nonexist:'
            " no such file or directory",
        ),
        (
            'time="t" level=warning msg="first"\ntime="t" level=error msg="the last one"\n',
            "the last one",
        ),
        ("plain words from conmon\n", "plain words from conmon"),
    ],
)
def test_runc_message(raw: str, shown: str) -> None:
    assert runc_message(raw) == shown
