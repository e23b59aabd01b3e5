"""Tar archives for layers and containers (moby's pkg/archive + pkg/chrootarchive).

* :func:`apply_tar` - unpack a (compressed) layer tar with GNU tar, computing
  its diff ID and recording tar-split data in the same pass;
* :func:`reassemble` - rebuild a layer's exact tar bytes from that record;
* :func:`convert_to_overlay` / :func:`merge_with_deletions` - whiteouts;
* :func:`tar_tree`, :func:`export_changes` - write tars from trees;
* :func:`overlay_changes`, :func:`changes_dirs` - ``docker diff``;
* :func:`extract_in_root` / :func:`archive_in_root` - ``docker cp`` in and out of a
  container tree, chrooted.
"""

from __future__ import annotations

from .apply import DIE_WITH_PARENT, ApplyResult, apply_tar
from .changes import (
    Change,
    ChangeKind,
    changes_dirs,
    changes_dirs_size,
    changes_size,
    export_changes,
    overlay_changes,
    tree_size,
)
from .chroot import archive_in_root, extract_in_root
from .compression import Compression, ReadStream, decompressed, detect
from .safeopen import open_beneath
from .tarsplit import reassemble
from .tarwriter import TarBuilder, tar_tree
from .whiteouts import (
    OPAQUE_XATTR,
    WH_OPAQUE,
    WH_PREFIX,
    convert_to_overlay,
    is_whiteout_device,
    merge_with_deletions,
)

__all__ = [
    "DIE_WITH_PARENT",
    "OPAQUE_XATTR",
    "WH_OPAQUE",
    "WH_PREFIX",
    "ApplyResult",
    "Change",
    "ChangeKind",
    "Compression",
    "ReadStream",
    "TarBuilder",
    "apply_tar",
    "archive_in_root",
    "changes_dirs",
    "changes_dirs_size",
    "changes_size",
    "convert_to_overlay",
    "decompressed",
    "detect",
    "export_changes",
    "extract_in_root",
    "is_whiteout_device",
    "merge_with_deletions",
    "open_beneath",
    "overlay_changes",
    "reassemble",
    "tar_tree",
    "tree_size",
]
