"""The Go types of the request bodies dockerd decodes (moby's api/types), for
``berthd.api.decode.check``. Only the types matter here; what a value means is
the backends' business. Each struct lists every field of its Go type at API
1.45, so that keys Go would drop are dropped (``prune``); the swarm specs at the
end list only the fields whose types matter and are never pruned."""

from __future__ import annotations

from berthd.api.decode import Array, Map, Slice, Struct

__all__ = [
    "CONTAINER_CREATE",
    "CONTAINER_UPDATE",
    "EXEC_CREATE",
    "EXEC_START",
    "NETWORK_CONNECT",
    "NETWORK_CREATE",
    "NETWORK_DISCONNECT",
    "SWARM_CONFIG_SPEC",
    "SWARM_INIT",
    "SWARM_JOIN",
    "SWARM_NODE_SPEC",
    "SWARM_SECRET_SPEC",
    "SWARM_SERVICE_SPEC",
    "SWARM_SPEC",
    "SWARM_UNLOCK",
    "VOLUME_CREATE",
]

_STRS = Slice("string")
_LABELS = Map("string")
_SET = Map(Struct("struct {}"))  # map[string]struct{}: any object values

HEALTH_CONFIG = Struct(
    "container.HealthConfig",
    {
        "Test": _STRS,
        "Interval": "int64",
        "Timeout": "int64",
        "StartPeriod": "int64",
        "StartInterval": "int64",
        "Retries": "int",
    },
)

CONFIG = Struct(
    "container.Config",
    {
        "Hostname": "string",
        "Domainname": "string",
        "User": "string",
        "AttachStdin": "bool",
        "AttachStdout": "bool",
        "AttachStderr": "bool",
        "ExposedPorts": _SET,
        "Tty": "bool",
        "OpenStdin": "bool",
        "StdinOnce": "bool",
        "Env": _STRS,
        "Cmd": "strslice",
        "Healthcheck": HEALTH_CONFIG,
        "ArgsEscaped": "bool",
        "Image": "string",
        "Volumes": _SET,
        "WorkingDir": "string",
        "Entrypoint": "strslice",
        "NetworkDisabled": "bool",
        "MacAddress": "string",
        "OnBuild": _STRS,
        "Labels": _LABELS,
        "StopSignal": "string",
        "StopTimeout": "int",
        "Shell": "strslice",
    },
)

_WEIGHT_DEVICE = Struct("blkiodev.WeightDevice", {"Path": "string", "Weight": "uint16"})
_THROTTLE_DEVICE = Struct("blkiodev.ThrottleDevice", {"Path": "string", "Rate": "uint64"})

RESOURCES = Struct(
    "container.Resources",
    {
        "CpuShares": "int64",
        "Memory": "int64",
        "NanoCpus": "int64",
        "CgroupParent": "string",
        "BlkioWeight": "uint16",
        "BlkioWeightDevice": Slice(_WEIGHT_DEVICE),
        "BlkioDeviceReadBps": Slice(_THROTTLE_DEVICE),
        "BlkioDeviceWriteBps": Slice(_THROTTLE_DEVICE),
        "BlkioDeviceReadIOps": Slice(_THROTTLE_DEVICE),
        "BlkioDeviceWriteIOps": Slice(_THROTTLE_DEVICE),
        "CpuPeriod": "int64",
        "CpuQuota": "int64",
        "CpuRealtimePeriod": "int64",
        "CpuRealtimeRuntime": "int64",
        "CpusetCpus": "string",
        "CpusetMems": "string",
        "Devices": Slice(
            Struct(
                "container.DeviceMapping",
                {
                    "PathOnHost": "string",
                    "PathInContainer": "string",
                    "CgroupPermissions": "string",
                },
            )
        ),
        "DeviceCgroupRules": _STRS,
        "DeviceRequests": Slice(
            Struct(
                "container.DeviceRequest",
                {
                    "Driver": "string",
                    "Count": "int",
                    "DeviceIDs": _STRS,
                    "Capabilities": Slice(_STRS),
                    "Options": _LABELS,
                },
            )
        ),
        "KernelMemory": "int64",
        "KernelMemoryTCP": "int64",
        "MemoryReservation": "int64",
        "MemorySwap": "int64",
        "MemorySwappiness": "int64",
        "OomKillDisable": "bool",
        "PidsLimit": "int64",
        "Ulimits": Slice(
            Struct("units.Ulimit", {"Name": "string", "Hard": "int64", "Soft": "int64"})
        ),
        "CpuCount": "int64",
        "CpuPercent": "int64",
        "IOMaximumIOps": "uint64",
        "IOMaximumBandwidth": "uint64",
    },
)

