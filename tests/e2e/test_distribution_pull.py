"""Pulling through the gateway with the real docker CLI and docker-py
(issue 3, "Pull" and "Names"): by tag, by digest, --all-tags, --platform,
schema 2 / OCI manifests with gzip, zstd and uncompressed layers, Docker's
progress lines, "Already exists", a corrupted blob, a pull interrupted by
its client and by a killed image service, reference normalisation, Docker
Hub through a registry mirror with its token flow, and certs.d TLS.

One stack for the module (bridge hgd*, pool 10.206.0.0/16), started with
HANGU_REGISTRY_MIRRORS pointing docker.io at a local token-auth registry."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import busybox as bb
from tests.support.layouts import random_image, write_layout
from tests.support.registry import Registry, make_ca, running_registry, throttled_proxy
from tests.support.stack import DOCKER, Stack, stack_available
from tests.support.token_server import ISSUER, SERVICE, TokenServer, running_token_server


@dataclass
class Env:
    stack: Stack
    reg: Registry  # plain HTTP registry
    hub: Registry  # token-auth registry, docker.io's mirror
    tokens: TokenServer
    tls: Registry  # HTTPS, certificate from `ca`
    ca: tuple[Path, Path]
    images: dict[str, bb.Image]
    digests: dict[str, str]  # repo -> manifest digest in `reg`


def _label(image: bb.Image, value: str) -> bb.Image:
    return bb.build_image(image.layers, extra_config={"Labels": {"hgt": value}})


def _digest(reg: Registry, ref: str) -> str:
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reg.host}/{ref}"],
        check=True,
        capture_output=True,
    )
    return bb.sha256(out.stdout)


@pytest.fixture(scope="module")
def env(fixture_dir: Path, busybox_image: bb.Image, busybox_oci_layout: Path) -> Iterator[Env]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    work = fixture_dir / "dist-pull"
    work.mkdir()
    base = busybox_image.layers[0]
    images = {
        "busybox": busybox_image,
        "v2s2": _label(busybox_image, "v2s2"),
        "zstd": _label(busybox_image, "zstd"),
        "raw": _label(busybox_image, "raw"),
        "tag-a": _label(busybox_image, "a"),
        "tag-b": _label(busybox_image, "b"),
        "two": bb.build_image([base, bb.LayerBuilder().dir("two").file("two/f", b"two\n").build()]),
        "amd64": bb.build_image([base], arch="amd64", extra_config={"Labels": {"p": "amd"}}),
        "arm64": bb.build_image([base], arch="arm64", extra_config={"Labels": {"p": "arm"}}),
        "big1": random_image(3, 3 << 20, label="big1"),
        "big2": random_image(3, 3 << 20, label="big2"),
    }
    ca = make_ca(work)
    with contextlib.ExitStack() as stack_:
        reg = stack_.enter_context(running_registry())
        tokens = stack_.enter_context(
            running_token_server(work, {"hangu": "t0ken"}, anonymous_pull=True)
        )
        hub = stack_.enter_context(
            running_registry(
                token_auth={
                    "realm": tokens.url,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "cert": str(tokens.cert),
                }
            )
        )
        hub.credentials = ("hangu", "t0ken")
        tls = stack_.enter_context(running_registry(tls=True, ca=ca))
        reg.push(busybox_oci_layout, "busybox")
        hub.push(busybox_oci_layout, "library/busybox")
        tls.push(busybox_oci_layout, "busybox")
        for name, repo, tag in (
            ("two", "two", "latest"),
            ("tag-a", "tag", "a"),
            ("tag-b", "tag", "b"),
            ("big1", "big", "big1"),
            ("big2", "big", "big2"),
        ):
            reg.push(bb.write_oci_layout(images[name], work / name), repo, tag)
        reg.push(
            bb.write_oci_layout(images["v2s2"], work / "v2s2"), "v2s2", extra=("--format", "v2s2")
        )
        reg.push(write_layout(images["zstd"], work / "zstd", "zstd"), "zstd")
        reg.push(write_layout(images["raw"], work / "raw", "none"), "raw")
        multi = bb.write_oci_index_layout(
            {"linux/amd64": images["amd64"], "linux/arm64/v8": images["arm64"]}, work / "multi"
        )
        reg.push(multi, "multi", extra=("--all",))
        digests = {name: _digest(reg, f"{name}:latest") for name in ("busybox", "v2s2")}
        stack = Stack(
            "dist",
            bridge_prefix="hgd",
            subnet_pool="10.206.0.0/16",
            env={"HANGU_REGISTRY_MIRRORS": f"http://{hub.host}"},
        )
        with stack:
            yield Env(stack, reg, hub, tokens, tls, ca, images, digests)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _image_id(env: Env, ref: str) -> str:
    return _ok(env.stack.run_docker("image", "inspect", "--format", "{{.Id}}", ref)).strip()


def _state(stack: Stack) -> dict[str, list[str]]:
    """What the image service keeps on disk, to compare before and after."""
    root = stack.root / "image"

    def ls(rel: str) -> list[str]:
        path = root / rel
        return sorted(os.listdir(path)) if path.is_dir() else []

    return {
        rel: ls(rel)
        for rel in ("content/blobs/sha256", "content/ingest", "layers", "l", "tmp", "pulls")
    }


def _wait_state(stack: Stack, want: dict[str, list[str]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _state(stack) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(stack) == want


# ---------------------------------------------------------------- pulls


def test_pull_by_tag_prints_dockers_progress(env: Env) -> None:
    ref = f"{env.reg.host}/busybox"
    image = env.images["busybox"]
    short = image.manifest()[1]["layers"][0]["digest"].removeprefix("sha256:")[:12]
    out = _ok(env.stack.run_docker("pull", ref))
    assert out.splitlines() == [
        "Using default tag: latest",
        "latest: Pulling from busybox",
        f"{short}: Pulling fs layer",
        f"{short}: Verifying Checksum",
        f"{short}: Download complete",
        f"{short}: Pull complete",
        f"Digest: {env.digests['busybox']}",
        f"Status: Downloaded newer image for {ref}:latest",
        f"{ref}:latest",
    ], out
    assert _image_id(env, ref) == image.id
    again = _ok(env.stack.run_docker("pull", ref))
    assert f"Status: Image is up to date for {ref}:latest" in again
    # The registry's digest is recorded (docker images --digests, RepoDigests).
    digests = _ok(
        env.stack.run_docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
    )
    assert json.loads(digests) == [f"{ref}@{env.digests['busybox']}"]


def test_pull_shares_present_layers(env: Env) -> None:
    """The busybox layer is there already: "Already exists", not downloaded."""
    env.stack.run_docker("pull", "-q", f"{env.reg.host}/busybox")
    image = env.images["two"]
    shorts = [d["digest"].removeprefix("sha256:")[:12] for d in image.manifest()[1]["layers"]]
    out = _ok(env.stack.run_docker("pull", f"{env.reg.host}/two"))
    assert f"{shorts[0]}: Already exists" in out.splitlines()
    assert f"{shorts[1]}: Pull complete" in out.splitlines()
    assert f"{shorts[0]}: Pull complete" not in out
    assert _image_id(env, f"{env.reg.host}/two") == image.id


def test_pull_by_digest_schema2(env: Env) -> None:
    """A Docker schema 2 manifest (skopeo --format v2s2), pulled by digest."""
    ref = f"{env.reg.host}/v2s2@{env.digests['v2s2']}"
    out = _ok(env.stack.run_docker("pull", ref))
    assert f"Digest: {env.digests['v2s2']}" in out
    assert f"Status: Downloaded newer image for {ref}" in out
    assert out.splitlines()[0] == f"{env.digests['v2s2']}: Pulling from v2s2"
    assert _image_id(env, ref) == env.images["v2s2"].id
    listing = _ok(
        env.stack.run_docker(
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
            f"{env.reg.host}/v2s2",
        )
    )
    assert listing.split() == [f"{env.reg.host}/v2s2", "<none>", env.digests["v2s2"]]


@pytest.mark.parametrize("repo", ["zstd", "raw"])
def test_pull_zstd_and_uncompressed_layers(env: Env, repo: str) -> None:
    ref = f"{env.reg.host}/{repo}"
    out = _ok(env.stack.run_docker("pull", ref))
    assert f"Status: Downloaded newer image for {ref}:latest" in out
    assert _image_id(env, ref) == env.images[repo].id
    run = env.stack.run_docker("run", "--rm", "--network", "none", ref, "cat", "/etc/group")
    assert run.returncode == 0 and run.stdout.startswith("root:x:0:"), run.stderr


def test_pull_all_tags(env: Env) -> None:
    ref = f"{env.reg.host}/tag"
    out = _ok(env.stack.run_docker("pull", "--all-tags", ref))
    lines = out.splitlines()
    assert "a: Pulling from tag" in lines and "b: Pulling from tag" in lines
    assert lines[-2:] == [f"Status: Downloaded newer image for {ref}", ref]
    assert _image_id(env, f"{ref}:a") == env.images["tag-a"].id
    assert _image_id(env, f"{ref}:b") == env.images["tag-b"].id


def test_pull_platform_from_an_index(env: Env) -> None:
    ref = f"{env.reg.host}/multi"
    _ok(env.stack.run_docker("pull", "--platform", "linux/arm64", ref))
    got = _ok(
        env.stack.run_docker("image", "inspect", "--format", "{{.Id}} {{.Architecture}}", ref)
    ).split()
    assert got == [env.images["arm64"].id, "arm64"]
    _ok(env.stack.run_docker("pull", "--platform", "linux/amd64", ref))
    got = _ok(
        env.stack.run_docker("image", "inspect", "--format", "{{.Id}} {{.Architecture}}", ref)
    ).split()
    assert got == [env.images["amd64"].id, "amd64"]
    bad = env.stack.run_docker("pull", "--platform", "linux/s390x", ref)
    assert bad.returncode == 1
    assert "no matching manifest for linux/s390x in the manifest list entries" in bad.stderr


def test_docker_py_pull(env: Env) -> None:
    client = env.stack.docker_client()
    try:
        image = client.images.pull(f"{env.reg.host}/busybox", tag="latest")
        assert image.id == env.images["busybox"].id
        images = client.images.pull(f"{env.reg.host}/tag", all_tags=True)
        assert {i.id for i in images} >= {env.images["tag-a"].id, env.images["tag-b"].id}
        import docker.errors

        with pytest.raises(docker.errors.NotFound) as err:
            client.images.pull(f"{env.reg.host}/nosuch", tag="latest")
        assert "repository" in str(err.value) or "manifest" in str(err.value)
        # GET /distribution/{name}/json: the index's descriptor and platforms.
        data = client.api.inspect_distribution(f"{env.reg.host}/multi:latest")
        assert data["Descriptor"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert sorted((p["os"], p["architecture"]) for p in data["Platforms"]) == [
            ("linux", "amd64"),
            ("linux", "arm64"),
        ]
        data = client.api.inspect_distribution(f"{env.reg.host}/busybox")
        assert data["Descriptor"]["digest"] == env.digests["busybox"]
        assert data["Platforms"] == [{"architecture": bb.host_arch(), "os": "linux"}]
        with pytest.raises(docker.errors.APIError) as err:
            client.api.pull("NotValid", tag="latest")
        assert err.value.status_code == 400
        assert "invalid reference format" in str(err.value)
    finally:
        client.close()


# ---------------------------------------------------------------- names


def test_invalid_references(env: Env) -> None:
    # (none of them a valid domain: nothing may be looked up)
    for bad in (
        "UPPER",
        "a:b:c",
        "bad..name",
        f"{env.reg.host}/x@sha256:123",
        f"{env.reg.host}/Upper",
    ):
        result = env.stack.run_docker("pull", bad)
        assert result.returncode == 1
        assert "invalid reference format" in result.stderr, result.stderr
    # The CLI checks names itself; the API says the same to other clients
    # (docker-py: test_docker_py_pull).


def test_docker_hub_through_mirror_and_token_flow(env: Env) -> None:
    """`busybox` is docker.io/library/busybox; docker.io pulls go to the
    mirror first, which demands a Bearer token from its realm for
    repository:library/busybox:pull."""
    env.tokens.issued.clear()
    env.tokens.requests.clear()
    out = _ok(env.stack.run_docker("pull", "busybox"))
    lines = out.splitlines()
    assert lines[1] == "latest: Pulling from library/busybox"
    assert lines[-2:] == [
        "Status: Image is up to date for busybox:latest"
        if "up to date" in out
        else "Status: Downloaded newer image for busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    assert env.tokens.requests and env.tokens.requests[0]["service"] == [SERVICE]
    assert env.tokens.requests[0]["scope"] == ["repository:library/busybox:pull"]
    assert env.tokens.issued[0]["sub"] == ""  # anonymous pull token
    for name in (
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        "index.docker.io/library/busybox:latest",
        "library/busybox",
    ):
        assert _image_id(env, name) == env.images["busybox"].id
    repo = _ok(env.stack.run_docker("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox"))
    assert repo.split() == ["busybox:latest"]


def test_certs_d_ca_verifies_the_registry(env: Env) -> None:
    """A registry with a certs.d folder is verified against the CAs in it:
    a wrong CA fails the pull with Go's x509 wording, the right one works."""
    ref = f"{env.tls.host}/busybox"
    folder = env.stack.root / "image" / "certs.d" / env.tls.host
    folder.mkdir(parents=True)
    try:
        other_ca, _ = make_ca(folder.parent, "other-ca")
        shutil.copy(other_ca, folder / "ca.crt")
        bad = env.stack.run_docker("pull", ref)
        assert bad.returncode == 1
        assert "x509: certificate signed by unknown authority" in bad.stderr, bad.stderr
        shutil.copy(env.ca[0], folder / "ca.crt")
        os.utime(folder / "ca.crt", (time.time() + 2, time.time() + 2))
        out = _ok(env.stack.run_docker("pull", ref))
        assert f"Status: Downloaded newer image for {ref}:latest" in out
        assert _image_id(env, ref) == env.images["busybox"].id
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


