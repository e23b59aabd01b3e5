"""Pumping a client connection to and from conmon's attach socket.

Used by attach and by exec: output messages (1 stdout, 2 stderr) become
Docker frames (multiplexed, no tty) or raw bytes (tty); the client's bytes go
to the process's stdin, watching for the detach key sequence; the client
closing its write side closes the process's stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from berthd.errdefs import InvalidParameter
from berthd.lib.stdcopy import frame
from berthd.runtime.attach import AttachSession

__all__ = ["DEFAULT_DETACH_KEYS", "ClientConn", "detach_key_bytes", "parse_detach_keys", "pump"]

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
# How often a quiet stream checks that its client is still connected.
_CLIENT_CHECK_SECONDS = 1.0


class ClientConn(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    @property
    def closed(self) -> bool: ...


_CTRL_KEYS = ["ctrl-@", *(f"ctrl-{c}" for c in "abcdefghijklmnopqrstuvwxyz"), "ctrl-[",
              "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]  # fmt: skip


def detach_key_bytes(spec: str) -> bytes | None:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11" as moby's term.ToBytes reads it (one byte as
    itself, ``ctrl-@`` … ``ctrl-_``, ``DEL``; case and spaces matter); None if invalid."""
    out = bytearray()
    for key in spec.split(","):
        raw = key.encode()
        if len(raw) == 1:
            out += raw
        elif key in _CTRL_KEYS:
            out.append(_CTRL_KEYS.index(key))
        elif key == "DEL":
            out.append(127)
        else:
            return None
    return bytes(out)


def parse_detach_keys(spec: str) -> bytes:
    """Detach keys of an attach (dockerd's message for invalid ones)."""
    keys = detach_key_bytes(spec)
    if keys is None:
        raise InvalidParameter(f"Invalid detach keys ({spec}) provided")
    return keys


async def pump(
    conn: ClientConn,
    session: AttachSession,
    *,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: bytes | None,
    close_stdin_on_eof: bool = True,
) -> bool:
    """Run both directions until the process ends or the client detaches/leaves.

    Returns True when the client detached with the detach keys.
    """
    detached = asyncio.Event()

    async def output() -> None:
        while True:
            msg = await session.recv()
            if msg is None:
                return
            stream, data = msg
            if (stream == 1 and not stdout) or (stream == 2 and not stderr):
                continue
            try:
                await conn.write(data if tty else frame(stream, data))
            except (ConnectionResetError, OSError):
                return

    async def input_() -> None:
        pending = b""
        while True:
            data = await conn.read()
            if not data:
                if close_stdin_on_eof:
                    session.close_stdin()
                return
            if detach_keys:
                buf = pending + data
                idx = buf.find(detach_keys)
                if idx >= 0:
                    if idx:
                        await session.send(buf[:idx])
                    detached.set()
                    return
                # keep a possible beginning of the key sequence for the next read
                keep = 0
                for n in range(min(len(detach_keys) - 1, len(buf)), 0, -1):
                    if buf.endswith(detach_keys[:n]):
                        keep = n
                        break
                pending = buf[len(buf) - keep :] if keep else b""
                data = buf[: len(buf) - keep]
            if data:
                await session.send(data)

    async def client_gone() -> None:
        # the transport has no "closed" event to await: poll it, cheaply
        while not conn.closed:  # noqa: ASYNC110
            await asyncio.sleep(_CLIENT_CHECK_SECONDS)

    out_task = asyncio.create_task(output())
    in_task = asyncio.create_task(input_()) if stdin else None
    gone_task = asyncio.create_task(client_gone())
    try:
        waiting = {out_task, gone_task} | ({in_task} if in_task is not None else set())
        while True:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done or gone_task in done or detached.is_set():
                break
            if in_task is not None and in_task in done:
                # stdin ended; output keeps flowing until the process ends
                with contextlib.suppress(Exception):
                    in_task.result()
                waiting.discard(in_task)
    finally:
        for t in (out_task, in_task, gone_task):
            if t is None:
                continue
            if not t.done():
                t.cancel()
            # await every task, done ones too: an error of a finished one (stdin to a
            # process that has exited: BrokenPipeError) is retrieved, not logged as lost
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    return detached.is_set()
