"""The hangu CLI against a real stack (all five processes)."""

from __future__ import annotations

import time

import pytest

from tests.support.registry import Registry
from tests.support.stack import Stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def test_version_shows_both_sides(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("version")
    assert result.returncode == 0, result.stderr
    assert "Client: hangu" in result.stdout
    assert "Server:" in result.stdout and "API version:" in result.stdout


def test_info(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("info")
    assert result.returncode == 0, result.stderr
    assert "Containers:" in result.stdout and "Images:" in result.stdout


def test_images_lists_busybox(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("images")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(row.split()[:2] == ["busybox", "latest"] for row in rows)
    quiet = cli_stack.run_cli("images", "-q").stdout.split()
    assert quiet and all(len(ident) == 12 for ident in quiet)


def test_run_rm_prints_output_and_removes(cli_stack: Stack) -> None:
    before = cli_stack.run_docker("ps", "-aq").stdout.split()
    result = cli_stack.run_cli("run", "--rm", "busybox", "echo", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
    assert cli_stack.run_docker("ps", "-aq").stdout.split() == before


def test_run_exit_code_and_stderr(cli_stack: Stack) -> None:
    result = cli_stack.run_cli(
        "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert result.returncode == 3
    assert result.stdout == "out\n" and result.stderr == "err\n"


def test_run_with_stdin(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("run", "-i", "--rm", "busybox", "cat", input="data\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "data\n"


def test_ps(cli_stack: Stack) -> None:
    created = cli_stack.run_docker("create", "--name", "clips", "busybox", "true")
    assert created.returncode == 0, created.stderr
    cid = created.stdout.strip()
    try:
        running = cli_stack.run_cli("ps")
        assert running.returncode == 0 and "clips" not in running.stdout
        listing = cli_stack.run_cli("ps", "-a")
        header = listing.stdout.splitlines()[0]
        assert header.split()[:3] == ["CONTAINER", "ID", "IMAGE"]
        row = next(line for line in listing.stdout.splitlines() if line.endswith("clips"))
        assert row.startswith(cid[:12]) and '"true"' in row and "Created" in row
        assert cid[:12] in cli_stack.run_cli("ps", "-aq").stdout.split()
    finally:
        cli_stack.run_docker("rm", "-f", cid)


def test_run_pulls_a_missing_image_with_progress(cli_stack: Stack, registry: Registry) -> None:
    image = f"{registry.host}/clitest/busybox"
    result = cli_stack.run_cli("run", "--rm", image, "echo", "pulled")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pulled\n"
    assert f"Unable to find image '{image}' locally" in result.stderr
    assert "Pulling from" in result.stderr or "Pull complete" in result.stderr
    cli_stack.run_docker("rmi", image)


def test_errors_in_docker_form(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("run", "--rm", "127.0.0.1:1/nosuch", "true")
    assert result.returncode == 125
    assert "Error response from daemon" in result.stderr


def test_run_it_gives_a_terminal(cli_stack: Stack) -> None:
    pexpect = pytest.importorskip("pexpect")
    import sys

    from tests.support.terminal import Terminal

    child = Terminal(
        [sys.executable, "-m", "hangu_cli.main", "run", "-it", "--rm", "busybox", "sh"],
        env=cli_stack.env,
        rows=30,
        cols=100,
        timeout=30,
    )
    try:
        child.expect_exact("# ")
        child.sendline("echo $((6*7)); tty; stty size")
        child.expect_exact("42")
        child.expect("/dev/(pts/\\d+|console)")
        child.expect_exact("30 100")
        child.setwinsize(40, 120)  # SIGWINCH: the CLI passes the new size on
        time.sleep(0.3)
        child.sendline("stty size")
        child.expect_exact("40 120")
        child.sendline("exit 4")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 4


def test_run_detached(cli_stack: Stack) -> None:
    result = cli_stack.run_cli("run", "-d", "--name", "clidet", "busybox", "sleep", "30")
    assert result.returncode == 0, result.stderr
    cid = result.stdout.strip()
    assert len(cid) == 64
    try:
        assert cid[:12] in cli_stack.run_cli("ps", "-q").stdout.split()
    finally:
        cli_stack.run_docker("rm", "-f", cid)
    auto = cli_stack.run_cli("run", "-d", "--rm", "busybox", "true")
    assert auto.returncode == 0, auto.stderr
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if auto.stdout.strip()[:12] not in cli_stack.run_cli("ps", "-aq").stdout.split():
            break
        time.sleep(0.1)
    else:
        pytest.fail("--rm -d: the container was not removed after it exited")
