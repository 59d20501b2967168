"""The container service with its real peers (image, network, volume), each
an in-process gRPC server on a temporary unix socket, on one temp root."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from hangu.container.v1 import container_pb2_grpc
from hangu.image.v1 import image_pb2, image_pb2_grpc
from hangu_runtime.config import Settings, load_settings
from hangu_runtime.server import build_server


def _serve(
    socket: Path,
    register: Callable[[grpc.Server], Any],
    workers: int = 64,
    max_concurrent: int = 60,
) -> grpc.Server:
    server = build_server(workers, max_concurrent)
    register(server)
    socket.parent.mkdir(parents=True, exist_ok=True)
    server.add_insecure_port(f"unix://{socket}")
    server.start()
    return server


class PeerStack:
    def __init__(self) -> None:
        suffix = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix="hgt-ctr-", dir="/tmp"))
        self.settings: Settings = load_settings(
            {
                "HANGU_ROOT": str(self.tmp / "root"),
                "HANGU_RUN": str(self.tmp / "run"),
                "HANGU_BRIDGE": f"hgc{suffix}",
                "HANGU_NFT_TABLE": f"hgc_{suffix}",
                # Eight /19s of our 10.202.0.0/16: parallel runs of these tests
                # (CI and a developer) each find a free one.
                "HANGU_SUBNET_POOL": ",".join(f"10.202.{i * 32}.0/19" for i in range(8)),
            }
        )
        self.cgroup_parent = f"/hgc-{suffix}"
        self.servers: dict[str, grpc.Server] = {}
        self.services: dict[str, Any] = {}

    def start_peers(self) -> None:
        from hangu_image.service import ImageService
        from hangu_network.service import NetworkService
        from hangu_volume.service import VolumeService

        s = self.settings
        vol = VolumeService(s)
        self.services["volume"] = vol
        self.servers["volume"] = _serve(s.grpc_socket("volume"), vol.register)
        net = NetworkService(s)
        self.services["network"] = net
        self.servers["network"] = _serve(s.grpc_socket("network"), net.register)
        img = ImageService(s)
        self.services["image"] = img
        self.servers["image"] = _serve(s.grpc_socket("image"), img.register)

    def load_image(self, archive: Path) -> None:
        stub = image_pb2_grpc.ImageServiceStub(
            grpc.insecure_channel(self.settings.grpc_target("image"))
        )

        def chunks() -> Any:
            data = archive.read_bytes()
            yield image_pb2.LoadRequest(quiet=True)
            for i in range(0, len(data), 1 << 20):
                yield image_pb2.LoadRequest(data=data[i : i + 1 << 20])

        for progress in stub.Load(chunks()):
            assert not progress.error, progress.error

    def start_container_service(self, full_size: bool = False) -> Any:
        """`full_size`: the thread pool and concurrency cap of the settings
        (as main runs it), else a small pool."""
        from hangu_container.service import build

        lc, servicer = build(self.settings, parent=self.cgroup_parent)
        size = (
            (self.settings.grpc_workers, self.settings.grpc_max_concurrent)
            if full_size
            else (64, 60)
        )
        server = _serve(
            self.settings.grpc_socket("container"),
            lambda srv: container_pb2_grpc.add_ContainerServiceServicer_to_server(servicer, srv),
            *size,
        )
        self.servers["container"] = server
        self.services["container"] = lc
        return lc

    def stop_container_service(self, purge: bool = False) -> None:
        server = self.servers.pop("container", None)
        if server is not None:
            server.stop(0).wait()
        lc = self.services.pop("container", None)
        if lc is not None:
            lc.shutdown(purge=purge)

    def container_stub(self) -> container_pb2_grpc.ContainerServiceStub:
        return container_pb2_grpc.ContainerServiceStub(
            grpc.insecure_channel(self.settings.grpc_target("container"))
        )

    def stop(self) -> None:
        """Purge everything; each step runs even if an earlier one failed."""
        from hangu_container.runtime import remove_cgroup_parent

        errors: list[BaseException] = []
        try:
            self.stop_container_service(purge=True)
        except Exception as err:
            errors.append(err)
        remove_cgroup_parent(self.cgroup_parent)
        for name in ("image", "network", "volume"):
            server = self.servers.pop(name, None)
            if server is not None:
                server.stop(0).wait()
            svc = self.services.pop(name, None)
            if svc is not None:
                try:
                    if hasattr(svc, "purge"):
                        svc.purge()
                    svc.close()
                except Exception as err:
                    errors.append(err)
        self._force_clean_network()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise errors[0]

    def _force_clean_network(self) -> None:
        """Last resort when the network service failed half-way through its
        start (it was never registered, so it could not purge): drop our
        nftables table, bridge and DOCKER-USER rules by their unique names."""
        bridge, table = self.settings.bridge, self.settings.nft_table
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        rules = subprocess.run(
            ["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True
        ).stdout.splitlines()
        for rule in rules:
            if rule.startswith("-A DOCKER-USER") and f" {bridge} " in f"{rule} ":
                subprocess.run(["iptables", "-D", *rule.split()[1:]], capture_output=True)
