"""A database written by the previous version (configs as protobuf blobs of
the proto as it was then) still loads: every container survives the
upgrade, with Docker's absent-versus-empty distinctions intact."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from hangu_container import migration
from hangu_container.model import MountPlan
from hangu_container.store import Store

# Serialized by the previous version's generated code (commit 8b637d2).
# Cmd ["sh", "-c", "true"] (set), Entrypoint [] (set), StopTimeout 0 (set),
# labels, tty, env, a healthcheck:
CONFIG = bytes.fromhex(
    "40015a03413d316202736862022d636204747275656801720d0a03434d440a0474727565300282010762"
    "757379626f78a00101c201060a0161120162d80101"
)
# Cmd ["sleep", "1"] without cmd_set (as merged from an image); nothing else set.
CONFIG2 = bytes.fromhex("6205736c65657062013182010762757379626f78")
# MemorySwappiness 0 (set), restart policy, bridge, a port binding, a bind.
HOST = bytes.fromhex(
    "0a052f783a2f7922066272696467652a120a0638302f74637012080a0612043830383032080a06616c77"
    "617973a00301"
)
# memory_swappiness 60 without its *_set flag: absent for that version.
HOST2 = bytes.fromhex("98033c")
NETWORKING = bytes.fromhex("0a0d0a046e65743112050a03776562")
NETWORK_SETTINGS = bytes.fromhex(
    "120c2f72756e2f6e65746e732f78221e0a0662726964676512140a066272696467652a0831302e302e302e323018"
)

# The previous version's table, as SQLModel created it.
LEGACY_SCHEMA = """
CREATE TABLE containers (
    id VARCHAR NOT NULL, name VARCHAR NOT NULL, created FLOAT NOT NULL,
    image VARCHAR NOT NULL, image_id VARCHAR NOT NULL, platform VARCHAR NOT NULL,
    config BLOB NOT NULL, host_config BLOB NOT NULL, networking_config BLOB NOT NULL,
    path VARCHAR NOT NULL, args_json VARCHAR NOT NULL, status VARCHAR NOT NULL,
    pid INTEGER NOT NULL, conmon_pid INTEGER NOT NULL, exit_code INTEGER NOT NULL,
    error VARCHAR NOT NULL, oom_killed BOOLEAN NOT NULL, started_at FLOAT NOT NULL,
    finished_at FLOAT NOT NULL, restart_count INTEGER NOT NULL, rootfs_path VARCHAR NOT NULL,
    upper_dir VARCHAR NOT NULL, image_size INTEGER NOT NULL, hosts_path VARCHAR NOT NULL,
    hostname_path VARCHAR NOT NULL, resolv_conf_path VARCHAR NOT NULL,
    network_settings BLOB NOT NULL, mounts_json VARCHAR NOT NULL,
    stopped_by_user BOOLEAN NOT NULL, rootfs_mounted BOOLEAN NOT NULL,
    sandbox_active BOOLEAN NOT NULL, volumes_mounted BOOLEAN NOT NULL,
    health_status VARCHAR NOT NULL, health_json VARCHAR NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_containers_name ON containers (name);
"""

HEALTH = {
    "FailingStreak": 2,
    "Log": [
        {
            "Start": "2024-05-01T10:00:00.123456Z",
            "End": "2024-05-01T10:00:00.5Z",
            "ExitCode": 1,
            "Output": "no",
        }
    ],
}


def _legacy_db(path: Path) -> None:
    plan = MountPlan(type="volume", destination="/data", name="v1", driver="local")
    rows = [
        ("a" * 64, "web", 1_700_000_000.5, "busybox", "sha256:" + "1" * 64, "linux", CONFIG,
         HOST, NETWORKING, "sh", json.dumps(["-c", "true"]), "running", 42, 41, 0, "", 0,
         1_700_000_001.0, 0.0, 3, "/r/a", "/u/a", 1234, "/h", "/hn", "/rc", NETWORK_SETTINGS,
         json.dumps([plan.to_dict()]), 0, 1, 1, 1, "unhealthy", json.dumps(HEALTH)),
        ("b" * 64, "db", 1_700_000_002.0, "busybox", "sha256:" + "1" * 64, "linux", CONFIG2,
         HOST2, b"", "sleep", json.dumps(["1"]), "exited", 0, 0, 137, "boom", 1,
         1_700_000_003.0, 1_700_000_004.0, 0, "", "", 0, "", "", "", b"", "[]", 1, 0, 0, 0,
         "", "{}"),
    ]  # fmt: skip
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA)
        db.executemany(f"INSERT INTO containers VALUES ({','.join('?' * 34)})", rows)


def test_previous_database_loads(tmp_path: Path) -> None:
    path = tmp_path / "container.db"
    _legacy_db(path)
    store = Store(path)
    assert migration.migrate(store.engine, store) == 2
    by_name = {c.name: c for c in store.load_all()}
    web, db = by_name["web"], by_name["db"]

    assert web.id == "a" * 64 and web.created == 1_700_000_000.5
    assert web.config.cmd == ["sh", "-c", "true"]
    assert web.config.entrypoint == []  # set and empty: not absent
    assert web.config.stop_timeout == 0  # set to 0: not absent
    assert web.config.labels == {"a": "b"} and web.config.tty and web.config.env == ["A=1"]
    assert web.config.healthcheck is not None and web.config.healthcheck.retries == 2
    assert web.host_config.memory_swappiness == 0
    assert web.host_config.restart_policy.name == "always"
    assert web.host_config.port_bindings["80/tcp"].bindings[0].host_port == "8080"
    assert web.host_config.binds == ["/x:/y"]
    assert web.networking_config.endpoints_config["net1"].aliases == ["web"]
    assert web.network_settings.networks["bridge"].ip_address == "10.0.0.2"
    assert web.args == ["-c", "true"] and web.path == "sh"
    assert web.state.status == "running" and web.state.pid == 42 and web.state.conmon_pid == 41
    assert web.restart_count == 3 and web.image_size == 1234 and web.upper_dir == "/u/a"
    assert web.rootfs_mounted and web.sandbox_active and web.volumes_mounted
    assert web.mounts == [MountPlan(type="volume", destination="/data", name="v1", driver="local")]
    health = web.state.health
    assert health is not None and health.status == "unhealthy" and health.failing_streak == 2
    assert health.log[0].exit_code == 1 and health.log[0].output == "no"
    assert health.log[0].start.isoformat() == "2024-05-01T10:00:00.123456+00:00"

    assert db.config.cmd == ["sleep", "1"]  # merged from the image, no cmd_set
    assert db.config.entrypoint is None and db.config.stop_timeout is None
    assert db.config.healthcheck is None
    assert db.host_config.memory_swappiness is None  # 60 without its flag was absent
    assert db.state.status == "exited" and db.state.exit_code == 137
    assert db.state.error == "boom" and db.state.oom_killed and db.stopped_by_user
    assert db.state.health is None

    # Once: the old table is gone, and a second start converts nothing.
    assert migration.migrate(store.engine, store) == 0
    again = Store(path)
    assert {c.name for c in again.load_all()} == {"web", "db"}
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "containers" not in tables


def test_new_database_needs_no_migration(tmp_path: Path) -> None:
    store = Store(tmp_path / "container.db")
    assert migration.migrate(store.engine, store) == 0
    assert store.load_all() == []
