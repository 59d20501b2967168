"""The build cache through the docker CLI and docker-py: a classic build's
untagged step images are the records of `docker system df`'s Build Cache;
building again with a changed file leaves the old chain behind, which
`docker builder prune`, `docker system prune` and the API's prune_builds
delete, while the tagged image keeps working and still builds from cache.

Each test builds a Dockerfile of its own (an ENV with a token first), so
its chain shares no step with any other test's. The prunes are not
filtered: they also take whatever build cache earlier tests left behind,
which nothing may rely on."""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack

DOCKERFILE = """FROM busybox
ENV HGT_TOKEN={token}
RUN head -c 20000 /dev/urandom > /blob
COPY data.txt /data.txt
RUN cat /data.txt /data.txt > /copy.txt
"""


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def _hex(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


class Project:
    """A build context, the tag it is built as, and the ids of each build's steps."""

    def __init__(self, stack: Stack, root: Path) -> None:
        self.stack = stack
        self.token = secrets.token_hex(4)
        self.tag = f"hgt/bcache-{self.token}:latest"
        self.dir = root / self.token
        self.dir.mkdir()
        (self.dir / "Dockerfile").write_text(DOCKERFILE.format(token=self.token))

    def build(self, data: str) -> tuple[str, str]:
        (self.dir / "data.txt").write_text(data)
        out = _ok(self.stack.run_docker("build", "-t", self.tag, str(self.dir), timeout=300))
        return self.image_id(self.tag), out

    def image_id(self, ref: str) -> str:
        return _ok(self.stack.run_docker("image", "inspect", "-f", "{{.Id}}", ref)).strip()

    def chain(self, image_id: str) -> list[str]:
        """The image and its local parents, newest first, up to busybox."""
        out = []
        while image_id:
            out.append(image_id)
            image_id = _ok(
                self.stack.run_docker("image", "inspect", "-f", "{{.Parent}}", image_id)
            ).strip()
        return out

    def exists(self, image_id: str) -> bool:
        return self.stack.run_docker("image", "inspect", image_id).returncode == 0

    def remove(self) -> None:
        self.stack.run_docker("rmi", "-f", self.tag)


@pytest.fixture
def project(stack: Stack, busybox: str, tmp_path: Path) -> Any:
    p = Project(stack, tmp_path)
    yield p
    p.remove()


def _two_builds(project: Project) -> tuple[list[str], list[str]]:
    """(the old chain's two records, the current chain): the COPY and the
    RUN after it are the records the second build left behind."""
    first, _ = project.build("one\n")
    second, _ = project.build("two\n")
    old, new = project.chain(first), project.chain(second)
    assert old[2:] == new[2:]  # FROM, ENV and the first RUN are shared
    assert old[0] != new[0] and old[1] != new[1]
    return old[:2], new


def _df_rows(stack: Stack) -> dict[str, dict[str, Any]]:
    df = stack.docker_client().api.df()
    return {row["ID"]: row for row in df["BuildCache"] or []}


def test_df_rows_then_builder_prune_reclaims_the_old_chain(project: Project) -> None:
    stale, current = _two_builds(project)
    # current: [tagged result, COPY, first RUN, ENV, busybox]
    rows = _df_rows(project.stack)
    for record in stale:
        row = rows[_hex(record)]
        assert row["Type"] == "regular"
        assert (row["InUse"], row["Shared"]) == (False, False)
        assert row["Size"] > 0
        assert row["CreatedAt"] and row["LastUsedAt"] and row["UsageCount"] >= 1
    assert rows[_hex(stale[0])]["Parents"] == [_hex(stale[1])]
    assert rows[_hex(stale[0])]["Description"] == "/bin/sh -c cat /data.txt /data.txt > /copy.txt"
    for record in current[1:4]:  # under the tagged image: shared, nothing to free
        row = rows[_hex(record)]
        assert (row["InUse"], row["Shared"], row["Size"]) == (False, True, 0)
    assert _hex(current[0]) not in rows  # tagged: an image, not cache
    assert _hex(current[4]) not in rows  # busybox

    summary = _ok(project.stack.run_docker("system", "df"))
    assert re.search(r"^Build Cache\s+\d+\s+\d+\s+\S+\s+\S+", summary, re.M), summary
    verbose = _ok(project.stack.run_docker("system", "df", "-v"))
    section = verbose.split("Build cache usage:", 1)[1]
    assert "CACHE ID" in section and "CACHE TYPE" in section
    for record in stale + current[1:4]:
        assert re.search(rf"^{_hex(record)[:12]}\s+regular\s", section, re.M), section

    out = _ok(project.stack.run_docker("builder", "prune", "-f"))
    assert "Deleted build cache objects:" in out, out
    for record in stale:
        assert _hex(record) in out
        assert not project.exists(record)
    reclaimed = re.search(r"^Total reclaimed space: (\S+)$", out, re.M)
    assert reclaimed and reclaimed.group(1) != "0B", out
    for record in current:
        assert project.exists(record)
    run = project.stack.run_docker("run", "--rm", project.tag, "cat", "/copy.txt")
    assert _ok(run) == "two\ntwo\n"

    # The current chain is still the cache: a rebuild makes nothing new.
    again, out = project.build("two\n")
    assert again == current[0]
    assert out.count("Using cache") == 4, out
    rows = _df_rows(project.stack)
    assert not any(_hex(r) in rows for r in stale)

    out = _ok(project.stack.run_docker("builder", "prune", "-a", "-f"))
    assert out.strip().endswith("Total reclaimed space: 0B"), out
    assert all(project.exists(r) for r in current)


def test_a_container_keeps_its_record_and_the_chain_under_it(project: Project) -> None:
    stale, _ = _two_builds(project)
    name = f"hgt-bcache-{project.token}"
    _ok(project.stack.run_docker("create", "--name", name, _hex(stale[1]), "true"))
    try:
        rows = _df_rows(project.stack)
        assert rows[_hex(stale[1])]["InUse"] is True
        assert rows[_hex(stale[1])]["Shared"] is False
        assert rows[_hex(stale[0])]["InUse"] is False
        verbose = _ok(project.stack.run_docker("system", "df", "-v"))
        assert re.search(rf"^{_hex(stale[1])[:12]}\*\s", verbose, re.M), verbose
        out = _ok(project.stack.run_docker("builder", "prune", "-f"))
        assert _hex(stale[0]) in out and _hex(stale[1]) not in out
        assert project.exists(stale[1]) and not project.exists(stale[0])
    finally:
        _ok(project.stack.run_docker("rm", name))
    out = _ok(project.stack.run_docker("builder", "prune", "-f"))
    assert _hex(stale[1]) in out
    assert not project.exists(stale[1])


def test_system_prune_leaves_no_build_cache(project: Project) -> None:
    # As with dockerd's classic builder, the image prune (which runs before
    # the build cache's) already takes the old chain: its last step is a
    # dangling image, and its untagged parents go with it. The build cache
    # prune after it must still answer, or the CLI fails.
    stale, current = _two_builds(project)
    out = _ok(project.stack.run_docker("system", "prune", "-f"))
    assert all(f"deleted: {r}" in out for r in stale), out
    assert re.search(r"^Total reclaimed space: \S+$", out, re.M), out
    assert not any(project.exists(r) for r in stale)
    assert all(project.exists(r) for r in current)
    assert not any(_hex(r) in _df_rows(project.stack) for r in stale)


def test_docker_py_prune_builds(project: Project) -> None:
    import docker

    stale, current = _two_builds(project)
    api = project.stack.docker_client().api
    with pytest.raises(docker.errors.APIError) as err:
        api.prune_builds(filters={"dangling": "true"})
    assert err.value.status_code == 400
    assert "failed to prune build cache: invalid filter 'dangling'" in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        api.prune_builds(keep_storage="lots")
    assert err.value.status_code == 400

    # A filter on the parent picks the old RUN alone; its parent stays.
    found = api.prune_builds(filters={"parent": stale[1]})
    assert found["CachesDeleted"] == [_hex(stale[0])]
    assert found["SpaceReclaimed"] > 0
    assert project.exists(stale[1]) and not project.exists(stale[0])

    found = api.prune_builds(filters={"description": "no such step"})
    assert found == {"CachesDeleted": None, "SpaceReclaimed": 0}
    found = api.prune_builds()
    assert _hex(stale[1]) in found["CachesDeleted"]
    assert found["SpaceReclaimed"] > 0
    assert all(project.exists(r) for r in current)


def test_df_by_type_and_before_1_42(project: Project) -> None:
    import docker

    stale, _ = _two_builds(project)
    api = project.stack.docker_client().api
    resp = api._get(api._url("/system/df"), params={"type": "build-cache"})
    only = api._result(resp, json=True)
    assert only["Images"] is None and only["Containers"] is None and only["Volumes"] is None
    assert _hex(stale[0]) in {row["ID"] for row in only["BuildCache"]}
    resp = api._get(api._url("/system/df"), params={"type": "layers"})
    assert resp.status_code == 400
    assert resp.json()["message"] == "unknown object type: layers"

    old = docker.APIClient(base_url=project.stack.docker_host, version="1.41").df()
    rows = {row["ID"]: row for row in old["BuildCache"]}
    assert rows[_hex(stale[0])]["Parent"] == _hex(stale[1])
    assert "Parents" not in rows[_hex(stale[0])]
    assert old["BuilderSize"] == sum(row["Size"] for row in old["BuildCache"])
    assert old["Images"] is not None  # `type` is a 1.42 parameter
