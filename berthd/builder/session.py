"""What a step's dispatcher sees of the build it belongs to (``Builder`` provides it).

A Protocol of its own so that ``dispatch`` (the instructions) and ``build`` (the
driver that runs them) do not import each other.
"""

from __future__ import annotations

from typing import Protocol

from berthd.builder.backend import Backend
from berthd.builder.cache import ImageProber
from berthd.builder.context import BuildContext
from berthd.builder.options import BuildOptions
from berthd.builder.runconfig import RunConfig
from berthd.builder.state import StageState
from berthd.builder.stream import BuildStream

__all__ = ["BuildSession"]


class BuildSession(Protocol):
    backend: Backend
    opts: BuildOptions
    ctx: BuildContext
    out: BuildStream
    prober: ImageProber
    tmp_containers: list[str]
    stage_results: dict[int, RunConfig]
    stage_names: dict[str, int]
    current_stage: int
    work_dir: str
    platform: tuple[str, str, str] | None

    def platform_of(self, state: StageState) -> tuple[str, str]: ...

    def reset_cache(self) -> None: ...

    async def remove_containers(self) -> None: ...
