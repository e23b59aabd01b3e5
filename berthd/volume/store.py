"""VolumeStore: every volume, its driver, its record, and who uses it.

moby's ``volume/service.VolumeStore``. The driver owns the data; the store
keeps a record per volume in metadata.db (driver, labels, options) and, in
memory only, the references: the IDs of the containers that use the volume.
References are not persisted because their owners re-add them when they are
restored (``get(name, ref=container_id)``), exactly as dockerd does, so a
count can never outlive a container that was removed while berthd was down.

Blocking and thread-safe: the daemon calls it from worker threads. One lock
per volume name orders operations on one volume; ``_lock`` guards the maps.
Errors carry moby's ``<op> <name>: <cause>`` text.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from berthd.errdefs import BerthdError, Conflict, NotFound
from berthd.volume.driver import Driver
from berthd.volume.locks import KeyedLock
from berthd.volume.metadata import MetadataDB, VolumeRecord
from berthd.volume.model import DEFAULT_DRIVER, DriverVolume, Volume, op_error
from berthd.volume.registry import DriverRegistry

__all__ = ["CreateResult", "VolumeStore"]

log = logging.getLogger("berthd.volume")

METADATA_DB = "metadata.db"
NAME_CONFLICT = "volume name must be unique"


@dataclass(frozen=True)
class CreateResult:
    volume: Volume
    created: bool  # False when the volume already existed


class VolumeStore:
    def __init__(self, root: str, drivers: DriverRegistry) -> None:
        self.root = root
        self.drivers = drivers
        os.makedirs(root, mode=0o701, exist_ok=True)
        self._db = MetadataDB(os.path.join(root, METADATA_DB))
        self._locks = KeyedLock()
        self._lock = threading.Lock()
        self._records: dict[str, VolumeRecord] = {}
        self._refs: dict[str, set[str]] = {}
        self._restore()

    # -- start-up ------------------------------------------------------------------
    def _restore(self) -> None:
        """Load the records; reconcile them with the local driver's directories.

        A local record whose directory is gone is dropped; a local directory
        without a record (a crash between mkdir and the commit) gets one.
        Plugin volumes are not checked here: a plugin that is down must not
        stall start-up or make the daemon forget its volumes.
        """
        local = self.drivers.local
        for rec in self._db.all():
            if rec.driver == DEFAULT_DRIVER and local.get(rec.name) is None:
                log.info("volume %s: no data directory, dropping its record", rec.name)
                self._db.delete(rec.name)
                continue
            self._records[rec.name] = rec
        for dv in local.list():
            if dv.name not in self._records:
                rec = VolumeRecord(dv.name, DEFAULT_DRIVER, None, None, time.time_ns())
                self._db.put(rec)
                self._records[dv.name] = rec

    def close(self) -> None:
        self._db.close()

    # -- references ------------------------------------------------------------------
    def _add_ref(self, name: str, ref: str) -> None:
        with self._lock:
            refs = self._refs.setdefault(name, set())
            if ref:
                refs.add(ref)

    def refs(self, name: str) -> list[str]:
        with self._lock:
            return sorted(self._refs.get(name, ()))

    def has_refs(self, name: str) -> bool:
        with self._lock:
            return bool(self._refs.get(name))

    def release(self, name: str, ref: str) -> None:
        with self._locks.hold(name), self._lock:
            refs = self._refs.get(name)
            if refs is not None:
                refs.discard(ref)

    # -- helpers -----------------------------------------------------------------------
    def _record(self, name: str) -> VolumeRecord | None:
        with self._lock:
            return self._records.get(name)

    def _purge(self, name: str) -> None:
        try:
            self._db.delete(name)
        except BerthdError as e:
            log.error("Error removing volume metadata for volume %q: %s", name, e)
        with self._lock:
            self._records.pop(name, None)
            self._refs.pop(name, None)

    def _wrap(self, rec: VolumeRecord | None, dv: DriverVolume, driver: Driver) -> Volume:
        return Volume(
            name=dv.name,
            driver=driver.name,
            mountpoint=dv.mountpoint,
            created_at=dv.created_at,
            scope=driver.scope(),
            labels=rec.labels if rec else None,
            options=rec.options if rec else None,
            status=dv.status,
        )

    def _lookup_in_driver(self, rec: VolumeRecord) -> tuple[Driver, DriverVolume | None]:
        """The driver's view of a recorded volume; raises only if it cannot be asked."""
        driver = self.drivers.get(rec.driver)
        try:
            return driver, driver.get(rec.name)
        except BerthdError as e:
            raise type(e)(
                f'error while checking if volume "{rec.name}" exists in driver "{rec.driver}": {e}'
            ) from e

    # -- create / get ---------------------------------------------------------------
    def create(
        self,
        name: str,
        driver: str = "",
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        ref: str = "",
    ) -> CreateResult:
        """Create the volume, or return it if it exists; ``ref`` is added either way."""
        with self._locks.hold(name):
            try:
                result = self._create(name, driver, opts, labels)
            except BerthdError as e:
                raise op_error(e, "create", name) from e
            self._add_ref(name, ref)
            return result

    def _check_conflict(self, name: str, driver_name: str) -> Volume | None:
        rec = self._record(name)
        if rec is None:
            return None
        conflict = bool(driver_name) and driver_name != rec.driver
        try:
            driver, dv = self._lookup_in_driver(rec)
        except BerthdError as e:
            raise Conflict(
                f"found reference to volume '{name}' in driver '{rec.driver}', but got an "
                f"error while checking the driver: {e}: {NAME_CONFLICT}"
            ) from e
        if dv is not None:
            if conflict:
                raise Conflict(
                    f"driver '{rec.driver}' already has volume '{name}': {NAME_CONFLICT}"
                )
            return self._wrap(rec, dv, driver)
        if self.has_refs(name):
            raise Conflict(
                f"found references to volume '{name}' in driver '{rec.driver}' but the volume "
                "was not found in the driver -- you may need to remove containers referencing "
                f"this volume or force remove the volume to re-create it: {NAME_CONFLICT}"
            )
        self._purge(name)
        return None

    def _create(
        self,
        name: str,
        driver_name: str,
        opts: Mapping[str, str] | None,
        labels: Mapping[str, str] | None,
    ) -> CreateResult:
        existing = self._check_conflict(name, driver_name)
        if existing is not None:
            return CreateResult(existing, created=False)
        driver = self.drivers.get(driver_name or DEFAULT_DRIVER)
        dv = driver.get(name)
        if dv is None:
            dv = driver.create(name, opts)
        rec = VolumeRecord(
            name,
            driver.name,
            dict(labels) if labels is not None else None,
            dict(opts) if opts is not None else None,
            time.time_ns(),
        )
        self._db.put(rec)
        with self._lock:
            self._records[name] = rec
            self._refs.setdefault(name, set())
        return CreateResult(self._wrap(rec, dv, driver), created=True)

    def get(self, name: str, driver: str = "", ref: str = "") -> Volume:
        """The volume (with the driver's status); adds ``ref`` when given."""
        with self._locks.hold(name):
            try:
                vol = self._get(name, driver)
            except BerthdError as e:
                raise op_error(e, "get", name) from e
            self._add_ref(name, ref)
            return vol

    def _get(self, name: str, driver_name: str) -> Volume:
        rec = self._record(name)
        if rec is None:
            raise NotFound("no such volume")
        if driver_name and driver_name != rec.driver:
            raise Conflict("provided volume driver does not match stored driver")
        driver, dv = self._lookup_in_driver(rec)
        if dv is None:
            self._purge(name)
            raise NotFound("no such volume")
        return self._wrap(rec, dv, driver)

    def exists(self, name: str) -> bool:
        return self._record(name) is not None

    # -- list --------------------------------------------------------------------------
    def list(self) -> tuple[list[Volume], list[str]]:
        """Every volume of every driver; a driver that fails adds a warning.

        A failing driver's volumes are still listed from their records, so a
        plugin that is down does not make its volumes vanish from ``ls``.
        """
        drivers, warnings = self.drivers.all()
        out: list[Volume] = []
        seen: set[str] = set()
        for driver in drivers:
            try:
                found = driver.list()
            except BerthdError as e:
                warnings.append(f"list {driver.name}: {e}")
                with self._lock:
                    recs = [r for r in self._records.values() if r.driver == driver.name]
                found = [DriverVolume(r.name) for r in recs]
            for dv in found:
                rec = self._record(dv.name)
                if rec is not None and rec.driver != driver.name:
                    log.warning(
                        "Volume name %s already exists for driver %s, not including volume "
                        "returned by %s",
                        dv.name,
                        rec.driver,
                        driver.name,
                    )
                    continue
                if dv.name in seen:
                    continue
                seen.add(dv.name)
                out.append(self._wrap(rec, dv, driver))
        out.sort(key=lambda v: v.name)
        return out, warnings

    # -- remove -------------------------------------------------------------------------
    def remove(self, name: str, force: bool = False) -> Volume | None:
        """Remove the volume; refused while referenced, even with ``force``.

        ``force`` (moby's PurgeOnError) ignores a missing volume and forgets
        the record even when the driver fails to remove the data. Returns the
        removed volume, or None if there was none (with ``force``).
        """
        with self._locks.hold(name):
            try:
                vol = self._get(name, "")
            except NotFound as e:
                if force:
                    return None
                raise op_error(e, "get", name) from e
            except BerthdError as e:
                raise op_error(e, "get", name) from e
            refs = self.refs(name)
            if refs:
                raise op_error(Conflict("volume is in use"), "remove", name, refs)
            driver = self.drivers.get(vol.driver)
            try:
                driver.remove(name)
            except BerthdError as e:
                if force:
                    self._purge(name)
                raise op_error(e, "remove", name) from e
            self._purge(name)
            return vol

    # -- mounting ---------------------------------------------------------------------
    def mount(self, name: str, ref: str) -> str:
        """Make the data available for ``ref`` (a unique ID per mount); returns its path."""
        with self._locks.hold(name):
            try:
                vol = self._get(name, "")
            except BerthdError as e:
                raise op_error(e, "get", name) from e
            return self.drivers.get(vol.driver).mount(name, ref)

    def unmount(self, name: str, ref: str) -> None:
        with self._locks.hold(name):
            rec = self._record(name)
            if rec is None:
                raise NotFound(f"get {name}: no such volume")
            self.drivers.get(rec.driver).unmount(name, ref)

    def live_restore(self, name: str, ref: str) -> None:
        """A restored, still-running container: add its ref and count its mount."""
        with self._locks.hold(name):
            rec = self._record(name)
            if rec is None:
                raise NotFound(f"get {name}: no such volume")
            self._add_ref(name, ref)
            self.drivers.get(rec.driver).live_restore(name, ref)

    def data_path(self, name: str) -> str:
        """Where a local volume's data is (for sizes); "" for plugin volumes."""
        rec = self._record(name)
        if rec is None or rec.driver != DEFAULT_DRIVER:
            return ""
        try:
            return self.drivers.local.path(name)
        except NotFound:
            return ""
