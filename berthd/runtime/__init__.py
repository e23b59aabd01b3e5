"""Running containers: conmon per container and per exec, any OCI runtime CLI behind it.

The daemon's entry point is ``Supervisor`` (dockerd's libcontainerd client):
create/start/wait/signal/attach/resize/exec/pause/resume/update/pids/stats/
restore/delete. ``OCIRuntime`` wraps one runtime binary (runc, crun, or an
``--add-runtime`` entry) and can ``probe`` whether it works on this host;
``choose_default`` picks the default from the probes for ``docker info``.
"""

from __future__ import annotations

from berthd.runtime.attach import AttachSession
from berthd.runtime.conmon import ConmonSettings, CreateOptions
from berthd.runtime.errors import RuntimeStartError
from berthd.runtime.exec import ExecSession
from berthd.runtime.monitor import ExitStatus
from berthd.runtime.oci_runtime import OCIRuntime, ProbeResult, choose_default
from berthd.runtime.supervisor import Restored, Supervisor

__all__ = [
    "AttachSession",
    "ConmonSettings",
    "CreateOptions",
    "ExecSession",
    "ExitStatus",
    "OCIRuntime",
    "ProbeResult",
    "Restored",
    "RuntimeStartError",
    "Supervisor",
    "choose_default",
]
