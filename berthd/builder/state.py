"""The state one stage's dispatchers share (moby ``dispatchState``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from berthd import errdefs
from berthd.builder.backend import BaseImage
from berthd.builder.buildargs import BuildArgs
from berthd.builder.runconfig import RunConfig

__all__ = ["DEFAULT_PATH", "BuildFailed", "StageState", "short_id"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildFailed(errdefs.BerthdError):
    """A step failed after the stream started; ``code`` is the RUN exit status."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def short_id(image_id: str) -> str:
    """``stringid.TruncateID``."""
    return image_id.removeprefix("sha256:")[:12]


@dataclass
class StageState:
    build_args: BuildArgs
    run_config: RunConfig = field(default_factory=RunConfig)
    image_id: str = ""
    base: BaseImage | None = None
    os: str = "linux"
    arch: str = ""
    maintainer: str = ""
    cmd_set: bool = False
    stage_name: str = ""
