"""Extract an untrusted tar into an existing tree that may hold hostile symlinks.

``docker cp`` into a container writes into a tree its processes control: any
directory on the way may be a symlink to ``/`` (CVE-2018-15664) or be swapped
for one mid-copy. Path checks in the daemon can always lose that race, so, as
dockerd's ``chrootarchive``, the extraction runs in a child process that first
``chroot``\\s into the container's root: every path (absolute symlinks, ``..``)
then resolves inside it, whatever the tree holds.

The child is a fresh ``python -I -S`` (not ``fork()`` of a threaded daemon)
that imports :mod:`tarfile` and berthd's stdlib-only :mod:`berthd.lib.fdtar`,
chroots, and extracts our decompressed stream from stdin with full fidelity
(owners, setuid bits, devices, xattrs are kept: the chroot is the safety, not a
filter). Trees of any depth go both ways: a member too long for ``tarfile`` is
written from inside its parent directory, and archiving walks by fds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator

from berthd import errdefs

from .compression import CHUNK, ReadStream, decompressed

__all__ = ["archive_in_root", "extract_in_root"]

# The directory holding the berthd package, for the children's stdlib-only imports.
_PYTHONPATH = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)

_CHILD = r"""
import os, stat, sys, tarfile
root, dest, no_overwrite = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, sys.argv[4])
from berthd.lib.fdtar import place  # before the chroot: long names from their parent
os.chroot(root)
os.chdir("/")
try:
    os.chdir(dest)
except OSError as exc:
    sys.stderr.write(f"NOTFOUND:{exc.strerror}")
    sys.exit(3)
top = os.open(".", os.O_RDONLY | os.O_DIRECTORY)

def cleaned(tf):
    for member in tf:
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise tarfile.FilterError(f"{member.name!r} is outside of {dest!r}")
        member.name = "/".join(parts) or "."
        yield member

def conflict(member, path):
    if not no_overwrite or not path:
        return
    try:
        st = os.lstat(member.name)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode) and not member.isdir():
        sys.stderr.write(f"CONFLICT:cannot overwrite directory {path!r} with non-directory")
        sys.exit(4)
    if not stat.S_ISDIR(st.st_mode) and member.isdir():
        sys.stderr.write(f"CONFLICT:cannot overwrite non-directory {path!r} with directory")
        sys.exit(4)

with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tf:
    tf.extractall(
        ".", members=place(cleaned(tf), top, conflict), numeric_owner=True,
        filter=lambda member, path: member,
    )
"""


def extract_in_root(
    source: ReadStream, root: str, dest: str = "/", *, no_overwrite_dir_nondir: bool = False
) -> None:
    """Extract ``source`` (plain/gzip/zstd/...) into ``dest`` resolved inside ``root``.

    Raises NotFound if ``dest`` does not exist inside the root, Conflict for a
    dir/non-dir clash when asked, InvalidParameter for a bad archive.
    """
    _, reader = decompressed(source)
    flag = "1" if no_overwrite_dir_nondir else "0"
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _CHILD, root, dest, flag, _PYTHONPATH],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd="/",
        )
        assert proc.stdin is not None
        feeder_error: BaseException | None = None
        try:
            while chunk := reader.read(CHUNK):
                proc.stdin.write(chunk)
        except BrokenPipeError:
            pass  # the child stopped early; its exit status says why
        except Exception as exc:  # a bad compressed stream: stop the child
            feeder_error = exc
            proc.kill()
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = proc.wait()
        err.seek(0)
        msg = err.read().decode(errors="replace").strip()
    if feeder_error is not None:
        raise errdefs.InvalidParameter(f"failed to read archive: {feeder_error}")
    if rc == 0:
        return
    if msg.startswith("NOTFOUND:"):
        raise errdefs.NotFound(f"Could not find the file {dest} in container")
    if msg.startswith("CONFLICT:"):
        raise errdefs.Conflict(msg[len("CONFLICT:") :])
    last = msg.splitlines()[-1] if msg else f"exit status {rc}"
    raise errdefs.InvalidParameter(f"failed to extract archive: {last}")


_TAR_CHILD = r"""
import os, sys, tarfile
root, path, rebase = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, sys.argv[4])
from berthd.lib.fdtar import add_tree  # before the chroot: walks by fds, any depth
os.chroot(root)
os.chdir("/")
parent, base = os.path.split(path.rstrip("/") or "/")
try:
    os.chdir(parent or "/")
    os.lstat(base or ".")
except OSError:
    sys.stdout.buffer.write(b"NOTFOUND\n")
    sys.exit(3)
out = sys.stdout.buffer
out.write(b"OK\n")
out.flush()
with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
    add_tree(tf, base or ".", rebase or base or ".")
"""


def archive_in_root(root: str, path: str, rebase: str = "") -> Iterator[bytes]:
    """Tar ``path`` (resolved inside ``root``, chrooted) for ``docker cp`` out.

    The path's directories resolve like the container sees them; the last
    component is not followed (a symlink is archived as a symlink). Raises
    NotFound at once if the path does not exist; then yields tar chunks.
    """
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _TAR_CHILD, root, path, rebase, _PYTHONPATH],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    assert proc.stdout is not None and proc.stderr is not None
    status = proc.stdout.readline()
    if status != b"OK\n":
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        if status == b"NOTFOUND\n":
            raise errdefs.NotFound(f"Could not find the file {path} in container")
        raise errdefs.System(f"failed to archive {path}: child exited {proc.returncode}")
    return _stream(proc, path)


def _stream(proc: subprocess.Popen[bytes], path: str) -> Iterator[bytes]:
    assert proc.stdout is not None and proc.stderr is not None
    try:
        while chunk := proc.stdout.read(CHUNK):
            yield chunk
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            last = (err.splitlines() or [""])[-1]
            raise errdefs.System(f"failed to archive {path}: {last}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
