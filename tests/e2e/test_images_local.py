"""Issue 3, the local half: save/load, import/export, images/inspect/history,
system df, rmi/prune and the image events, driven through the gateway by the
real docker CLI and docker-py, on one stack for this module (/tmp/hgt-arc-*,
bridge hga<rand>, subnets from 10.207.0.0/16).

Archives written by other tools are made at test time: by skopeo always,
and by Debian's dockerd 20.10 when it is installed (that case is skipped
otherwise); nothing binary is checked in."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.busybox import (
    LayerBuilder,
    build_image,
    busybox_layer,
    write_docker_archive,
)
from tests.support.dockercli import requires_docker_cli
from tests.support.stack import DOCKER, Stack, stack_available


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return str(result.stdout)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    with Stack("arc", bridge_prefix="hga", subnet_pool="10.207.0.0/16:24") as s:
        yield s


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hgt-arc-w-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def busybox(stack: Stack, busybox_docker_archive: Path) -> str:
    stack.load_image(busybox_docker_archive)
    return "busybox:latest"


def _image_id(stack: Stack, ref: str) -> str:
    return _ok(stack.run_docker("image", "inspect", "--format", "{{.Id}}", ref)).strip()


def _layer_dirs(stack: Stack) -> set[str]:
    return {p.name for p in (stack.root / "image" / "layers").iterdir()}


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


# ---------------------------------------------------------------- save / load


def test_save_several_then_load_keeps_ids(stack: Stack, busybox: str, work: Path) -> None:
    extra = build_image(
        [LayerBuilder().file("etc/saved", b"saved\n").build()], cmd=["cat", "/etc/saved"]
    )
    stack.load_image(write_docker_archive(extra, work / "extra.tar", ["hgt/saved:1"]))
    ids = {ref: _image_id(stack, ref) for ref in (busybox, "hgt/saved:1")}
    out = work / "both.tar"
    _ok(stack.run_docker("save", "-o", str(out), busybox, "hgt/saved:1"))
    names = _members(out)
    for name in ("manifest.json", "index.json", "oci-layout"):
        assert name in names
    assert all(
        n.startswith("blobs") or n in ("manifest.json", "index.json", "oci-layout", "repositories")
        for n in names
    ), names
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert sorted(t for m in manifest for t in m["RepoTags"]) == ["busybox:latest", "hgt/saved:1"]
    assert {d["annotations"]["io.containerd.image.name"] for d in index["manifests"]} == {
        "docker.io/library/busybox:latest",
        "docker.io/hgt/saved:1",
    }
    # The OCI side is a real image layout: skopeo reads it (skopeo 1.9 finds a
    # manifest by its ref.name only, which must be unique: one image here).
    single = work / "single.tar"
    _ok(stack.run_docker("save", "-o", str(single), "hgt/saved:1"))
    layout = work / "layout"
    layout.mkdir()
    with tarfile.open(single) as tar:
        tar.extractall(layout, filter="data")
    sk = work / "sk-copy.tar"
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            f"oci:{layout}:1",
            f"docker-archive:{sk}:hgt/via-skopeo:1",
        ],
        check=True,
        timeout=60,
    )
    _ok(stack.run_docker("rmi", "hgt/saved:1"))
    loaded = _ok(stack.run_docker("load", "-i", str(out)))
    assert "Loaded image: busybox:latest" in loaded and "Loaded image: hgt/saved:1" in loaded
    assert {ref: _image_id(stack, ref) for ref in ids} == ids
    # A pipe, both ends streaming: save | load.
    _ok(stack.run_docker("rmi", "hgt/saved:1"))
    piped = subprocess.run(
        f"{DOCKER} save hgt/via-skopeo:1 2>&1 | cat >/dev/null; "
        f"{DOCKER} load -i {sk} && {DOCKER} save hgt/via-skopeo:1 | "
        f"{DOCKER} load",
        shell=True,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Loaded image: hgt/via-skopeo:1" in piped.stdout, piped.stderr
    assert _image_id(stack, "hgt/via-skopeo:1") == ids["hgt/saved:1"]
    _ok(stack.run_docker("rmi", "hgt/via-skopeo:1"))


def test_load_skopeo_docker_and_oci_archives(
    stack: Stack, busybox_oci_layout: Path, busybox_image: object, work: Path
) -> None:
    da, oa = work / "sk-da.tar", work / "sk-oci.tar"
    for dest in (f"docker-archive:{da}:hgt/skopeo-da:1", f"oci-archive:{oa}:hgt/skopeo-oci:1"):
        subprocess.run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--quiet",
                f"oci:{busybox_oci_layout}:latest",
                dest,
            ],
            check=True,
            timeout=60,
        )
    assert "Loaded image: hgt/skopeo-da:1" in _ok(stack.run_docker("load", "-i", str(da)))
    with open(oa, "rb") as fh:
        out = subprocess.run(
            [DOCKER, "load"], stdin=fh, env=stack.env, capture_output=True, text=True, timeout=60
        )
    assert "Loaded image: hgt/skopeo-oci:1" in _ok(out)
    want = busybox_image.id  # type: ignore[attr-defined]
    assert _image_id(stack, "hgt/skopeo-da:1") == want == _image_id(stack, "hgt/skopeo-oci:1")
    _ok(stack.run_docker("rmi", "hgt/skopeo-da:1", "hgt/skopeo-oci:1"))


@contextlib.contextmanager
def _dockerd() -> Iterator[str]:
    """Debian's dockerd on a private root, socket and exec root, with no
    bridge and no iptables rules (it only saves and loads here)."""
    from benchmarks.dockerd import _clean, _stop, _wait

    tmp = Path(tempfile.mkdtemp(prefix="hgt-arc-d-", dir="/tmp"))
    sock, log = tmp / "d.sock", tmp / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(tmp / "data"),
                "--exec-root",
                str(tmp / "x"),
                "--pidfile",
                str(tmp / "d.pid"),
                "-H",
                f"unix://{sock}",
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--log-level",
                "error",
                "--storage-driver",
                "overlay2",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait(sock, proc, log)
        yield f"unix://{sock}"
    finally:
        _stop(proc)
        _clean(tmp, "hga-none")


def test_archives_to_and_from_dockerd_2010(
    stack: Stack, busybox: str, work: Path, busybox_docker_archive: Path
) -> None:
    if shutil.which("dockerd") is None:
        pytest.skip("dockerd (Debian's docker.io) is not installed")
    env = {**stack.env}
    env.pop("DOCKER_HOST")
    want = _image_id(stack, busybox)
    with _dockerd() as host:

        def dockerd(*args: str) -> str:
            return _ok(
                subprocess.run(
                    [DOCKER, "-H", host, *args],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            )

        version = dockerd("version", "--format", "{{.Server.Version}}")
        dockerd("load", "-i", str(busybox_docker_archive))
        dockerd("tag", busybox, "hgt/from-dockerd:1")
        theirs = work / "dockerd-save.tar"
        dockerd("save", "-o", str(theirs), "hgt/from-dockerd:1")
        # What hangu writes, dockerd loads (with the same id).
        ours = work / "hangu-save.tar"
        _ok(stack.run_docker("tag", busybox, "hgt/to-dockerd:1"))
        _ok(stack.run_docker("save", "-o", str(ours), "hgt/to-dockerd:1"))
        assert "Loaded image: hgt/to-dockerd:1" in dockerd("load", "-i", str(ours))
        assert (
            dockerd("image", "inspect", "--format", "{{.Id}}", "hgt/to-dockerd:1").strip() == want
        )
    assert version.startswith("20.10"), version
    assert "manifest.json" in _members(theirs) and "index.json" not in _members(theirs)
    assert "Loaded image: hgt/from-dockerd:1" in _ok(stack.run_docker("load", "-i", str(theirs)))
    assert _image_id(stack, "hgt/from-dockerd:1") == want
    _ok(stack.run_docker("rmi", "hgt/from-dockerd:1", "hgt/to-dockerd:1"))


def test_docker_py_save_and_load(stack: Stack, busybox: str) -> None:
    client = stack.docker_client()
    try:
        image = client.images.get(busybox)
        data = b"".join(image.save(named=True))
        assert "manifest.json" in tarfile.open(fileobj=io.BytesIO(data)).getnames()
        client.images.get(busybox).tag("hgt/py-saved", "2")
        loaded = client.images.load(data)
        assert [i.id for i in loaded] == [image.id]
    finally:
        client.images.remove("hgt/py-saved:2")
        client.close()


# ---------------------------------------------------------------- import / export

CHANGES = [
    'CMD ["echo", "imported"]',
    'ENTRYPOINT ["/bin/busybox"]',
    "ENV A=1 B=two",
    "EXPOSE 8080/udp 80",
    "LABEL hgt.import=yes",
    "USER nobody",
    "VOLUME /data",
    "WORKDIR /work",
]


def test_import_from_stdin_with_changes_and_message(stack: Stack, work: Path) -> None:
    rootfs = busybox_layer()
    args = ["import", "--message", "hgt import"]
    for change in CHANGES:
        args += ["--change", change]
    out = stack.run_docker(*args, "-", "hgt/imported:1", input=rootfs)
    assert out.returncode == 0, out.stderr
    image_id = out.stdout.decode().strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    doc = json.loads(_ok(stack.run_docker("image", "inspect", "hgt/imported:1")))[0]
    assert doc["Id"] == image_id and doc["Comment"] == "hgt import"
    cfg = doc["Config"]
    assert cfg["Cmd"] == ["echo", "imported"] and cfg["Entrypoint"] == ["/bin/busybox"]
    assert cfg["Env"] == ["A=1", "B=two"] and cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"8080/udp": {}, "80/tcp": {}}
    assert cfg["Labels"] == {"hgt.import": "yes"} and cfg["Volumes"] == {"/data": {}}
    assert cfg["WorkingDir"] == "/work"
    history = _ok(stack.run_docker("history", "--format", "{{.Comment}}", "hgt/imported:1"))
    assert history.strip() == "hgt import"
    # The imported image runs (as root: nobody cannot write the volume's parent).
    run = _ok(stack.run_docker("run", "--rm", "-u", "0", "hgt/imported:1"))
    assert run == "imported\n"
    _ok(stack.run_docker("rmi", "hgt/imported:1"))


def test_import_from_file(stack: Stack, work: Path) -> None:
    path = work / "rootfs.tar"
    path.write_bytes(LayerBuilder().dir("etc").file("etc/from-file", b"f\n").build())
    image_id = _ok(stack.run_docker("import", str(path), "hgt/from-file")).strip()
    doc = json.loads(_ok(stack.run_docker("image", "inspect", "hgt/from-file:latest")))[0]
    assert doc["Id"] == image_id and doc["Comment"].startswith("Imported from")
    assert doc["Config"]["Cmd"] is None and doc["Os"] == "linux"
    _ok(stack.run_docker("rmi", "hgt/from-file"))


def test_export_streams_the_container_filesystem(stack: Stack, busybox: str, work: Path) -> None:
    name = "hgt-exp-" + secrets.token_hex(3)
    _ok(
        stack.run_docker(
            "run", "--name", name, busybox, "sh", "-c", "echo exported > /marker && rm /etc/group"
        )
    )
    try:
        proc = subprocess.run(
            [DOCKER, "export", name], env=stack.env, capture_output=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r|") as tar:
            seen = {}
            for member in tar:
                # busybox's applets are hard links: the first one carries the data.
                if member.isfile():
                    seen[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
                else:
                    seen.setdefault(member.name, b"")
        assert seen["marker"] == b"exported\n"
        assert "bin/busybox" in seen and max(len(v) for v in seen.values()) > 100_000
        assert "etc/passwd" in seen and "etc/group" not in seen
        assert not any(n.startswith(".wh.") or "/.wh." in n for n in seen)
        _ok(stack.run_docker("export", "-o", str(work / "exp.tar"), name))
        assert "marker" in _members(work / "exp.tar")
    finally:
        stack.run_docker("rm", "-f", name)


# ---------------------------------------------------------------- list / inspect / history


@pytest.fixture(scope="module")
def family(stack: Stack, busybox: str, work: Path) -> dict[str, str]:
    """hgt/child:1 (busybox's layer + one of its own, labelled), then
    hgt/other:1 (one layer, another label), then one untagged image."""
    base = busybox_layer()
    child = build_image(
        [base, LayerBuilder().file("child", b"c" * 5000).build()],
        extra_config={"Labels": {"hgt.role": "child"}},
    )
    other = build_image(
        [LayerBuilder().file("other", b"o" * 3000).build()],
        extra_config={"Labels": {"hgt.role": "other", "hgt.x": "1"}},
    )
    loose = build_image([LayerBuilder().file("loose", b"l" * 1000).build()])
    ids = {}
    for name, image, tags in (
        ("child", child, ["hgt/child:1"]),
        ("other", other, ["hgt/other:1"]),
        ("loose", loose, []),
    ):
        stack.load_image(write_docker_archive(image, work / f"{name}.tar", tags))
        ids[name] = image.id
        time.sleep(0.01)  # distinct load times for before/since
    return ids


def _listed(stack: Stack, *args: str) -> list[str]:
    return _ok(stack.run_docker("images", "--format", "{{.Repository}}:{{.Tag}}", *args)).split()


def test_images_filters(stack: Stack, family: dict[str, str]) -> None:
    assert _listed(stack, "--filter", "dangling=true") == ["<none>:<none>"]
    assert "<none>:<none>" not in _listed(stack, "--filter", "dangling=false")
    assert _listed(stack, "--filter", "label=hgt.role=child") == ["hgt/child:1"]
    assert _listed(stack, "--filter", "label=hgt.x") == ["hgt/other:1"]
    wild = _listed(stack, "--filter", "reference=hgt/*")
    assert {"hgt/other:1", "hgt/child:1"} <= set(wild)
    assert all(w.startswith("hgt/") for w in wild)
    assert _listed(stack, "--filter", "reference=hgt/child:*") == ["hgt/child:1"]
    since = _listed(stack, "--filter", "since=hgt/child:1")
    # (Equal `created` times: dockerd's order among them is arbitrary too.)
    assert {"<none>:<none>", "hgt/other:1"} <= set(since) and "hgt/child:1" not in since
    before = _listed(stack, "--filter", "before=hgt/other:1")
    assert "hgt/child:1" in before and "hgt/other:1" not in before
    assert "<none>:<none>" not in before
    bad = stack.run_docker("images", "--filter", "nosuch=1")
    assert bad.returncode != 0 and "invalid filter 'nosuch'" in bad.stderr


def test_images_flags(stack: Stack, family: dict[str, str]) -> None:
    quiet = _ok(stack.run_docker("images", "-q")).split()
    assert family["child"].removeprefix("sha256:")[:12] in quiet
    assert all(len(q) == 12 for q in quiet)
    full = _ok(stack.run_docker("images", "-q", "--no-trunc")).split()
    assert family["other"] in full
    table = _ok(stack.run_docker("images", "--digests", "--no-trunc"))
    header = table.splitlines()[0].split()
    assert header[:4] == ["REPOSITORY", "TAG", "DIGEST", "IMAGE"]
    assert re.search(rf"^hgt/child\s+1\s+<none>\s+{family['child']}\s", table, re.M), table
    assert set(_ok(stack.run_docker("images", "-a", "-q")).split()) >= set(quiet)
    client = stack.docker_client()
    try:
        listed = client.images.list(filters={"label": "hgt.role=other"})
        assert [i.id for i in listed] == [family["other"]]
        raw = client.api.images(all=True)
        entry = next(i for i in raw if i["Id"] == family["child"])
        assert entry["RepoTags"] == ["hgt/child:1"] and entry["Labels"] == {"hgt.role": "child"}
        assert isinstance(entry["Created"], int) and isinstance(entry["Size"], int)
        assert entry["SharedSize"] == -1 and entry["Containers"] == -1
    finally:
        client.close()


def test_inspect_fields(stack: Stack, family: dict[str, str], busybox_image: object) -> None:
    doc = json.loads(_ok(stack.run_docker("image", "inspect", "hgt/child:1")))[0]
    types = {
        "Id": str,
        "RepoTags": list,
        "RepoDigests": list,
        "Parent": str,
        "Comment": str,
        "Created": str,
        "Config": dict,
        "Architecture": str,
        "Os": str,
        "Size": int,
        "RootFS": dict,
        "Metadata": dict,
    }
    for key, kind in types.items():
        assert isinstance(doc[key], kind), (key, doc[key])
    assert doc["Id"] == family["child"] and doc["RepoTags"] == ["hgt/child:1"]
    assert doc["Created"] == "2024-01-01T00:00:00Z"
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 2
    assert doc["RootFS"]["Layers"][0] == busybox_image.diff_ids[0]  # type: ignore[attr-defined]
    assert doc["Size"] == 1982474 + 5000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", doc["Metadata"]["LastTagTime"])
    assert doc["Config"]["Labels"] == {"hgt.role": "child"}
    client = stack.docker_client()
    try:
        attrs = client.images.get("hgt/child:1").attrs
        assert attrs["Id"] == doc["Id"] and attrs["Size"] == doc["Size"]
    finally:
        client.close()
    missing = stack.run_docker("image", "inspect", "hgt/nosuch:1")
    assert missing.returncode == 1 and "No such image: hgt/nosuch:1" in missing.stderr


def test_history_sizes(stack: Stack, family: dict[str, str]) -> None:
    rows = _ok(
        stack.run_docker("history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "hgt/child:1")
    ).splitlines()
    assert rows == [
        f"{family['child'].removeprefix('sha256:')[:12]}|hangu test layer 1|5kB",
        "<missing>|hangu test layer 0|1.98MB",
    ]
    full = _ok(stack.run_docker("history", "--no-trunc", "hgt/child:1"))
    assert family["child"] in full
    client = stack.docker_client()
    try:
        hist = client.images.get("hgt/child:1").history()
        assert [h["Size"] for h in hist] == [5000, 1982474]
        assert hist[0]["Tags"] == ["hgt/child:1"] and hist[1]["Id"] == "<missing>"
    finally:
        client.close()


# `docker system df` sizes with 3 significant digits ("1.99MB") since CLI 23.0
# (docker/go-units v0.5.0); 20.10 prints "1.987MB".
@requires_docker_cli("23.0")
def test_system_df_shared_size(stack: Stack, family: dict[str, str], busybox: str) -> None:
    client = stack.docker_client()
    try:
        df = client.df()
    finally:
        client.close()
    rows = {i["Id"]: i for i in df["Images"]}
    assert rows[family["child"]]["SharedSize"] == 1982474  # busybox's layer
    assert rows[family["other"]]["SharedSize"] == 0
    assert rows[family["child"]]["Size"] == 1982474 + 5000
    sizes = [r["Size"] - r["SharedSize"] for r in rows.values()]
    assert df["LayersSize"] == sum(sizes) + 1982474
    table = _ok(stack.run_docker("system", "df", "-v"))
    assert re.search(
        r"^hgt/child\s+1\s+[0-9a-f]{12}\s+.+?\s+1\.99MB\s+1\.982MB\s+5kB\s+0$", table, re.M
    ), table


# ---------------------------------------------------------------- rmi / prune


def test_rmi_untags_first_refuses_in_use_and_deletes_layers(
    stack: Stack, busybox: str, work: Path
) -> None:
    image = build_image([LayerBuilder().file("rmi", secrets.token_bytes(2000)).build()])
    stack.load_image(write_docker_archive(image, work / "rmi.tar", ["hgt/rmi:1"]))
    _ok(stack.run_docker("tag", "hgt/rmi:1", "hgt/rmi:2"))
    layer = image.diff_ids[0].removeprefix("sha256:")
    assert layer in _layer_dirs(stack)
    out = _ok(stack.run_docker("rmi", "hgt/rmi:1"))
    assert out == "Untagged: hgt/rmi:1\n"
    short = image.id.removeprefix("sha256:")[:12]
    cid = _ok(stack.run_docker("create", "hgt/rmi:2", "true")).strip()
    refused = stack.run_docker("rmi", "hgt/rmi:2")
    assert refused.returncode == 1
    assert (
        f"Error response from daemon: conflict: unable to remove repository reference "
        f'"hgt/rmi:2" (must force) - container {cid[:12]} is using its referenced image '
        f"{short}"
    ) in refused.stderr
    by_id = stack.run_docker("rmi", short)
    assert (
        f"conflict: unable to delete {short} (must be forced) - image is being used by "
        f"stopped container {cid[:12]}"
    ) in by_id.stderr
    client = stack.docker_client()
    try:
        import docker

        with pytest.raises(docker.errors.APIError) as err:
            client.images.remove("hgt/rmi:2")
        assert err.value.status_code == 409
    finally:
        client.close()
    # Forced, as dockerd: untagged and deleted; the layer stays on disk while
    # the container's root filesystem stands on it.
    forced = _ok(stack.run_docker("rmi", "-f", "hgt/rmi:2"))
    assert forced.splitlines()[:2] == ["Untagged: hgt/rmi:2", f"Deleted: {image.id}"]
    assert layer in _layer_dirs(stack)
    _ok(stack.run_docker("rm", cid))
    assert layer not in _layer_dirs(stack)
    # Not in use: deleted with its layers, which `docker rmi` lists too.
    two = build_image([busybox_layer(), LayerBuilder().file("top", b"t" * 100).build()])
    stack.load_image(write_docker_archive(two, work / "rmi2.tar", ["hgt/rmi:3"]))
    top_chain = stack.root / "image" / "layers"
    before = _layer_dirs(stack)
    gone = _ok(stack.run_docker("rmi", "hgt/rmi:3"))
    lines = gone.splitlines()
    assert lines[:2] == ["Untagged: hgt/rmi:3", f"Deleted: {two.id}"] and len(lines) == 3
    removed = before - _layer_dirs(stack)
    assert len(removed) == 1 and lines[2] == "Deleted: sha256:" + removed.pop()
    assert top_chain.is_dir()
    # Busybox's layer stays: other images still use it.
    assert busybox_layer_id(two) in _layer_dirs(stack)
    assert _image_id(stack, busybox)


def busybox_layer_id(image: object) -> str:
    return str(image.diff_ids[0]).removeprefix("sha256:")  # type: ignore[attr-defined]


def test_prune_dangling_all_until_label(stack: Stack, busybox: str, work: Path) -> None:
    made = {}
    for name, labels, tag in (
        ("d1", {}, []),
        ("keep", {"hgt.keep": "yes"}, ["hgt/p-keep:1"]),
        ("go", {"hgt.keep": "no"}, ["hgt/p-go:1"]),
    ):
        image = build_image(
            [LayerBuilder().file(name, secrets.token_bytes(4000)).build()],
            extra_config={"Labels": labels} if labels else None,
        )
        stack.load_image(write_docker_archive(image, work / f"p-{name}.tar", tag))
        made[name] = image.id
    # Every test image is created 2024-01-01: until=<2023> keeps them all.
    client = stack.docker_client()
    try:
        kept = client.images.prune(filters={"until": "2023-01-01T00:00:00Z", "dangling": False})
        assert kept["ImagesDeleted"] is None and kept["SpaceReclaimed"] == 0
        expected = sum(i.attrs["Size"] for i in client.images.list(filters={"dangling": True}))
        dangling = client.images.prune()
        deleted = [d.get("Deleted") for d in dangling["ImagesDeleted"] or []]
        assert made["d1"] in deleted and dangling["SpaceReclaimed"] == expected >= 4000
        assert made["keep"] not in deleted
    finally:
        client.close()
    out = _ok(
        stack.run_docker(
            "image",
            "prune",
            "-a",
            "-f",
            "--filter",
            "label!=hgt.keep=yes",
            "--filter",
            "label=hgt.keep",
            "--filter",
            "until=1h",
        )
    )
    assert "untagged: hgt/p-go:1" in out and f"deleted: {made['go']}" in out
    assert "Total reclaimed space: 4kB" in out
    assert _image_id(stack, "hgt/p-keep:1") == made["keep"]
    _ok(stack.run_docker("rmi", "hgt/p-keep:1"))


# ---------------------------------------------------------------- events


def test_import_load_save_events(stack: Stack, busybox: str, work: Path) -> None:
    since = str(time.time() - 1)
    imported = stack.run_docker(
        "import", "-", "hgt/ev:1", input=LayerBuilder().file("e", b"e").build()
    )
    assert imported.returncode == 0, imported.stderr
    image_id = imported.stdout.decode().strip()
    out = work / "ev.tar"
    _ok(stack.run_docker("save", "-o", str(out), "hgt/ev:1"))
    _ok(stack.run_docker("load", "-i", str(out)))
    until = str(time.time() + 1)
    events = _ok(
        stack.run_docker(
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "type=image",
            "--format",
            "{{json .}}",
        )
    )
    seen = [(e["Action"], e["Actor"]["ID"]) for e in map(json.loads, events.splitlines())]
    for action in ("import", "save", "load"):
        assert (action, image_id) in seen, seen
    _ok(stack.run_docker("rmi", "hgt/ev:1"))


def test_no_stray_files(stack: Stack) -> None:
    """Staging and ingest dirs are empty after all of the above."""
    root = stack.root / "image"
    assert list((root / "tmp").iterdir()) == []
    assert list((root / "content" / "ingest").iterdir()) == []
    assert os.path.isdir(root / "layers")


def test_history_walks_local_parents(stack: Stack, busybox: str) -> None:
    name = "hgt-hist-" + secrets.token_hex(3)
    _ok(stack.run_docker("run", "--name", name, busybox, "sh", "-c", "echo x > /h"))
    try:
        child = _ok(stack.run_docker("commit", "-m", "hist", name, "hgt/hist:1")).strip()
    finally:
        stack.run_docker("rm", "-f", name)
    rows = _ok(
        stack.run_docker("history", "--no-trunc", "--format", "{{.ID}}|{{.Comment}}", "hgt/hist:1")
    ).splitlines()
    # As dockerd: the top row is the image, the next its local parent's id.
    assert rows == [f"{child}|hist", f"{_image_id(stack, busybox)}|"]
    parent = _image_id(stack, busybox)
    refused = stack.run_docker("rmi", "-f", parent)
    assert (
        f"conflict: unable to delete {parent.removeprefix('sha256:')[:12]} (cannot be "
        f"forced) - image has dependent child images"
    ) in refused.stderr, refused.stderr
    _ok(stack.run_docker("rmi", "hgt/hist:1"))


def test_untagged_parent_shows_only_with_all(stack: Stack, busybox: str, work: Path) -> None:
    parent = build_image([busybox_layer()], extra_config={"Labels": {"hgt.par": "1"}})
    stack.load_image(write_docker_archive(parent, work / "par.tar", ["hgt/par:1"]))
    name = "hgt-par-" + secrets.token_hex(3)
    _ok(stack.run_docker("run", "--name", name, "hgt/par:1", "true"))
    try:
        kid = _ok(stack.run_docker("commit", name, "hgt/kid:1")).strip()
    finally:
        stack.run_docker("rm", "-f", name)
    # Untagging the parent keeps it (it has a child): an intermediate image.
    assert _ok(stack.run_docker("rmi", "hgt/par:1")) == "Untagged: hgt/par:1\n"
    short = parent.id.removeprefix("sha256:")[:12]
    assert short not in _ok(stack.run_docker("images", "-q")).split()
    assert short in _ok(stack.run_docker("images", "-a", "-q")).split()
    assert short not in _ok(stack.run_docker("images", "-q", "-f", "dangling=true")).split()
    client = stack.docker_client()
    try:
        assert parent.id in [i.id for i in client.images.list(all=True)]
        assert parent.id not in [i.id for i in client.images.list()]
    finally:
        client.close()
    out = _ok(stack.run_docker("rmi", "hgt/kid:1"))
    # As dockerd: the untagged parent goes with its last child (its only
    # layer is busybox's, which stays).
    assert f"Deleted: {kid}" in out and out.splitlines()[-1] == f"Deleted: {parent.id}"
    assert short not in _ok(stack.run_docker("images", "-a", "-q")).split()


def test_docker_py_import_with_changes(stack: Stack) -> None:
    client = stack.docker_client()
    try:
        tar = LayerBuilder().dir("etc").file("etc/py", b"py\n").build()
        out = client.api.import_image_from_data(
            tar, repository="hgt/py-import", tag="1", changes=["ENV PY=1", "LABEL via=py"]
        )
        image_id = json.loads(out)["status"] if isinstance(out, str) else out["status"]
        image = client.images.get("hgt/py-import:1")
        assert image.id == image_id and image.labels == {"via": "py"}
        assert image.attrs["Config"]["Env"] == ["PY=1"]
    finally:
        client.images.remove("hgt/py-import:1")
        client.close()
