"""Legacy plugins through a real unix socket: discovery, activation, the VolumeDriver calls."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from berthd.errdefs import Conflict, InvalidParameter, NotFound, System
from berthd.volume import DriverRegistry, PluginDirs, VolumeStore
from berthd.volume.plugins import PluginAddr, PluginClient, find_plugin, scan_plugins
from berthd.volume.plugins.client import MIMETYPE, PluginUnreachable, backoff
from tests.unit.volume.plugin_server import VolumePlugin


def test_discovery_socket_nested_socket_and_spec_files(plugin_dirs: PluginDirs) -> None:
    run, etc, lib = (
        Path(plugin_dirs.sockets),
        Path(plugin_dirs.specs[0]),
        Path(plugin_dirs.specs[1]),
    )
    a = VolumePlugin(run / "flat.sock", run.parent / "s1").start()
    b = VolumePlugin(run / "nested" / "nested.sock", run.parent / "s2").start()
    try:
        etc.mkdir()
        lib.mkdir()
        (etc / "spec.spec").write_text("tcp://127.0.0.1:9\n")
        (lib / "js.json").write_text(
            json.dumps({"Name": "js", "Addr": "https://h:1", "TLSConfig": {}})
        )
        (lib / "bad.spec").write_text("no-scheme")
        (run / "not-a-socket.sock").write_text("")
        assert find_plugin("flat", plugin_dirs) == PluginAddr("flat", f"unix://{run}/flat.sock")
        assert find_plugin("nested", plugin_dirs) == PluginAddr(
            "nested", f"unix://{run}/nested/nested.sock"
        )
        assert find_plugin("spec", plugin_dirs) == PluginAddr("spec", "tcp://127.0.0.1:9")
        js = find_plugin("js", plugin_dirs)
        assert js is not None and js.addr == "https://h:1"
        assert js.tls is not None and js.tls.insecure_skip_verify  # no CA file: not verified
        assert find_plugin("not-a-socket", plugin_dirs) is None
        assert find_plugin("../etc", plugin_dirs) is None
        with pytest.raises(InvalidParameter, match="Unknown protocol"):
            find_plugin("bad", plugin_dirs)
        assert sorted(scan_plugins(plugin_dirs)) == ["bad", "flat", "js", "nested", "spec"]
    finally:
        a.stop()
        b.stop()


def test_client_sends_the_plugin_mimetype_and_reports_errors(plugin: VolumePlugin) -> None:
    client = PluginClient(PluginAddr("testvol", f"unix://{plugin.socket_path}"), retry_timeout=1)
    assert client.call("Plugin.Activate") == {"Implements": ["VolumeDriver"]}
    assert plugin.headers[-1]["Accept"] == MIMETYPE
    with pytest.raises(System) as e:
        client.call("Nope.Method", {})
    assert str(e.value) == "Nope.Method: unknown method Nope.Method"


def test_unreachable_plugin_is_retried_until_the_timeout(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = PluginClient(
        PluginAddr("gone", f"unix://{tmp_path}/gone.sock"),
        retry_timeout=10,
        sleep=sleeps.append,
        clock=lambda: sum(sleeps),
    )
    with pytest.raises(PluginUnreachable):
        client.call("Plugin.Activate")
    assert sleeps == [1.0, 2.0, 4.0]  # the next wait (8 s) would pass the 10 s limit
    assert [backoff(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_volume_lifecycle_through_a_plugin(store: VolumeStore, plugin: VolumePlugin) -> None:
    res = store.create("pv", "testvol", {"k": "v"}, {"l": "1"}, ref="c1")
    assert res.created
    assert (res.volume.driver, res.volume.mountpoint) == ("testvol", "")
    assert plugin.volumes["pv"]["Opts"] == {"k": "v"}
    got = store.get("pv")
    assert got.status == {"hello": "world"}
    assert got.created_at == "2024-01-02T03:04:05Z"
    assert got.labels == {"l": "1"} and got.options == {"k": "v"}
    assert got.to_api(with_status=True)["Status"] == {"hello": "world"}
    path = store.mount("pv", "mount-1")
    assert path == str(plugin.state / "pv") and plugin.mounts["pv"] == {"mount-1"}
    store.unmount("pv", "mount-1")
    assert plugin.mounts["pv"] == set()
    names = [(v.name, v.driver) for v in store.list()[0]]
    assert ("pv", "testvol") in names
    assert store.drivers.names() == ["local", "testvol"]
    with pytest.raises(Conflict, match="volume is in use"):
        store.remove("pv")
    store.release("pv", "c1")
    store.remove("pv")
    assert "pv" not in plugin.volumes
    methods = plugin.methods()
    assert methods[0] == "Plugin.Activate" and methods.count("Plugin.Activate") == 1
    for m in ("Create", "Get", "Mount", "Unmount", "List", "Remove", "Capabilities"):
        assert f"VolumeDriver.{m}" in methods


def test_plugin_errors_are_wrapped(store: VolumeStore, plugin: VolumePlugin) -> None:
    with pytest.raises(System) as e:
        store.create("pv", "testvol", {"fail": "1"})
    assert str(e.value) == "create pv: create refused by plugin"
    assert not store.exists("pv")


def test_name_clash_between_drivers_is_a_conflict(store: VolumeStore, plugin: VolumePlugin) -> None:
    store.create("shared")
    with pytest.raises(Conflict) as e:
        store.create("shared", "testvol")
    assert str(e.value) == (
        "create shared: driver 'local' already has volume 'shared': volume name must be unique"
    )


def test_plugin_volumes_are_listed_from_records_while_it_is_down(
    store: VolumeStore, plugin: VolumePlugin
) -> None:
    store.create("pv", "testvol")
    plugin.stop()
    vols, warnings = store.list()
    assert [(v.name, v.driver) for v in vols] == [("pv", "testvol")]
    assert len(warnings) == 1 and warnings[0].startswith("list testvol: ")


def test_a_plugin_that_is_not_a_volume_driver(
    registry: DriverRegistry, plugin_dirs: PluginDirs
) -> None:
    p = VolumePlugin(
        Path(plugin_dirs.sockets) / "authz.sock",
        Path(plugin_dirs.sockets) / "st",
        implements=("authz",),
    ).start()
    try:
        with pytest.raises(System, match="Plugin does not implement the requested driver"):
            registry.get("authz")
        assert [d.name for d in registry.all()[0]] == ["local"]
    finally:
        p.stop()


def test_scan_activates_volume_plugins_for_listing(
    store: VolumeStore, plugin: VolumePlugin
) -> None:
    plugin.handle("VolumeDriver.Create", {"Name": "made-elsewhere"})
    vols, _ = store.list()
    assert [(v.name, v.driver, v.labels) for v in vols] == [("made-elsewhere", "testvol", None)]


def test_missing_plugin(registry: DriverRegistry) -> None:
    with pytest.raises(NotFound, match='plugin "ghost" not found'):
        registry.get("ghost")
    assert os.path.exists(registry.local.root)