_RESTART_POLICY = Struct("container.RestartPolicy", {"Name": "string", "MaximumRetryCount": "int"})

_MOUNT = Struct(
    "mount.Mount",
    {
        "Type": "string",
        "Source": "string",
        "Target": "string",
        "ReadOnly": "bool",
        "Consistency": "string",
        "BindOptions": Struct(
            "mount.BindOptions",
            {
                "Propagation": "string",
                "NonRecursive": "bool",
                "CreateMountpoint": "bool",
                "ReadOnlyNonRecursive": "bool",
                "ReadOnlyForceRecursive": "bool",
            },
        ),
        "VolumeOptions": Struct(
            "mount.VolumeOptions",
            {
                "NoCopy": "bool",
                "Labels": _LABELS,
                "Subpath": "string",
                "DriverConfig": Struct("mount.Driver", {"Name": "string", "Options": _LABELS}),
            },
        ),
        "TmpfsOptions": Struct(
            "mount.TmpfsOptions",
            {"SizeBytes": "int64", "Mode": "uint32", "Options": Slice(_STRS)},
        ),
        "ClusterOptions": Struct("mount.ClusterOptions"),
    },
)

HOST_CONFIG = Struct(
    "container.HostConfig",
    {
        "Binds": _STRS,
        "ContainerIDFile": "string",
        "LogConfig": Struct("container.LogConfig", {"Type": "string", "Config": _LABELS}),
        "NetworkMode": "string",
        "PortBindings": Map(
            Slice(Struct("nat.PortBinding", {"HostIp": "string", "HostPort": "string"}))
        ),
        "RestartPolicy": _RESTART_POLICY,
        "AutoRemove": "bool",
        "VolumeDriver": "string",
        "VolumesFrom": _STRS,
        "ConsoleSize": Array("uint64", 2),
        "Annotations": _LABELS,
        "CapAdd": "strslice",
        "CapDrop": "strslice",
        "CgroupnsMode": "string",
        "Dns": _STRS,
        "DnsOptions": _STRS,
        "DnsSearch": _STRS,
        "ExtraHosts": _STRS,
        "GroupAdd": _STRS,
        "IpcMode": "string",
        "Cgroup": "string",
        "Links": _STRS,
        "OomScoreAdj": "int",
        "PidMode": "string",
        "Privileged": "bool",
        "PublishAllPorts": "bool",
        "ReadonlyRootfs": "bool",
        "SecurityOpt": _STRS,
        "StorageOpt": _LABELS,
        "Tmpfs": _LABELS,
        "UTSMode": "string",
        "UsernsMode": "string",
        "ShmSize": "int64",
        "Sysctls": _LABELS,
        "Runtime": "string",
        "Isolation": "string",
        "Mounts": Slice(_MOUNT),
        "MaskedPaths": _STRS,
        "ReadonlyPaths": _STRS,
        "Init": "bool",
    },
    (RESOURCES,),
)

_ENDPOINT_SETTINGS = Struct(
    "network.EndpointSettings",
    {
        "IPAMConfig": Struct(
            "network.EndpointIPAMConfig",
            {"IPv4Address": "string", "IPv6Address": "string", "LinkLocalIPs": _STRS},
        ),
        "Links": _STRS,
        "Aliases": _STRS,
        "DriverOpts": _LABELS,
        "MacAddress": "string",
        "NetworkID": "string",
        "EndpointID": "string",
        "Gateway": "string",
        "IPAddress": "string",
        "IPPrefixLen": "int",
        "IPv6Gateway": "string",
        "GlobalIPv6Address": "string",
        "GlobalIPv6PrefixLen": "int",
        "DNSNames": _STRS,
    },
)

CONTAINER_CREATE = Struct(
    "container.CreateRequest",
    {
        "HostConfig": HOST_CONFIG,
        "NetworkingConfig": Struct(
            "network.NetworkingConfig", {"EndpointsConfig": Map(_ENDPOINT_SETTINGS)}
        ),
    },
    (CONFIG,),
)

CONTAINER_UPDATE = Struct(
    "container.UpdateConfig", {"RestartPolicy": _RESTART_POLICY}, (RESOURCES,)
)

