"""Login, push and image events through the gateway with the real docker
CLI, docker-py and skopeo (issue 3, "Auth", "Push" and "Events"):
`docker login` against htpasswd and token-auth registries, pushes of one
tag and --all-tags with Docker's progress lines, HEAD-skipped and mounted
blobs, skopeo reading what hangu pushed, a pull back into a clean stack
giving the same image ID, and pull/push/tag/untag/delete events.

One stack for the module (bridge hgd*, pool 10.206.0.0/16); the pull-back
check starts a second, empty one."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import busybox as bb
from tests.support.registry import Registry, running_registry
from tests.support.stack import Stack, stack_available
from tests.support.token_server import ISSUER, SERVICE, TokenServer, running_token_server


@dataclass
class Env:
    stack: Stack
    reg: Registry  # plain HTTP
    basic: Registry  # htpasswd: hangu / s3cret
    token: Registry  # Bearer tokens from `tokens`: hangu / t0ken
    tokens: TokenServer
    image: bb.Image  # busybox


@pytest.fixture(scope="module")
def env(
    fixture_dir: Path,
    busybox_image: bb.Image,
    busybox_oci_layout: Path,
    busybox_docker_archive: Path,
) -> Iterator[Env]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    work = fixture_dir / "dist-push"
    work.mkdir()
    with contextlib.ExitStack() as ctx:
        reg = ctx.enter_context(running_registry())
        basic = ctx.enter_context(running_registry(credentials=("hangu", "s3cret")))
        tokens = ctx.enter_context(
            running_token_server(work, {"hangu": "t0ken"}, anonymous_pull=True)
        )
        token = ctx.enter_context(
            running_registry(
                token_auth={
                    "realm": tokens.url,
                    "service": SERVICE,
                    "issuer": ISSUER,
                    "cert": str(tokens.cert),
                }
            )
        )
        token.credentials = ("hangu", "t0ken")
        reg.push(busybox_oci_layout, "busybox")
        basic.push(busybox_oci_layout, "busybox")
        token.push(busybox_oci_layout, "busybox")
        stack = ctx.enter_context(Stack("distp", bridge_prefix="hgd", subnet_pool="10.206.0.0/16"))
        # busybox from a docker-archive: its layer is stored uncompressed.
        stack.load_image(busybox_docker_archive)
        yield Env(stack, reg, basic, token, tokens, busybox_image)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def _short(image: bb.Image) -> str:
    return image.diff_ids[0].removeprefix("sha256:")[:12]


def _skopeo(*args: str) -> str:
    return subprocess.run(
        ["skopeo", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


# ---------------------------------------------------------------- push


def test_push_one_tag_then_layer_exists_then_mount(env: Env) -> None:
    ref = f"{env.reg.host}/up:v1"
    _ok(env.stack.run_docker("tag", "busybox", ref))
    out = _ok(env.stack.run_docker("push", ref))
    lines = out.splitlines()
    assert lines[:3] == [
        f"The push refers to repository [{env.reg.host}/up]",
        f"{_short(env.image)}: Preparing",
        f"{_short(env.image)}: Pushed",
    ], out
    assert lines[3].startswith("v1: digest: sha256:") and " size: " in lines[3]
    assert len(lines) == 4
    digest = lines[3].split()[2]
    # Again: the registry has the blob (HEAD), nothing is uploaded.
    again = _ok(env.stack.run_docker("push", ref)).splitlines()
    assert f"{_short(env.image)}: Layer already exists" in again
    assert again[-1] == lines[3]
    # Another repository of the same registry: mounted, not uploaded.
    other = f"{env.reg.host}/hgt/other:v1"
    _ok(env.stack.run_docker("tag", ref, other))
    mounted = _ok(env.stack.run_docker("push", other)).splitlines()
    assert f"{_short(env.image)}: Mounted from up" in mounted, mounted
    assert mounted[-1].split()[2] == digest
    repo_digests = json.loads(
        _ok(env.stack.run_docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref))
    )
    assert f"{env.reg.host}/up@{digest}" in repo_digests


def test_skopeo_reads_what_hangu_pushed(env: Env) -> None:
    ref = f"docker://{env.reg.host}/up:v1"
    info = json.loads(_skopeo("inspect", "--tls-verify=false", ref))
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", "--raw", ref))
    config = json.loads(_skopeo("inspect", "--tls-verify=false", "--config", ref))
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw["config"]["digest"] == env.image.id
    assert [layer["mediaType"] for layer in raw["layers"]] == [
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    ]
    assert info["Layers"] == [layer["digest"] for layer in raw["layers"]]
    assert info["Architecture"] == bb.host_arch() and info["Os"] == "linux"
    assert config["rootfs"]["diff_ids"] == env.image.diff_ids
    assert config["config"]["Cmd"] == ["sh"]
    # The layer blob is a gzip of exactly the layer's tar (its diff id).
    copy = Path(_skopeo_copy(env, ref))
    layer = copy / raw["layers"][0]["digest"].removeprefix("sha256:")
    import gzip
    import hashlib

    assert (
        "sha256:" + hashlib.sha256(gzip.decompress(layer.read_bytes())).hexdigest()
        == env.image.diff_ids[0]
    )


def _skopeo_copy(env: Env, ref: str) -> str:
    target = env.stack.tmp / "skopeo-dir"
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            ref,
            f"dir:{target}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(target)


def test_push_all_tags(env: Env) -> None:
    repo = f"{env.reg.host}/alltags"
    for tag in ("one", "two"):
        _ok(env.stack.run_docker("tag", "busybox", f"{repo}:{tag}"))
    out = _ok(env.stack.run_docker("push", "--all-tags", repo)).splitlines()
    assert out[0] == f"The push refers to repository [{repo}]"
    done = [line.split(":")[0] for line in out if ": digest: sha256:" in line]
    assert done == ["one", "two"]
    tags = json.loads(_skopeo("list-tags", "--tls-verify=false", f"docker://{repo}"))["Tags"]
    assert sorted(tags) == ["one", "two"]


def test_push_errors(env: Env) -> None:
    missing = env.stack.run_docker("push", f"{env.reg.host}/nothing:here")
    assert missing.returncode == 1
    assert f"An image does not exist locally with the tag: {env.reg.host}/nothing" in missing.stderr
    # No credentials for an htpasswd registry.
    _ok(env.stack.run_docker("tag", "busybox", f"{env.basic.host}/anon:v1"))
    denied = env.stack.run_docker("push", f"{env.basic.host}/anon:v1")
    assert denied.returncode == 1
    assert "no basic auth credentials" in denied.stderr, denied.stderr


def test_pull_back_into_a_clean_stack(env: Env) -> None:
    ref = f"{env.reg.host}/up:v1"
    with Stack("distc", bridge_prefix="hgd", subnet_pool="10.206.0.0/16") as clean:
        assert clean.run_docker("images", "-q").stdout == ""
        out = _ok(clean.run_docker("pull", ref))
        assert f"Status: Downloaded newer image for {ref}" in out
        got = _ok(clean.run_docker("image", "inspect", "--format", "{{.Id}}", ref)).strip()
    assert got == env.image.id


# ---------------------------------------------------------------- auth


def test_login_htpasswd_registry(env: Env) -> None:
    host = env.basic.host
    wrong = env.stack.run_docker("login", "-u", "hangu", "--password-stdin", host, input="nope\n")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().endswith(
        f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
    ), wrong.stderr
    nocreds = env.stack.run_docker("pull", f"{host}/busybox")
    assert nocreds.returncode == 1 and "no basic auth credentials" in nocreds.stderr
    ok = env.stack.run_docker("login", "-u", "hangu", "--password-stdin", host, input="s3cret\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    # The CLI now sends the stored credentials (X-Registry-Auth).
    out = _ok(env.stack.run_docker("pull", f"{host}/busybox"))
    assert f"Status: Downloaded newer image for {host}/busybox:latest" in out
    _ok(env.stack.run_docker("tag", "busybox", f"{host}/mine:v1"))
    pushed = _ok(env.stack.run_docker("push", f"{host}/mine:v1"))
    assert pushed.splitlines()[-1].startswith("v1: digest: sha256:")
    _ok(env.stack.run_docker("logout", host))


def test_login_token_registry(env: Env) -> None:
    host = env.token.host
    wrong = env.stack.run_docker("login", "-u", "hangu", "--password-stdin", host, input="nope\n")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().endswith(
        f'Get "http://{host}/v2/": unauthorized: incorrect username or password'
    ), wrong.stderr
    ok = env.stack.run_docker("login", "-u", "hangu", "--password-stdin", host, input="t0ken\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    env.tokens.issued.clear()
    _ok(env.stack.run_docker("tag", "busybox", f"{host}/tok:v1"))
    pushed = _ok(env.stack.run_docker("push", f"{host}/tok:v1"))
    assert pushed.splitlines()[-1].startswith("v1: digest: sha256:")
    pushes = [
        c
        for c in env.tokens.issued
        if c["sub"] == "hangu" and any("push" in a["actions"] for a in c["access"])
    ]  # type: ignore[attr-defined]
    assert pushes, env.tokens.issued
    # A mount from another repository asks for pull rights on it too.
    _ok(env.stack.run_docker("tag", "busybox", f"{host}/tok2:v1"))
    out = _ok(env.stack.run_docker("push", f"{host}/tok2:v1"))
    assert f"{_short(env.image)}: Mounted from tok" in out.splitlines(), out
    _ok(env.stack.run_docker("logout", host))


def test_docker_py_login_and_push(env: Env) -> None:
    import docker.errors

    client = env.stack.docker_client()
    try:
        host = env.basic.host
        with pytest.raises(docker.errors.APIError):
            client.login("hangu", "wrong", registry=host, reauth=True)
        assert (
            client.login("hangu", "s3cret", registry=host, reauth=True)["Status"]
            == "Login Succeeded"
        )
        client.images.get("busybox").tag(f"{host}/dpy", "v2")
        auth = {"username": "hangu", "password": "s3cret"}
        lines = list(
            client.images.push(f"{host}/dpy", "v2", auth_config=auth, stream=True, decode=True)
        )
        assert not any("error" in line for line in lines), lines
        assert lines[-1]["aux"]["Tag"] == "v2"
        assert lines[-1]["aux"]["Digest"].startswith("sha256:")
        pulled = client.images.pull(f"{host}/dpy", tag="v2", auth_config=auth)
        assert pulled.id == env.image.id
    finally:
        client.close()


# ---------------------------------------------------------------- events


def test_image_events(env: Env) -> None:
    time.sleep(0.05)
    since = time.time()
    ref = f"{env.reg.host}/evt:v1"
    _ok(env.stack.run_docker("pull", "-q", f"{env.reg.host}/busybox"))
    _ok(env.stack.run_docker("tag", "busybox", ref))
    _ok(env.stack.run_docker("push", ref))
    _ok(env.stack.run_docker("rmi", ref))  # untag
    _ok(env.stack.run_docker("tag", "busybox", "hgt/evt-gone"))
    _ok(env.stack.run_docker("rmi", "-f", env.image.id))  # untag..., delete
    until = time.time() + 0.5
    out = _ok(
        env.stack.run_docker(
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{until:.3f}",
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}",
        )
    )
    events = [line.split() for line in out.splitlines()]
    actions = [e[0] for e in events]
    assert ["pull", f"{env.reg.host}/busybox:latest", f"{env.reg.host}/busybox:latest"] in events, (
        out
    )
    assert ["tag", env.image.id, "evt:v1".join([f"{env.reg.host}/", ""])] in events, out
    assert ["push", ref, ref] in events, out
    assert actions.count("untag") >= 2 and actions[-1] == "delete", out
    assert (
        actions.index("pull")
        < actions.index("tag")
        < actions.index("push")
        < actions.index("untag")
        < actions.index("delete")
    )
    client = env.stack.docker_client()
    try:
        seen = [
            e["Action"]
            for e in client.events(
                since=int(since), until=int(until) + 1, filters={"type": "image"}, decode=True
            )
        ]
    finally:
        client.close()
    for action in ("pull", "tag", "push", "untag", "delete"):
        assert action in seen, seen
    # Put busybox back for whoever runs next in this module.
    _ok(env.stack.run_docker("pull", "-q", f"{env.reg.host}/busybox"))
    _ok(env.stack.run_docker("tag", f"{env.reg.host}/busybox", "busybox"))


def test_big_layer_goes_up_in_chunks(env: Env, fixture_dir: Path) -> None:
    """A layer over the chunk threshold (16 MiB) goes up as PATCH chunks,
    seen on the wire by a proxy in front of a second registry; the registry
    then serves the image skopeo and a pull agree on."""
    from tests.support.layouts import random_image
    from tests.support.registry import throttled_proxy

    image = random_image(1, 20 << 20, label="big")
    env.reg.push(bb.write_oci_layout(image, fixture_dir / "dist-chunks"), "chunky")
    _ok(env.stack.run_docker("pull", "-q", f"{env.reg.host}/chunky"))
    with running_registry() as target, throttled_proxy(target.host, 0) as proxy:
        ref = f"{proxy.host}/chunky:v1"
        _ok(env.stack.run_docker("tag", f"{env.reg.host}/chunky", ref))
        out = _ok(env.stack.run_docker("push", ref)).splitlines()
        assert f"{_short(image)}: Pushed" in out and out[-1].startswith("v1: digest: ")
        patches = [r for r in proxy.requests if r.startswith("PATCH /v2/chunky/blobs/uploads/")]
        assert len(patches) >= 2, proxy.requests
        raw = json.loads(_skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}"))
        assert raw["config"]["digest"] == image.id
        assert raw["layers"][0]["size"] > 20 << 20
    _ok(env.stack.run_docker("rmi", ref, f"{env.reg.host}/chunky"))
