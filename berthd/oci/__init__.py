"""Build the OCI runtime spec (``config.json``) for a container the way dockerd does.

Everything here is data in, data out: callers pass Docker API ``Config`` and
``HostConfig`` dicts (the JSON field names of the Engine API) and get back plain
dicts ready to be serialised as ``config.json`` for runc. The only I/O is reading
the container's rootfs ``/etc/passwd`` and ``/etc/group``, ``/proc`` and host
device nodes, because dockerd reads exactly those when it builds a spec.

One concept per module: ``defaults`` (oci.DefaultSpec), ``caps``, ``seccomp``,
``security_opts``, ``resources``, ``ulimits``, ``sysctls``, ``devices``, ``mounts``,
``user``, ``process``, ``signals``; ``spec`` composes them into ``build_spec``.
"""

from __future__ import annotations

from .signals import parse_signal
from .spec import SpecOptions, build_spec, validate_host_config

__all__ = ["SpecOptions", "build_spec", "parse_signal", "validate_host_config"]