EXEC_CREATE = Struct(
    "container.ExecOptions",
    {
        "User": "string",
        "Privileged": "bool",
        "Tty": "bool",
        "ConsoleSize": Array("uint64", 2),
        "AttachStdin": "bool",
        "AttachStderr": "bool",
        "AttachStdout": "bool",
        "Detach": "bool",
        "DetachKeys": "string",
        "Env": _STRS,
        "WorkingDir": "string",
        "Cmd": "strslice",
    },
)

EXEC_START = Struct(
    "container.ExecStartOptions",
    {"Detach": "bool", "Tty": "bool", "ConsoleSize": Array("uint64", 2)},
)

_IPAM = Struct(
    "network.IPAM",
    {
        "Driver": "string",
        "Options": _LABELS,
        "Config": Slice(
            Struct(
                "network.IPAMConfig",
                {
                    "Subnet": "string",
                    "IPRange": "string",
                    "Gateway": "string",
                    "AuxiliaryAddresses": _LABELS,
                },
            )
        ),
    },
)

NETWORK_CREATE = Struct(
    "network.CreateRequest",
    {
        "Name": "string",
        "CheckDuplicate": "bool",
        "Driver": "string",
        "Scope": "string",
        "EnableIPv4": "bool",
        "EnableIPv6": "bool",
        "IPAM": _IPAM,
        "Internal": "bool",
        "Attachable": "bool",
        "Ingress": "bool",
        "ConfigOnly": "bool",
        "ConfigFrom": Struct("network.ConfigReference", {"Network": "string"}),
        "Options": _LABELS,
        "Labels": _LABELS,
    },
)

NETWORK_CONNECT = Struct(
    "network.ConnectOptions", {"Container": "string", "EndpointConfig": _ENDPOINT_SETTINGS}
)

NETWORK_DISCONNECT = Struct("network.DisconnectOptions", {"Container": "string", "Force": "bool"})

VOLUME_CREATE = Struct(
    "volume.CreateOptions",
    {
        "Name": "string",
        "Driver": "string",
        "DriverOpts": _LABELS,
        "Labels": _LABELS,
        "ClusterVolumeSpec": "any",
    },
)

# -- swarm (moby's api/types/swarm): the fields whose types a client gets wrong --

_SWARM_DRIVER = Struct("swarm.Driver", {"Name": "string", "Options": _LABELS})
_ANNOTATIONS = Struct("swarm.Annotations", {"Name": "string", "Labels": _LABELS})

SWARM_SPEC = Struct(
    "swarm.Spec",
    {
        "Orchestration": Struct(
            "swarm.OrchestrationConfig", {"TaskHistoryRetentionLimit": "int64"}
        ),
        "Raft": Struct(
            "swarm.RaftConfig",
            {
                "SnapshotInterval": "uint64",
                "KeepOldSnapshots": "uint64",
                "LogEntriesForSlowFollowers": "uint64",
                "ElectionTick": "int",
                "HeartbeatTick": "int",
            },
        ),
        "Dispatcher": Struct("swarm.DispatcherConfig", {"HeartbeatPeriod": "int64"}),
        "CAConfig": Struct(
            "swarm.CAConfig",
            {
                "NodeCertExpiry": "int64",
                "SigningCACert": "string",
                "SigningCAKey": "string",
                "ForceRotate": "uint64",
            },
        ),
        "TaskDefaults": Struct("swarm.TaskDefaults", {"LogDriver": _SWARM_DRIVER}),
        "EncryptionConfig": Struct("swarm.EncryptionConfig", {"AutoLockManagers": "bool"}),
    },
    (_ANNOTATIONS,),
)

SWARM_INIT = Struct(
    "swarm.InitRequest",
    {
        "ListenAddr": "string",
        "AdvertiseAddr": "string",
        "DataPathAddr": "string",
        "DataPathPort": "uint32",
        "ForceNewCluster": "bool",
        "Spec": SWARM_SPEC,
        "AutoLockManagers": "bool",
        "Availability": "string",
        "DefaultAddrPool": _STRS,
        "SubnetSize": "uint32",
    },
)

SWARM_JOIN = Struct(
    "swarm.JoinRequest",
    {
        "ListenAddr": "string",
        "AdvertiseAddr": "string",
        "DataPathAddr": "string",
        "RemoteAddrs": _STRS,
        "JoinToken": "string",
        "Availability": "string",
    },
)

SWARM_UNLOCK = Struct("swarm.UnlockRequest", {"UnlockKey": "string"})

SWARM_NODE_SPEC = Struct(
    "swarm.NodeSpec", {"Role": "string", "Availability": "string"}, (_ANNOTATIONS,)
)

