"""The table of daemon options: one row per daemon.json key.

A flag's long name equals its daemon.json key, except where dockerd names them
differently (``--host``/``hosts``, ``--label``/``labels``,
``--add-runtime``/``runtimes``); the row records both. The CLI builds its
argument parser from this table and the loader checks daemon.json against it,
so a new option is added in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OPTIONS", "OPTIONS_BY_KEY", "Option"]


@dataclass(frozen=True)
class Option:
    key: str  # daemon.json key
    flags: tuple[str, ...]  # command-line spellings, long first
    kind: str  # bool | str | int | list | runtimes
    default: object
    help: str
    reloadable: bool = False

    @property
    def attr(self) -> str:
        """The DaemonConfig attribute that holds this option."""
        return self.key.replace("-", "_")

    @property
    def flag_name(self) -> str:
        """The long flag name without dashes (what conflict messages print)."""
        return self.flags[0].lstrip("-")


OPTIONS: tuple[Option, ...] = (
    Option("hosts", ("--host", "-H"), "list", (), "Daemon socket(s) to connect to"),
    Option("data-root", ("--data-root",), "str", "/var/lib/berthd", "Root of persistent state"),
    Option("exec-root", ("--exec-root",), "str", "/run/berthd", "Root of execution state"),
    Option("pidfile", ("--pidfile", "-p"), "str", "/run/berthd.pid", "Path to the pid file"),
    Option("debug", ("--debug", "-D"), "bool", False, "Enable debug mode", reloadable=True),
    Option(
        "log-level",
        ("--log-level", "-l"),
        "str",
        "info",
        'Logging level ("debug"|"info"|"warn"|"error"|"fatal")',
        reloadable=True,
    ),
    Option("log-format", ("--log-format",), "str", "text", 'Log format ("text"|"json")'),
    Option("group", ("--group", "-G"), "str", "docker", "Group for the unix socket"),
    Option("tls", ("--tls",), "bool", False, "Use TLS; implied by --tlsverify"),
    Option("tlsverify", ("--tlsverify",), "bool", False, "Use TLS and verify the remote"),
    Option(
        "tlscacert", ("--tlscacert",), "str", "~/.docker/ca.pem", "Trust certs signed by this CA"
    ),
    Option("tlscert", ("--tlscert",), "str", "~/.docker/cert.pem", "Path to TLS certificate file"),
    Option("tlskey", ("--tlskey",), "str", "~/.docker/key.pem", "Path to TLS key file"),
    Option("api-cors-header", ("--api-cors-header",), "str", "", "CORS headers in the API"),
    Option("labels", ("--label",), "list", (), "Key=value labels for the daemon", reloadable=True),
    Option(
        "shutdown-timeout",
        ("--shutdown-timeout",),
        "int",
        15,
        "Default seconds to wait for containers at shutdown",
        reloadable=True,
    ),
    Option(
        "live-restore",
        ("--live-restore",),
        "bool",
        False,
        "Keep containers running while the daemon is down",
        reloadable=True,
    ),
    Option(
        "default-runtime",
        ("--default-runtime",),
        "str",
        "",
        "Default OCI runtime for containers (empty: the one that works on this host)",
        reloadable=True,
    ),
    Option(
        "runtimes",
        ("--add-runtime",),
        "runtimes",
        {},
        "Register an additional OCI runtime (name=path)",
        reloadable=True,
    ),
    Option(
        "storage-driver", ("--storage-driver", "-s"), "str", "", "Storage driver (overlay2|vfs)"
    ),
    Option("cgroup-parent", ("--cgroup-parent",), "str", "/berthd", "Parent cgroup for containers"),
    Option("bridge", ("--bridge", "-b"), "str", "berth0", "Bridge device of the default network"),
    Option("bip", ("--bip",), "str", "", "Address and prefix of the default bridge (CIDR)"),
    Option("fixed-cidr", ("--fixed-cidr",), "str", "", "IPv4 range for default bridge addresses"),
    Option("mtu", ("--mtu",), "int", 0, "MTU of the default bridge network (0: the kernel's)"),
    Option("ip-forward", ("--ip-forward",), "bool", True, "Enable net.ipv4.ip_forward"),
    # netavark always isolates nothing within a bridge, masquerades and writes iptables
    # rules: berthd takes dockerd's defaults and refuses the other values (config/load.py)
    Option("icc", ("--icc",), "bool", True, "Inter-container communication (only true)"),
    Option("ip-masq", ("--ip-masq",), "bool", True, "IP masquerading (only true)"),
    Option("iptables", ("--iptables",), "bool", True, "iptables rules (only true)"),
    Option(
        "userland-proxy",
        ("--userland-proxy",),
        "bool",
        True,
        "Accepted for dockerd compatibility: netavark forwards published ports in the kernel",
    ),
    Option("dns", ("--dns",), "list", (), "DNS servers for containers (and for aardvark-dns)"),
    Option(
        "default-address-pools",
        ("--default-address-pool",),
        "list",
        (),
        "Address pools for new networks (base=CIDR,size=N)",
    ),
    Option(
        "registry-mirrors",
        ("--registry-mirror",),
        "list",
        (),
        "Preferred Docker registry mirror",
        reloadable=True,
    ),
    Option(
        "insecure-registries",
        ("--insecure-registry",),
        "list",
        (),
        "Enable insecure registry communication",
        reloadable=True,
    ),
    Option(
        "registry-certs-dir",
        ("--registry-certs-dir",),
        "str",
        "/etc/docker/certs.d",
        "Directory of per-registry TLS files (<dir>/<host:port>/ca.crt, client.cert, client.key)",
        reloadable=True,
    ),
    Option(
        "registry-read-timeout",
        ("--registry-read-timeout",),
        "int",
        60,
        "Seconds a registry may send nothing (headers or body) before a read fails (0: never)",
        reloadable=True,
    ),
    Option(
        "max-concurrent-downloads",
        ("--max-concurrent-downloads",),
        "int",
        3,
        "Set the max concurrent downloads",
        reloadable=True,
    ),
    Option(
        "max-concurrent-uploads",
        ("--max-concurrent-uploads",),
        "int",
        5,
        "Set the max concurrent uploads",
        reloadable=True,
    ),
    Option(
        "max-download-attempts",
        ("--max-download-attempts",),
        "int",
        5,
        "Set the max download attempts for each pull",
        reloadable=True,
    ),
)

OPTIONS_BY_KEY: dict[str, Option] = {o.key: o for o in OPTIONS}