# ---------------------------------------------------------------- failures


def test_corrupted_blob_fails_and_leaves_nothing(env: Env, fixture_dir: Path) -> None:
    image = bb.build_image([bb.LayerBuilder().dir("c").file("c/data", os.urandom(200000)).build()])
    layout = bb.write_oci_layout(image, fixture_dir / "dist-corrupt")
    with running_registry() as reg:
        reg.push(layout, "corrupt")
        digest = image.manifest()[1]["layers"][0]["digest"]
        blob = reg.blob_path(digest)
        data = bytearray(blob.read_bytes())
        data[len(data) // 3] ^= 0xFF
        blob.write_bytes(bytes(data))
        before = _state(env.stack)
        result = env.stack.run_docker("pull", f"{reg.host}/corrupt")
    assert result.returncode == 1
    assert result.stderr.strip() == f"filesystem layer verification failed for digest {digest}"
    assert "Pull complete" not in result.stdout
    assert env.stack.run_docker("image", "inspect", f"{reg.host}/corrupt").returncode == 1
    _wait_state(env.stack, before)


def _start_pull(env: Env, ref: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DOCKER, "pull", ref],
        env=env.stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def _read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(
        f"pull ended before {text!r}: {seen} {proc.stderr.read() if proc.stderr else ''}"
    )


def test_client_killed_mid_pull(env: Env) -> None:
    """The docker CLI dies in the middle of a pull: the pull stops, removes
    what it made, and a retry succeeds."""
    image = env.images["big1"]
    with throttled_proxy(env.reg.host, 3 << 20) as proxy:
        ref = f"{proxy.host}/big"
        env.stack.run_docker("pull", "-q", f"{proxy.host}/busybox")  # warm: scheme probe
        before = _state(env.stack)
        proc = _start_pull(env, f"{proxy.host}/big:big1")
        try:
            _read_until(proc, "Pulling fs layer")
            time.sleep(0.8)
            assert proc.poll() is None, "the pull ended too soon to be interrupted"
            assert _state(env.stack) != before, "nothing written yet: not mid-pull"
        finally:
            proc.kill()
            proc.wait()
        _wait_state(env.stack, before)
        assert env.stack.run_docker("image", "inspect", f"{ref}:big1").returncode == 1
        proxy.rate = 0
        out = _ok(env.stack.run_docker("pull", f"{ref}:big1"))
    assert f"Status: Downloaded newer image for {ref}:big1" in out
    assert _image_id(env, f"{ref}:big1") == image.id


def test_image_service_killed_mid_pull(env: Env) -> None:
    """SIGKILL of the image service in the middle of a pull: the client gets
    an error, the restarted service removes what the pull had written, and
    a retry succeeds."""
    image = env.images["big2"]
    with throttled_proxy(env.reg.host, 3 << 20) as proxy:
        ref = f"{proxy.host}/big:big2"
        env.stack.run_docker("pull", "-q", f"{proxy.host}/busybox")
        before = _state(env.stack)
        proc = _start_pull(env, ref)
        try:
            _read_until(proc, "Pulling fs layer")
            time.sleep(0.8)
            assert proc.poll() is None, "the pull ended too soon to be interrupted"
            assert _state(env.stack) != before, "nothing written yet: not mid-pull"
            env.stack.kill_service("image")
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode != 0
        assert err.strip(), "the client was not told"
        # The restarted service removed the half-pulled blobs and layers.
        _wait_state(env.stack, before)
        assert env.stack.run_docker("image", "inspect", ref).returncode == 1
        proxy.rate = 0
        out = _ok(env.stack.run_docker("pull", ref))
    assert f"Status: Downloaded newer image for {ref}" in out
    assert _image_id(env, ref) == image.id


def test_pull_events(env: Env) -> None:
    since = time.time() - 1
    ref = f"{env.reg.host}/busybox"
    _ok(env.stack.run_docker("pull", "-q", ref))
    out = _ok(
        env.stack.run_docker(
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{time.time() + 0.5:.3f}",
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        )
    )
    assert f"pull {ref}:latest" in out.splitlines(), out
