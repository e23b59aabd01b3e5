"""dockerd's create-time checks (runconfig + verifyContainerSettings), with its words."""

from __future__ import annotations

from typing import Any

import pytest

from berthd.daemon.containers.verify import verify_container_settings
from berthd.errdefs import InvalidParameter
from berthd.oci.resources import validate_resources


def refused(config: dict[str, Any], hc: dict[str, Any], driver: str = "overlay2") -> str:
    with pytest.raises(InvalidParameter) as e:
        verify_container_settings(config, hc, driver, num_cpus=2, realtime=True)
    return str(e.value)


def test_accepts_an_ordinary_request() -> None:
    hc = {
        "PortBindings": {"80/tcp": [{"HostPort": "8080"}], "53/udp": [{"HostPort": ""}]},
        "ExtraHosts": ["db:10.0.0.2", "v6:::1", "gw:host-gateway"],
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "CapAdd": ["NET_ADMIN"],
        "Isolation": "default",
        "CpuRealtimePeriod": 1000,
        "CpuRealtimeRuntime": 500,
    }
    config = {"Env": ["A=1", "B"], "Healthcheck": {"Interval": 1_000_000, "Retries": 0}}
    assert verify_container_settings(config, hc, num_cpus=2, realtime=True) == []


@pytest.mark.parametrize(
    ("config", "hc", "message"),
    [
        ({}, {"NetworkMode": "container:"}, "Invalid network mode: invalid container format "
         "container:<name|id>"),
        ({"Hostname": "h"}, {"NetworkMode": "container:x"},
         "conflicting options: hostname and the network mode"),
        ({}, {"NetworkMode": "container:x", "Dns": ["1.1.1.1"]},
         "conflicting options: dns and the network mode"),
        ({}, {"NetworkMode": "container:x", "PublishAllPorts": True},
         "conflicting options: port publishing and the container type network mode"),
        ({"Hostname": "h"}, {"UTSMode": "host"}, "conflicting options: hostname and the UTS mode"),
        ({}, {"Isolation": "hyperv"}, "Invalid isolation: \"hyperv\" - linux only supports "
         "'default'"),
        ({}, {"IOMaximumBandwidth": 5}, "Invalid QoS settings: linux does not support "
         "configuration of maximum bandwidth"),
        ({}, {"CpuRealtimePeriod": 100, "CpuRealtimeRuntime": 1000},
         "cpu real-time runtime cannot be higher than cpu real-time period"),
        ({"WorkingDir": "rel"}, {}, "the working directory 'rel' is invalid, it needs to be an "
         "absolute path"),
        ({"StopSignal": "SIGBOGUS"}, {}, "Invalid signal: SIGBOGUS"),
        ({"Env": [""]}, {}, "invalid environment variable: "),
        ({"Env": ["=x"]}, {}, "invalid environment variable: =x"),
        ({"Healthcheck": {"Interval": 5}}, {}, "Interval in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"Timeout": -1}}, {}, "Timeout in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"Retries": -1}}, {}, "Retries in Healthcheck cannot be negative"),
        ({"Healthcheck": {"StartPeriod": 999_999}}, {},
         "StartPeriod in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"StartInterval": 1}}, {},
         "StartInterval in Healthcheck cannot be less than 1ms"),
        ({}, {"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
         "can't create 'AutoRemove' container with restart policy"),
        ({}, {"ExtraHosts": ["bogus"]}, 'bad format for add-host: "bogus"'),
        ({}, {"ExtraHosts": [":1.2.3.4"]}, 'bad format for add-host: ":1.2.3.4"'),
        ({}, {"ExtraHosts": ["h:1.2.3"]}, 'invalid IP address in add-host: "1.2.3"'),
        ({}, {"PortBindings": {"bogus": []}}, 'invalid port specification: "bogus"'),
        ({}, {"PortBindings": {"99999/tcp": []}}, 'invalid port specification: "99999"'),
        ({}, {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}},
         'invalid port specification: "99999"'),
        ({}, {"PortBindings": {"80/tcp": [{"HostPort": "90-80"}]}},
         'invalid port specification: "90-80"'),
        ({}, {"RestartPolicy": {"Name": "", "MaximumRetryCount": 2}},
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        ({}, {"RestartPolicy": {"Name": "always", "MaximumRetryCount": -1}},
         "invalid restart policy: maximum retry count can only be used with 'on-failure' and "
         "cannot be negative"),
        ({}, {"CapAdd": ["BOGUS"]}, 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
        ({}, {"CapDrop": ["nope"]}, 'invalid CapDrop: unknown capability: "CAP_NOPE"'),
        ({}, {"Annotations": {"": "x"}}, "invalid Annotations: the empty string is not "
         "permitted as an annotation key"),
        ({}, {"StorageOpt": {"size": "1G"}}, "--storage-opt is supported only for overlay over "
         "xfs with 'pquota' mount option"),
        ({}, {"Memory": -1}, "Minimum memory limit allowed is 6MB"),
        ({}, {"NanoCpus": -1}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs "
         "available"),
        ({}, {"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is "
         "[-1000, 1000]"),
        ({}, {"CpusetCpus": "0-"}, "Invalid value 0- for cpuset cpus: invalid format: 0-"),
    ],
)  # fmt: skip
def test_refusals(config: dict[str, Any], hc: dict[str, Any], message: str) -> None:
    assert refused(config, hc) == message


def test_storage_opts_on_vfs() -> None:
    assert refused({}, {"StorageOpt": {"size": "1G"}}, "vfs") == "Storage opt size not supported"


def test_realtime_needs_the_scheduler() -> None:
    with pytest.raises(InvalidParameter, match="does not support CPU real-time scheduler"):
        verify_container_settings({}, {"CpuRealtimeRuntime": 5}, realtime=False)


def test_kernel_memory() -> None:
    with pytest.raises(InvalidParameter, match=r"^Minimum kernel memory limit allowed is 6MB$"):
        validate_resources({"KernelMemory": 1}, kmem=True)
    assert validate_resources({"KernelMemory": 1}, kmem=False) == [
        "Your kernel does not support kernel memory limit capabilities or the cgroup is not "
        "mounted. Limitation discarded."
    ]
    assert validate_resources({"KernelMemory": -1}, kmem=True) == []  # dockerd: no check
