"""Container routes: create, start, stop, kill, wait, rm, inspect, ps, attach, exec …

Each handler parses the request, calls one backend method and writes the
answer. Attach and exec start hijack the connection only after the backend
has accepted the request, so a refusal is still an ordinary JSON error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson
from aiohttp import web

from berthd.api import schemas
from berthd.api.hijack import MULTIPLEXED, RAW, HijackedConnection, hijack
from berthd.api.httputil import api_version, json_response, query_bool, query_int, read_json
from berthd.api.httputil import version_less as older
from berthd.api.routers.system import parse_timestamp
from berthd.api.routes import Route
from berthd.errdefs import BerthdError, InvalidParameter
from berthd.lib.filters import FilterArgs
from berthd.lib.stdcopy import STDOUT, frame
from berthd.logger.request import LogsOptions

__all__ = ["AttachTarget", "ContainersBackend", "ContainersRouter", "ExecTarget"]


def _refuse_subpath(body: Any) -> None:
    """Before API 1.45 a volume subpath is an error, as in dockerd (not ignored)."""
    host_config = (body.get("HostConfig") if isinstance(body, dict) else None) or {}
    for m in host_config.get("Mounts") or []:
        opts = (m.get("VolumeOptions") if isinstance(m, dict) else None) or {}
        if opts.get("Subpath"):
            raise InvalidParameter("VolumeOptions.Subpath needs API v1.45 or newer")


class AttachTarget(Protocol):
    """An attach the backend accepted: how its stream is written (raw with a tty,
    else multiplexed), and the attach to run once the connection is taken over."""

    @property
    def tty(self) -> bool: ...

    async def attach(self, conn: HijackedConnection) -> None: ...


class ExecTarget(Protocol):
    """An exec the backend accepted for a start: raw or multiplexed, and its start
    (``conn`` None: detached)."""

    @property
    def raw_stream(self) -> bool: ...

    async def start(self, conn: HijackedConnection | None) -> None: ...


class ContainersBackend(Protocol):
    async def create(self, name: str, body: object) -> dict[str, object]: ...
    async def start(self, ref: str) -> None: ...
    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None: ...
    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None: ...
    async def kill(self, ref: str, sig: str) -> None: ...
    def wait_future(self, ref: str, condition: str) -> asyncio.Future[tuple[int, str]]: ...
    async def remove(self, ref: str, force: bool, volumes: bool) -> None: ...
    async def remove_link(self, name: str) -> None: ...
    async def rename(self, ref: str, new_name: str) -> None: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    def resize(self, ref: str, height: int, width: int) -> None: ...
    def logs(self, ref: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]: ...
    async def top(self, ref: str, ps_args: str) -> dict[str, Any]: ...
    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict[str, Any]]: ...
    async def update(self, ref: str, body: object) -> dict[str, Any]: ...
    async def changes(self, ref: str) -> list[dict[str, Any]]: ...
    def export(self, ref: str) -> AsyncIterator[bytes]: ...
    async def inspect(self, ref: str, api_version: str, size: bool) -> dict[str, Any]: ...
    async def list_containers(
        self, all_: bool, limit: int, size: bool, filters: FilterArgs
    ) -> list[dict[str, Any]]: ...
    def plan_attach(
        self,
        ref: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stream: bool,
        logs: bool,
        detach_keys: str,
    ) -> AttachTarget: ...
    def exec_create(self, ref: str, body: object) -> dict[str, str]: ...
    def exec_inspect(self, exec_id: str) -> dict[str, Any]: ...
    def exec_prepare(self, exec_id: str, body: object) -> ExecTarget: ...
    def exec_resize(self, exec_id: str, height: int, width: int) -> None: ...


def _optional_int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{raw}": invalid syntax') from None


# How often a quiet stream checks that its client is still connected.
_IDLE_CHECK_SECONDS = 1.0


async def _stream(
    request: web.Request, resp: web.StreamResponse, chunks: AsyncIterator[bytes]
) -> None:
    """Copy chunks to the client; stop when it leaves, even if nothing comes."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(64)

    async def produce() -> None:
        try:
            async for chunk in chunks:
                await queue.put(chunk)
        finally:
            await queue.put(None)

    task = asyncio.create_task(produce())
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(queue.get(), _IDLE_CHECK_SECONDS)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return
                continue
            if chunk is None:
                break
            await resp.write(chunk)
        task.result()
    except ConnectionError:
        pass  # the client went away
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ContainersRouter:
    def __init__(self, backend: ContainersBackend) -> None:
        self.b = backend

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/containers/json", self.get_containers_json),
            Route("GET", "/containers/{name}/json", self.get_containers_by_name),
            Route("POST", "/containers/create", self.post_containers_create),
            Route("POST", "/containers/{name}/start", self.post_containers_start),
            Route("POST", "/containers/{name}/stop", self.post_containers_stop),
            Route("POST", "/containers/{name}/restart", self.post_containers_restart),
            Route("POST", "/containers/{name}/kill", self.post_containers_kill),
            Route("POST", "/containers/{name}/wait", self.post_containers_wait),
            Route("POST", "/containers/{name}/rename", self.post_containers_rename),
            Route("POST", "/containers/{name}/pause", self.post_containers_pause),
            Route("POST", "/containers/{name}/unpause", self.post_containers_unpause),
            Route("POST", "/containers/{name}/resize", self.post_containers_resize),
            Route("POST", "/containers/{name}/attach", self.post_containers_attach),
            Route("GET", "/containers/{name}/logs", self.get_containers_logs),
            Route("GET", "/containers/{name}/top", self.get_containers_top),
            Route("GET", "/containers/{name}/stats", self.get_containers_stats),
            Route("GET", "/containers/{name}/changes", self.get_containers_changes),
            Route("GET", "/containers/{name}/export", self.get_containers_export),
            Route("POST", "/containers/{name}/update", self.post_containers_update),
            # a link name (`rm --link`) is `parent/alias`: the one name with a slash
            Route("DELETE", "/containers/{name:.+}", self.delete_containers),
            Route("POST", "/containers/{name}/exec", self.post_container_exec_create),
            Route("POST", "/exec/{id}/start", self.post_exec_start),
            Route("POST", "/exec/{id}/resize", self.post_exec_resize),
            Route("GET", "/exec/{id}/json", self.get_exec_by_id),
        ]

    async def get_containers_json(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        rows = await self.b.list_containers(
            query_bool(request, "all"),
            query_int(request, "limit", -1),
            query_bool(request, "size"),
            filters,
        )
        return json_response(rows)

    async def get_containers_by_name(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            await self.b.inspect(
                request.match_info["name"], api_version(request), query_bool(request, "size")
            )
        )

    async def post_containers_create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, schema=schemas.CONTAINER_CREATE)
        if older(api_version(request), "1.45"):
            _refuse_subpath(body)
        result = await self.b.create(request.query.get("name", ""), body)
        return json_response(result, status=201)

    async def post_containers_start(self, request: web.Request) -> web.StreamResponse:
        await self.b.start(request.match_info["name"])
        return web.Response(status=204)

    async def post_containers_stop(self, request: web.Request) -> web.StreamResponse:
        sig = request.query.get("signal", "") if not older(api_version(request), "1.42") else ""
        await self.b.stop(request.match_info["name"], _optional_int(request, "t"), sig)
        return web.Response(status=204)

    async def post_containers_restart(self, request: web.Request) -> web.StreamResponse:
        sig = request.query.get("signal", "") if not older(api_version(request), "1.42") else ""
        await self.b.restart(request.match_info["name"], _optional_int(request, "t"), sig)
        return web.Response(status=204)

    async def post_containers_kill(self, request: web.Request) -> web.StreamResponse:
        await self.b.kill(request.match_info["name"], request.query.get("signal", ""))
        return web.Response(status=204)

    async def post_containers_wait(self, request: web.Request) -> web.StreamResponse:
        fut = self.b.wait_future(request.match_info["name"], request.query.get("condition", ""))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)  # the CLI orders wait → start on these headers
        code, error = await fut
        body: dict[str, Any] = {"StatusCode": code}
        if error:
            body["Error"] = {"Message": error}
        with contextlib.suppress(ConnectionError):
            await resp.write(orjson.dumps(body) + b"\n")
        return resp

    async def post_containers_rename(self, request: web.Request) -> web.StreamResponse:
        await self.b.rename(request.match_info["name"], request.query.get("name", ""))
        return web.Response(status=204)

    async def post_containers_pause(self, request: web.Request) -> web.StreamResponse:
        await self.b.pause(request.match_info["name"])
        return web.Response(status=204)

    async def post_containers_unpause(self, request: web.Request) -> web.StreamResponse:
        await self.b.unpause(request.match_info["name"])
        return web.Response(status=204)

    async def post_containers_resize(self, request: web.Request) -> web.StreamResponse:
        self.b.resize(
            request.match_info["name"], query_int(request, "h", 0), query_int(request, "w", 0)
        )
        return web.Response(status=200)

    async def delete_containers(self, request: web.Request) -> web.StreamResponse:
        if query_bool(request, "link"):
            await self.b.remove_link(request.match_info["name"])
            return web.Response(status=204)
        await self.b.remove(
            request.match_info["name"], query_bool(request, "force"), query_bool(request, "v")
        )
        return web.Response(status=204)

    async def get_containers_logs(self, request: web.Request) -> web.StreamResponse:
        since = parse_timestamp("since", request.query.get("since", "")) or 0
        until = parse_timestamp("until", request.query.get("until", "")) or 0
        tail_raw = request.query.get("tail", "all")
        tail: int | None = None
        if tail_raw not in ("", "all"):
            try:
                tail = int(tail_raw)
            except ValueError:
                tail = None
            if tail is not None and tail < 0:
                tail = None
        opts = LogsOptions(
            stdout=query_bool(request, "stdout"),
            stderr=query_bool(request, "stderr"),
            follow=query_bool(request, "follow"),
            since_ns=int(since * 1e9),
            until_ns=int(until * 1e9),
            timestamps=query_bool(request, "timestamps"),
            tail=tail,
        )
        tty, chunks = self.b.logs(request.match_info["name"], opts)
        multiplexed = not tty and not older(api_version(request), "1.42")
        ctype = MULTIPLEXED if multiplexed else RAW
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        await _stream(request, resp, chunks)
        return resp

    async def get_containers_top(self, request: web.Request) -> web.StreamResponse:
        return json_response(
            await self.b.top(request.match_info["name"], request.query.get("ps_args", ""))
        )

    async def get_containers_stats(self, request: web.Request) -> web.StreamResponse:
        stream = query_bool(request, "stream", True) and not query_bool(request, "one-shot")
        docs = await self.b.stats(request.match_info["name"], stream)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)

        async def encoded() -> AsyncIterator[bytes]:
            async for doc in docs:
                yield orjson.dumps(doc) + b"\n"

        await _stream(request, resp, encoded())
        return resp

    async def get_containers_changes(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.b.changes(request.match_info["name"]))

    async def get_containers_export(self, request: web.Request) -> web.StreamResponse:
        chunks = self.b.export(request.match_info["name"])
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        await _stream(request, resp, chunks)
        return resp

    async def post_containers_update(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, schema=schemas.CONTAINER_UPDATE)
        return json_response(await self.b.update(request.match_info["name"], body))

    async def post_containers_attach(self, request: web.Request) -> web.StreamResponse:
        plan = self.b.plan_attach(
            request.match_info["name"],
            stdin=query_bool(request, "stdin"),
            stdout=query_bool(request, "stdout"),
            stderr=query_bool(request, "stderr"),
            stream=query_bool(request, "stream"),
            logs=query_bool(request, "logs"),
            detach_keys=request.query.get("detachKeys", ""),
        )
        multiplexed = not plan.tty and not older(api_version(request), "1.42")
        resp, conn = await hijack(request, multiplexed)
        try:
            await plan.attach(conn)
        finally:
            conn.close()
        return resp

    async def post_container_exec_create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, schema=schemas.EXEC_CREATE)
        return json_response(self.b.exec_create(request.match_info["name"], body), status=201)

    async def post_exec_start(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, required=False, schema=schemas.EXEC_START) or {}
        if older(api_version(request), "1.42") and isinstance(body, dict):
            body.pop("ConsoleSize", None)
        rec = self.b.exec_prepare(request.match_info["id"], body)
        if isinstance(body, dict) and body.get("Detach"):
            await rec.start(None)
            return web.Response(status=200)
        multiplexed = not rec.raw_stream and not older(api_version(request), "1.42")
        resp, conn = await hijack(request, multiplexed)
        try:
            await rec.start(conn)
        except BerthdError as e:
            # the connection is raw by now: dockerd writes the error into the stream
            msg = (str(e) + "\r\n").encode()
            if not rec.raw_stream:
                msg = frame(STDOUT, msg)
            with contextlib.suppress(ConnectionResetError, OSError):
                await conn.write(msg)
        finally:
            conn.close()
        return resp

    async def post_exec_resize(self, request: web.Request) -> web.StreamResponse:
        self.b.exec_resize(
            request.match_info["id"], query_int(request, "h", 0), query_int(request, "w", 0)
        )
        return web.Response(status=200)

    async def get_exec_by_id(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.b.exec_inspect(request.match_info["id"]))
