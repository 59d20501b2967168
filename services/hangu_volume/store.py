"""Local volumes: create, inspect, list, remove, prune, and the references
of the containers that mount them. Data lives in
<root>/volume/volumes/<name>/_data. Knows nothing of gRPC."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hangu_runtime import logging as hlog
from hangu_runtime.errors import Conflict, Internal, InvalidArgument, NotFound
from hangu_runtime.events import EventBus
from hangu_runtime.filters import Args, go_list, match_labels, parse_go_bool
from hangu_runtime.ids import new_id

from . import copyup, names
from .models import ReferenceRow, VolumeRow

log = hlog.get_logger("hangu.volume.store")

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
# dockerd's acceptedListFilters and acceptedPruneFilters.
LIST_FILTERS = frozenset({"dangling", "name", "driver", "label"})
PRUNE_FILTERS = frozenset({"label", "label!", "all"})


@dataclass
class VolumeView:
    row: VolumeRow
    mountpoint: str
    used_by: list[str]


class Volumes:
    def __init__(self, root: Path, engine: Engine, events: EventBus) -> None:
        self.root = root / "volumes"
        self.engine = engine
        self.events = events
        self.lock = threading.RLock()

    def data_dir(self, name: str) -> Path:
        return self.root / name / "_data"

    def _view(self, s: Session, row: VolumeRow) -> VolumeView:
        refs = s.exec(
            select(ReferenceRow)
            .where(ReferenceRow.name == row.name)
            .order_by(col(ReferenceRow.created))
        )
        return VolumeView(row, str(self.data_dir(row.name)), [r.container_id for r in refs])

    # -- create / get / list ------------------------------------------------
    def create(
        self,
        name: str,
        driver: str = "",
        driver_opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> VolumeView:
        driver = driver or "local"
        if driver != "local":
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        opts = dict(driver_opts or {})
        anonymous = not name
        name = name or new_id()
        names.validate_name(name)
        names.validate_options(opts)
        labels = dict(labels or {})
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        with self.lock, Session(self.engine, expire_on_commit=False) as s:
            row = s.get(VolumeRow, name)
            if row is not None:
                # dockerd returns an existing volume unchanged.
                return self._view(s, row)
            data = self.data_dir(name)
            data.mkdir(parents=True, exist_ok=True)
            data.parent.chmod(0o701)
            row = VolumeRow(
                name=name,
                driver=driver,
                anonymous=anonymous,
                labels_json=json.dumps(labels),
                options_json=json.dumps(opts),
            )
            s.add(row)
            s.commit()
            s.refresh(row)
            view = self._view(s, row)
        self.events.emit("create", name, driver=driver)
        return view

    def get(self, name: str) -> VolumeView:
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(VolumeRow, name)
            if row is None:
                raise NotFound(f"get {name}: no such volume")
            return self._view(s, row)

    def matching(self, filters: Mapping[str, Sequence[str]]) -> list[VolumeView]:
        """`docker volume ls`: the volumes its filters select."""
        args = Args(filters)
        args.validate(LIST_FILTERS)
        return self._select(args)

    def _select(self, args: Args) -> list[VolumeView]:
        dangling = args.get_bool("dangling", False) if args.contains("dangling") else None
        with Session(self.engine, expire_on_commit=False) as s:
            views = [
                self._view(s, r) for r in s.exec(select(VolumeRow).order_by(col(VolumeRow.created)))
            ]
        return [v for v in views if _matches(v, args, dangling)]

    # -- remove / prune --------------------------------------------------
    def remove(self, name: str, force: bool = False) -> None:
        with self.lock, Session(self.engine, expire_on_commit=False) as s:
            row = s.get(VolumeRow, name)
            if row is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            view = self._view(s, row)
            if view.used_by:
                raise Conflict(f"remove {name}: volume is in use - [{' '.join(view.used_by)}]")
            self._unmount_device(row)
            shutil.rmtree(self.root / name, ignore_errors=True)
            s.delete(row)
            s.commit()
        self.events.emit("destroy", name, driver=row.driver)

    def prune(self, filters: Mapping[str, Sequence[str]]) -> tuple[list[str], int]:
        """Unused volumes; only anonymous ones unless the filter all=true
        (Docker >= 23)."""
        args = Args(filters)
        everything = _prune_all(args)
        args.validate(PRUNE_FILTERS)
        deleted, reclaimed = [], 0
        for view in self._select(args):
            if view.used_by or (not everything and not view.row.anonymous):
                continue
            size = copyup.tree_size(Path(view.mountpoint))
            try:
                self.remove(view.row.name)
            except (Conflict, NotFound):
                continue
            deleted.append(view.row.name)
            reclaimed += size
        return deleted, reclaimed

    # -- mount / unmount -------------------------------------------------
    def mount(self, name: str, container_id: str, copy_from: str = "") -> str:
        with self.lock, Session(self.engine, expire_on_commit=False) as s:
            row = s.get(VolumeRow, name)
            if row is None:
                raise NotFound(f"get {name}: no such volume")
            data = self.data_dir(name)
            data.mkdir(parents=True, exist_ok=True)
            first = not self._view(s, row).used_by
            if first:
                self._mount_device(row)
            if copy_from and Path(copy_from).is_dir() and copyup.is_empty(data):
                copyup.copy_into(Path(copy_from), data)
            if s.get(ReferenceRow, (name, container_id)) is None:
                s.add(ReferenceRow(name=name, container_id=container_id))
                s.commit()
        self.events.emit("mount", name, container=container_id, driver=row.driver)
        return str(data)

    def unmount(self, name: str, container_id: str) -> None:
        with self.lock, Session(self.engine, expire_on_commit=False) as s:
            ref = s.get(ReferenceRow, (name, container_id))
            row = s.get(VolumeRow, name)
            if ref is None or row is None:
                return
            s.delete(ref)
            s.commit()
            if not self._view(s, row).used_by:
                self._unmount_device(row)
        self.events.emit("unmount", name, container=container_id, driver=row.driver)

    def _mount_device(self, row: VolumeRow) -> None:
        """driver_opts (type/device/o): mount on first use, as dockerd does."""
        opts = row.options
        if not opts:
            return
        data = self.data_dir(row.name)
        if _is_mountpoint(data):
            return
        cmd = ["mount", "-t", opts["type"]]
        if opts.get("o"):
            cmd += ["-o", opts["o"]]
        res = subprocess.run(
            [*cmd, opts["device"], str(data)], capture_output=True, text=True, check=False
        )
        if res.returncode != 0:
            raise Internal(f"error while mounting volume '{data}': {res.stderr.strip()}")

    def _unmount_device(self, row: VolumeRow) -> None:
        data = self.data_dir(row.name)
        if row.options and _is_mountpoint(data):
            subprocess.run(["umount", "-l", str(data)], capture_output=True, check=False)

    def purge_mounts(self) -> None:
        with Session(self.engine, expire_on_commit=False) as s:
            for row in s.exec(select(VolumeRow)):
                self._unmount_device(row)


def _is_mountpoint(path: Path) -> bool:
    try:
        return path.stat().st_dev != path.parent.stat().st_dev
    except OSError:
        return False


def _matches(view: VolumeView, args: Args, dangling: bool | None) -> bool:
    row = view.row
    names, drivers = args.get("name"), args.get("driver")
    if names and not any(v in row.name for v in names):
        return False
    if drivers and row.driver not in drivers:
        return False
    if dangling is not None and dangling != (not view.used_by):
        return False
    return match_labels(args, row.labels)


def _prune_all(args: Args) -> bool:
    """Prune's `all` (Docker >= 23): one Go bool, or only anonymous volumes."""
    values = args.get("all")
    if len(values) > 1:
        raise InvalidArgument(f"invalid filter 'all={go_list(values)}': only one value is expected")
    if not values:
        return False
    try:
        return parse_go_bool(values[0])
    except ValueError as err:
        raise InvalidArgument(f"invalid filter 'all': {err}") from None
