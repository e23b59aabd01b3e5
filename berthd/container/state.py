"""A container's run state, as dockerd's ``container.State``.

Status words (``created``, ``running``, ``paused``, ``restarting``,
``removing``, ``exited``, ``dead``) and the human ``docker ps`` status
("Up 3 minutes", "Exited (0) 2 seconds ago") are derived here and nowhere
else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from berthd.lib.timefmt import format_ns, human_duration, now_ns, parse_ns

__all__ = ["State"]


@dataclass
class State:
    running: bool = False
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    removal_in_progress: bool = False
    dead: bool = False
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: int = 0  # ns since the epoch, 0 = never
    finished_at: int = 0
    health: dict[str, Any] | None = None
    # conmon's pid while running: how berthd finds the container after a restart
    monitor_pid: int = 0

    def status(self) -> str:
        if self.running:
            if self.paused:
                return "paused"
            if self.restarting:
                return "restarting"
            return "running"
        if self.removal_in_progress:
            return "removing"
        if self.dead:
            return "dead"
        if self.started_at == 0:
            return "created"
        return "exited"

    def health_status(self) -> str:
        if self.health is None:
            return ""
        return str(self.health.get("Status", ""))

    def human(self, now: int | None = None) -> str:
        """The ``Status`` column of ``docker ps``."""
        now = now or now_ns()
        if self.running:
            if self.paused:
                return f"Up {human_duration((now - self.started_at) / 1e9)} (Paused)"
            if self.restarting:
                ago = human_duration((now - self.finished_at) / 1e9)
                return f"Restarting ({self.exit_code}) {ago} ago"
            up = f"Up {human_duration((now - self.started_at) / 1e9)}"
            health = self.health_status()
            if health == "starting":
                return up + " (health: starting)"
            if health in ("healthy", "unhealthy"):
                return f"{up} ({health})"
            return up
        if self.removal_in_progress:
            return "Removal In Progress"
        if self.dead:
            return "Dead"
        if self.started_at == 0:
            return "Created"
        if self.finished_at == 0:
            return ""
        ago = human_duration((now - self.finished_at) / 1e9)
        return f"Exited ({self.exit_code}) {ago} ago"

    def to_api(self) -> dict[str, Any]:
        """``State`` in container inspect."""
        out: dict[str, Any] = {
            "Status": self.status(),
            "Running": self.running,
            "Paused": self.paused,
            "Restarting": self.restarting,
            "OOMKilled": self.oom_killed,
            "Dead": self.dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": format_ns(self.started_at),
            "FinishedAt": format_ns(self.finished_at),
        }
        if self.health is not None:
            out["Health"] = self.health
        return out

    def to_disk(self) -> dict[str, Any]:
        return {
            "Running": self.running,
            "Paused": self.paused,
            "Restarting": self.restarting,
            "OOMKilled": self.oom_killed,
            "RemovalInProgress": self.removal_in_progress,
            "Dead": self.dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": format_ns(self.started_at),
            "FinishedAt": format_ns(self.finished_at),
            "Health": self.health,
            "MonitorPid": self.monitor_pid,
        }

    @classmethod
    def from_disk(cls, d: dict[str, Any]) -> State:
        return cls(
            running=bool(d.get("Running", False)),
            paused=bool(d.get("Paused", False)),
            restarting=bool(d.get("Restarting", False)),
            oom_killed=bool(d.get("OOMKilled", False)),
            removal_in_progress=bool(d.get("RemovalInProgress", False)),
            dead=bool(d.get("Dead", False)),
            pid=int(d.get("Pid", 0)),
            exit_code=int(d.get("ExitCode", 0)),
            error=str(d.get("Error", "")),
            started_at=parse_ns(str(d.get("StartedAt", ""))),
            finished_at=parse_ns(str(d.get("FinishedAt", ""))),
            health=d.get("Health"),
            monitor_pid=int(d.get("MonitorPid", 0)),
        )

    # -- transitions ---------------------------------------------------------------
    def set_running(self, pid: int, monitor_pid: int, started_at: int | None = None) -> None:
        self.running = True
        self.paused = False
        self.restarting = False
        self.dead = False
        self.error = ""
        self.exit_code = 0
        self.oom_killed = False
        self.pid = pid
        self.monitor_pid = monitor_pid
        self.started_at = started_at or now_ns()

    def set_stopped(self, exit_code: int, oom_killed: bool, finished_at: int | None = None) -> None:
        self.running = False
        self.paused = False
        self.restarting = False
        self.pid = 0
        self.monitor_pid = 0
        self.exit_code = exit_code
        self.oom_killed = oom_killed
        self.finished_at = finished_at or now_ns()

    def set_error(self, message: str, exit_code: int) -> None:
        self.error = message
        self.exit_code = exit_code
