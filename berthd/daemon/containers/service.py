"""ContainerService: the container verbs of the daemon (dockerd's daemon/*.go).

State changes of one container are serialised by its lock; waiting for an
exit never holds it (the exit handler needs it). Every container that runs
has one monitor task, owned by the service, that waits for conmon to report
the exit and then records it. The verbs live in one mixin per group:

- ``create.py`` create · ``run.py`` start, monitor, restart policies ·
  ``stop.py`` kill, stop, restart, wait, rm, rename, pause, resize ·
  ``info.py`` inspect, ps, top, stats, diff, export, logs, update ·
  ``sessions.py`` attach, exec · ``restore.py`` start-up and shutdown
"""

from __future__ import annotations

from berthd.daemon.containers.create import CreateMixin
from berthd.daemon.containers.info import InfoMixin
from berthd.daemon.containers.restore import RestoreMixin
from berthd.daemon.containers.run import RunMixin
from berthd.daemon.containers.sessions import SessionsMixin
from berthd.daemon.containers.stop import StopMixin

__all__ = ["ContainerService"]


class ContainerService(CreateMixin, RunMixin, StopMixin, InfoMixin, SessionsMixin, RestoreMixin):
    """All container verbs; constructed by ``ServiceBase.__init__``."""
