"""The image service's registry side, as one facade: pull (with Docker
Hub mirrors, certs.d TLS and insecure registries), push (with blob
sources for cross-repository mounts), login and manifest inspection, plus
the start-up recovery of pulls a crash interrupted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from hangu_runtime.config import Settings
from hangu_runtime.logging import get_logger

from . import journal, push
from .blobsources import BlobSources
from .images import ImageStore
from .mirrors import RegistryConfig
from .platforms import Platform
from .progress import ProgressEvent
from .pull import Pull, pull_all_tags, translate_error, with_fallback
from .reference import parse
from .registry import Credentials, RegistryError, Session

log = get_logger("hangu.image.distribution")


class Distribution:
    def __init__(self, images: ImageStore, settings: Settings) -> None:
        self.images = images
        self.config = RegistryConfig.from_settings(settings)
        self.sources = BlobSources(images.engine, images.db_lock)
        self.journal_dir = settings.data_dir("image") / "pulls"
        removed = journal.recover(self.journal_dir, images)
        if removed:
            log.info("removed what interrupted pulls left", items=len(removed))

    # `cancel`, when given, is set by the caller when its client goes away.
    def pull(
        self,
        reference: str,
        platform: Platform | None = None,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return Pull(
            self.images,
            reference,
            platform,
            creds,
            self.config,
            cancel,
            self.sources,
            self.journal_dir,
        ).run()

    def pull_all_tags(
        self,
        reference: str,
        platform: Platform | None = None,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return pull_all_tags(
            self.images,
            reference,
            platform,
            creds,
            self.config,
            cancel,
            self.sources,
            self.journal_dir,
        )

    def push(
        self,
        reference: str,
        all_tags: bool,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return push.push(self.images, reference, all_tags, creds, self.config, cancel, self.sources)

    def login(self, server: str, creds: Credentials) -> str:
        """What `docker login` asks (POST /auth): do these credentials open
        the registry's /v2/? Docker Hub's name is its index's."""
        host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if host in ("", "index.docker.io", "registry-1.docker.io", "docker.io"):
            ref = parse("docker.io/library/x")
        else:
            ref = parse(f"{host}/x")
        session = Session(ref, creds, self.config)
        try:
            session.ping()
        except RegistryError as err:
            raise translate_error(err, session.ref) from err
        return "Login Succeeded"

    def inspect(self, reference: str, creds: Credentials | None) -> dict[str, Any]:
        """GET /distribution/{name}/json: the descriptor and platforms."""
        ref = parse(reference)
        ref = ref if ref.digest else ref.with_default_tag()
        try:
            _, (raw, media_type, digest) = with_fallback(
                ref, creds, self.config, lambda s: s.get_manifest(ref.tag_or_digest)
            )
        except RegistryError as err:
            raise translate_error(err, ref) from err
        doc = json.loads(raw)
        platforms = [d.get("platform") or {} for d in doc.get("manifests") or []]
        if not platforms and doc.get("config"):
            platforms = self._config_platform(ref, creds, doc)
        return {
            "media_type": media_type,
            "digest": digest,
            "size": len(raw),
            "platforms": platforms,
        }

    def _config_platform(
        self, ref: Any, creds: Credentials | None, manifest: dict[str, Any]
    ) -> list[dict[str, str]]:
        """A single-platform image: its platform is in its config (dockerd
        reads it too)."""
        try:
            _, config = with_fallback(
                ref, creds, self.config, lambda s: _read_blob(s, manifest["config"]["digest"])
            )
            doc = json.loads(config)
        except (RegistryError, ValueError, KeyError):
            return []
        item = {"architecture": str(doc.get("architecture", "")), "os": str(doc.get("os", ""))}
        if doc.get("variant"):
            item["variant"] = str(doc["variant"])
        return [item]


def _read_blob(session: Session, digest: str) -> bytes:
    with session.open_blob(digest) as resp:
        return resp.read(16 << 20)