_SWARM_NETWORKS = Slice(
    Struct(
        "swarm.NetworkAttachmentConfig",
        {"Target": "string", "Aliases": _STRS, "DriverOpts": _LABELS},
    )
)
_SWARM_FILE = Struct(
    "swarm.SecretReferenceFileTarget",
    {"Name": "string", "UID": "string", "GID": "string", "Mode": "uint32"},
)
_SWARM_LIMITS = Struct(
    "swarm.Resources", {"NanoCPUs": "int64", "MemoryBytes": "int64", "Pids": "int64"}
)
_SWARM_UPDATE = Struct(
    "swarm.UpdateConfig",
    {
        "Parallelism": "uint64",
        "Delay": "int64",
        "FailureAction": "string",
        "Monitor": "int64",
        "MaxFailureRatio": "float64",
        "Order": "string",
    },
)

SWARM_SERVICE_SPEC = Struct(
    "swarm.ServiceSpec",
    {
        "TaskTemplate": Struct(
            "swarm.TaskSpec",
            {
                "ContainerSpec": Struct(
                    "swarm.ContainerSpec",
                    {
                        "Image": "string",
                        "Labels": _LABELS,
                        "Command": _STRS,
                        "Args": _STRS,
                        "Hostname": "string",
                        "Env": _STRS,
                        "Dir": "string",
                        "User": "string",
                        "TTY": "bool",
                        "OpenStdin": "bool",
                        "ReadOnly": "bool",
                        "Mounts": Slice(_MOUNT),
                        "StopSignal": "string",
                        "StopGracePeriod": "int64",
                        "Healthcheck": HEALTH_CONFIG,
                        "Hosts": _STRS,
                        "Secrets": Slice(
                            Struct(
                                "swarm.SecretReference",
                                {"File": _SWARM_FILE, "SecretID": "string", "SecretName": "string"},
                            )
                        ),
                        "Configs": Slice(
                            Struct(
                                "swarm.ConfigReference",
                                {"File": _SWARM_FILE, "ConfigID": "string", "ConfigName": "string"},
                            )
                        ),
                        "Init": "bool",
                        "Sysctls": _LABELS,
                        "CapabilityAdd": _STRS,
                        "CapabilityDrop": _STRS,
                    },
                ),
                "Resources": Struct(
                    "swarm.ResourceRequirements",
                    {"Limits": _SWARM_LIMITS, "Reservations": _SWARM_LIMITS},
                ),
                "RestartPolicy": Struct(
                    "swarm.RestartPolicy",
                    {
                        "Condition": "string",
                        "Delay": "int64",
                        "MaxAttempts": "uint64",
                        "Window": "int64",
                    },
                ),
                "Placement": Struct(
                    "swarm.Placement", {"Constraints": _STRS, "MaxReplicas": "uint64"}
                ),
                "Networks": _SWARM_NETWORKS,
                "LogDriver": _SWARM_DRIVER,
                "ForceUpdate": "uint64",
                "Runtime": "string",
            },
        ),
        "Mode": Struct(
            "swarm.ServiceMode",
            {
                "Replicated": Struct("swarm.ReplicatedService", {"Replicas": "uint64"}),
                "Global": Struct("swarm.GlobalService"),
                "ReplicatedJob": Struct(
                    "swarm.ReplicatedJob",
                    {"MaxConcurrent": "uint64", "TotalCompletions": "uint64"},
                ),
                "GlobalJob": Struct("swarm.GlobalJob"),
            },
        ),
        "UpdateConfig": _SWARM_UPDATE,
        "RollbackConfig": _SWARM_UPDATE,
        "Networks": _SWARM_NETWORKS,
        "EndpointSpec": Struct(
            "swarm.EndpointSpec",
            {
                "Mode": "string",
                "Ports": Slice(
                    Struct(
                        "swarm.PortConfig",
                        {
                            "Name": "string",
                            "Protocol": "string",
                            "TargetPort": "uint32",
                            "PublishedPort": "uint32",
                            "PublishMode": "string",
                        },
                    )
                ),
            },
        ),
    },
    (_ANNOTATIONS,),
)

_TEMPLATING = Struct("swarm.Driver", {"Name": "string", "Options": _LABELS})

SWARM_SECRET_SPEC = Struct(
    "swarm.SecretSpec",
    {"Data": "string", "Driver": _SWARM_DRIVER, "Templating": _TEMPLATING},
    (_ANNOTATIONS,),
)

SWARM_CONFIG_SPEC = Struct(
    "swarm.ConfigSpec", {"Data": "string", "Templating": _TEMPLATING}, (_ANNOTATIONS,)
)
