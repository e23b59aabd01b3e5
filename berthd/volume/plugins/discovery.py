"""Finding a legacy plugin by name, as moby's ``pkg/plugins`` discovery.

A plugin is a unix socket ``<sockets>/<name>.sock`` (or ``<sockets>/<name>/<name>.sock``),
or a spec file in one of the spec directories: ``<name>.spec`` holds an address
(``unix:///…``, ``tcp://host:port``), ``<name>.json`` a JSON object
``{"Name", "Addr", "TLSConfig": {"InsecureSkipVerify", "CAFile", "CertFile", "KeyFile"}}``.
The directories are parameters so that tests never touch /run/docker/plugins.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from berthd.errdefs import InvalidParameter

__all__ = ["PluginAddr", "PluginDirs", "TLSFiles", "find_plugin", "scan_plugins"]


@dataclass(frozen=True)
class PluginDirs:
    sockets: str = "/run/docker/plugins"
    specs: tuple[str, ...] = ("/etc/docker/plugins", "/usr/lib/docker/plugins")


@dataclass(frozen=True)
class TLSFiles:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class PluginAddr:
    name: str
    addr: str  # unix:///path, tcp://host:port, http(s)://host:port
    tls: TLSFiles | None = None


def _paths(base: str, name: str, ext: str) -> list[str]:
    return [os.path.join(base, name + ext), os.path.join(base, name, name + ext)]


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def find_plugin(name: str, dirs: PluginDirs) -> PluginAddr | None:
    """The plugin's address, or None if no socket or spec file has that name."""
    if not name or "/" in name or name in (".", ".."):
        return None
    for p in _paths(dirs.sockets, name, ".sock"):
        if _is_socket(p):
            return PluginAddr(name, "unix://" + p)
    for base in dirs.specs:
        for ext in (".spec", ".json"):
            for p in _paths(base, name, ext):
                if os.path.exists(p):
                    return _read_json(name, p) if ext == ".json" else _read_spec(name, p)
    return None


def _read_spec(name: str, path: str) -> PluginAddr:
    with open(path) as f:
        addr = f.read().strip()
    if not urlsplit(addr).scheme:
        raise InvalidParameter("Unknown protocol")
    return PluginAddr(name, addr)


def _read_json(name: str, path: str) -> PluginAddr:
    with open(path, "rb") as f:
        try:
            data = orjson.loads(f.read())
        except orjson.JSONDecodeError as e:
            raise InvalidParameter(f"{path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Addr"), str):
        raise InvalidParameter(f"{path}: no Addr")
    tls = None
    raw = data.get("TLSConfig")
    if isinstance(raw, dict):
        ca = str(raw.get("CAFile", ""))
        tls = TLSFiles(
            ca_file=ca,
            cert_file=str(raw.get("CertFile", "")),
            key_file=str(raw.get("KeyFile", "")),
            # moby: no CA file means the server is not verified
            insecure_skip_verify=bool(raw.get("InsecureSkipVerify", False)) or not ca,
        )
    return PluginAddr(name, data["Addr"], tls)


def scan_plugins(dirs: PluginDirs) -> list[str]:
    """Every plugin name found in the directories (moby's ``plugins.Scan``)."""
    names: list[str] = []
    try:
        entries = sorted(os.listdir(dirs.sockets))
    except OSError:
        entries = []
    for entry in entries:
        full = os.path.join(dirs.sockets, entry)
        if os.path.isdir(full):
            if _is_socket(os.path.join(full, entry + ".sock")):
                names.append(entry)
        elif _is_socket(full):
            names.append(os.path.splitext(entry)[0])
    for base in dirs.specs:
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            continue
        for entry in entries:
            full = os.path.join(base, entry)
            if os.path.isdir(full):
                specs = [os.path.join(full, entry + ext) for ext in (".spec", ".json")]
                if any(os.path.exists(p) for p in specs):
                    names.append(entry)
                continue
            stem, ext = os.path.splitext(entry)
            if ext in (".spec", ".json"):
                names.append(stem)
    return list(dict.fromkeys(names))
