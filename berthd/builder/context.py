"""The build context: what ``POST /build`` sends, unpacked in a temp dir.

moby ``builder/remotecontext``: the request body is a tar (plain, gzip, bzip2,
xz or zstd, told apart by magic) unpacked with the layer extractor, whose guard
refuses hostile entries (``..``, writes through symlinks) before anything is
written; a body that is not a tar at all is taken as the Dockerfile itself.
``remote=`` names an http(s) tarball or Dockerfile, or a git repository.
Everything here blocks: the build service runs it in a thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass

from berthd import errdefs
from berthd.builder.scoped import clean_rel, resolve_in_scope
from berthd.builder.tartail import CompleteTail
from berthd.lib.archive import apply_tar, decompressed
from berthd.lib.archive.compression import ReadStream
from berthd.lib.archive.tarheader import BLOCK, is_zero_block, parse_header

__all__ = [
    "CONTEXT_PREFIX",
    "BuildContext",
    "fetch_remote",
    "find_dockerfile",
    "is_git_url",
    "unpack_context",
]

CONTEXT_PREFIX = "build-context-"
_GIT_URL = re.compile(r"^(git://|git@|github\.com/)|^https?://.*\.git(#.*)?$")
_GIT_SAFE = ["git", "-c", "protocol.ext.allow=never", "-c", "protocol.file.allow=never"]
_GIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+@{}~^:-]*$")


@dataclass
class BuildContext:
    root: str  # the unpacked tree (removed by close())
    dockerfile_name: str = "Dockerfile"
    dockerfile: bytes = b""
    remote_dockerfile: bool = False  # a text/plain remote= URL: its parse errors are bare

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class _Head(io.RawIOBase):
    def __init__(self, head: bytes, rest: ReadStream) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head, b""
                return data + self.rest.read()
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.rest.read(n)

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < BLOCK:
        return not head.strip()  # an empty body is an empty context
    if is_zero_block(head[:BLOCK]):
        return True
    try:
        parse_header(head[:BLOCK])
    except errdefs.BerthdError:
        return False
    return True


def unpack_context(body: ReadStream, tmp_root: str) -> BuildContext:
    """Unpack the body into a new dir under ``tmp_root``; a bad tar is a 400."""
    os.makedirs(tmp_root, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix=CONTEXT_PREFIX, dir=tmp_root)
    try:
        _, plain = decompressed(body)
        head = b""
        while len(head) < BLOCK:
            more = plain.read(BLOCK - len(head))
            if not more:
                break
            head += more
        if not _looks_like_tar(head):
            data = head + _read_all(plain)
            with open(os.path.join(root, "Dockerfile"), "wb") as f:
                f.write(data)
            return BuildContext(root)
        if head.strip(b"\0"):
            try:
                apply_tar(CompleteTail(_Head(head, plain)), root)
            except errdefs.InvalidParameter as exc:
                raise errdefs.InvalidParameter(
                    f"failed to unpack the build context: {exc}"
                ) from None
        else:
            _read_all(plain)
        return BuildContext(root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _read_all(src: ReadStream, limit: int = 64 << 20) -> bytes:
    out = bytearray()
    while chunk := src.read(1 << 20):
        out += chunk
        if len(out) > limit:
            raise errdefs.InvalidParameter("the Dockerfile is too large")
    return bytes(out)


def _forbidden(name: str) -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter(f"forbidden path outside the build context: {name} ()")


def _read_dockerfile(ctx: BuildContext, name: str) -> bytes | None:
    rel = os.path.normpath(name)
    if rel.startswith("../") or rel == "..":
        raise _forbidden(name)
    path = resolve_in_scope(ctx.root, name)
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise errdefs.InvalidParameter(f"Cannot locate specified Dockerfile: {name}") from None


def find_dockerfile(ctx: BuildContext, name: str) -> None:
    """``withDockerfileFromContext``: read the Dockerfile (``Dockerfile``, else
    ``dockerfile`` for the default name); the caller then drops it and
    ``.dockerignore`` from the context when ``.dockerignore`` excludes them."""
    data = _read_dockerfile(ctx, name)
    if data is None and name == "Dockerfile":
        lower = name.lower()
        data = _read_dockerfile(ctx, lower)
        if data is not None:
            name = lower
    if data is None:
        raise errdefs.InvalidParameter(f"Cannot locate specified Dockerfile: {name}")
    if not data:
        raise errdefs.InvalidParameter(f"the Dockerfile ({name}) cannot be empty")
    ctx.dockerfile_name = name
    ctx.dockerfile = data


def dockerignore_bytes(ctx: BuildContext) -> bytes | None:
    path = resolve_in_scope(ctx.root, ".dockerignore")
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def remove_from_context(ctx: BuildContext, rel: str) -> None:
    path = os.path.join(ctx.root, clean_rel(rel))
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


# -- remote contexts -----------------------------------------------------------------
def is_git_url(url: str) -> bool:
    return bool(_GIT_URL.search(url))


def is_url(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def fetch_remote(url: str, tmp_root: str) -> BuildContext:
    """``remote=``: an http(s) tarball/Dockerfile, or a git repository."""
    if url == "client-session":
        raise errdefs.InvalidParameter(
            "experimental session with v1 builder is no longer supported, "
            "use builder version v2 (BuildKit) instead"
        )
    if is_git_url(url):
        return _git_context(url, tmp_root)
    if is_url(url):
        return _url_context(url, tmp_root)
    raise errdefs.InvalidParameter(f"remoteURL ({url}) could not be recognized as URL")


def _url_context(url: str, tmp_root: str) -> BuildContext:
    try:
        resp = urllib.request.urlopen(url, timeout=60)
    except OSError as exc:
        raise errdefs.InvalidParameter(f"error downloading remote context {url}: {exc}") from None
    with resp:
        if resp.status >= 400:
            raise errdefs.InvalidParameter(
                f"error downloading remote context {url}: {resp.status} {resp.reason}"
            )
        ctype = resp.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip() == "text/plain":
            os.makedirs(tmp_root, mode=0o700, exist_ok=True)
            root = tempfile.mkdtemp(prefix=CONTEXT_PREFIX, dir=tmp_root)
            try:
                with open(os.path.join(root, "Dockerfile"), "wb") as f:
                    f.write(_read_all(resp))
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            return BuildContext(root, remote_dockerfile=True)
        return unpack_context(resp, tmp_root)


def _git_context(url: str, tmp_root: str) -> BuildContext:
    """``git clone --recursive`` of ``url[#ref[:subdir]]``; the ref can never be an option."""
    base, _, fragment = url.partition("#")
    ref, _, subdir = fragment.partition(":")
    if ref and (ref.startswith("-") or not _GIT_REF.match(ref)):
        raise errdefs.InvalidParameter(f"invalid git reference: {ref!r}")
    if base.startswith("-"):
        raise errdefs.InvalidParameter(f"invalid git URL: {base!r}")
    if base.startswith("github.com/"):
        base = "https://" + base
    os.makedirs(tmp_root, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix=CONTEXT_PREFIX, dir=tmp_root)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_TERMINAL_PROMPT": "0"}
    try:
        repo = os.path.join(root, "repo")
        # submodules of a hostile repository may name any transport: only network ones
        argv = [*_GIT_SAFE, "clone", "--recursive", "--quiet"]
        if ref:
            argv += ["--no-checkout"]
        _git([*argv, "--", base, repo], env)
        if ref:
            _git([*_GIT_SAFE, "-C", repo, "checkout", "--quiet", ref, "--"], env)
            _git([*_GIT_SAFE, "-C", repo, "submodule", "update", "--init", "--recursive"], env)
        shutil.rmtree(os.path.join(repo, ".git"), ignore_errors=True)
        top = resolve_in_scope(repo, subdir) if subdir else repo
        if not os.path.isdir(top):
            raise errdefs.InvalidParameter(f"subdirectory {subdir} not found in {base}")
        final = tempfile.mkdtemp(prefix=CONTEXT_PREFIX, dir=tmp_root)
        os.rmdir(final)
        os.rename(top, final)
        shutil.rmtree(root, ignore_errors=True)
        return BuildContext(final)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _git(argv: list[str], env: dict[str, str]) -> None:
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errdefs.InvalidParameter(f"error fetching git context: {exc}") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise errdefs.InvalidParameter(f"error fetching: {msg}")
