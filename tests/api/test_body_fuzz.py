"""Container create/update bodies, mutated many ways (seeded, bounded), through the
real decoding and validation path: the answer is never a 500, and every refusal
is a JSON ``{"message": …}``.

The backend runs what ``ContainerService.create``/``update`` run before anything
touches the disk (body split, dockerd's checks, the image merge, HostConfig
defaults, the spec checks, and the JSON the record would be written as).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from berthd.api import APIOptions, Backends, build_app, schemas
from berthd.api.decode import Array, Map, Schema, Slice, Struct
from berthd.container import validate_name
from berthd.daemon.containers.normalize import (
    merge_image_config,
    normalize_host_config,
    parse_create_body,
    validate_restart_policy,
)
from berthd.daemon.containers.verify import verify_container_settings
from berthd.daemon.system import SystemService
from berthd.errdefs import InvalidParameter
from berthd.oci import validate_host_config
from berthd.oci.resources import update_resources, validate_resources

Client = TestClient  # type: ignore[type-arg]

IMAGE = {"Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"}
MUTATED_BODIES = 1500


class ValidatingContainers:
    """create/update up to the first write, with the daemon's own functions."""

    def __init__(self) -> None:
        self.host_config: dict[str, Any] = normalize_host_config({}, "runc")

    async def create(self, name: str, body: Any) -> dict[str, Any]:
        config, host_config, _ = parse_create_body(body)
        verify_container_settings(config, host_config, num_cpus=2, realtime=True)
        if name:
            validate_name(name)
        config = merge_image_config(config, IMAGE)
        host_config = normalize_host_config(host_config, "runc")
        warnings = validate_host_config(config, host_config, num_cpus=2)
        orjson.dumps({"Config": config, "HostConfig": host_config})  # the record
        return {"Id": "0" * 64, "Warnings": warnings}

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):  # as ContainerService.update
            raise InvalidParameter("invalid JSON: update configuration must be an object")
        hc = update_resources(self.host_config, body)
        validate_resources(hc, update=True, num_cpus=2)
        if body.get("RestartPolicy"):
            validate_restart_policy(body["RestartPolicy"])
        orjson.dumps(hc)
        return {"Warnings": []}


@pytest_asyncio.fixture
async def client(system: SystemService) -> AsyncIterator[Client]:
    app = build_app(
        Backends(system=system, containers=ValidatingContainers()),  # type: ignore[arg-type]
        APIOptions(version="1.45", min_version="1.24", server_version="0.1.0"),
    )
    c = TestClient(TestServer(app))
    await c.start_server()
    yield c
    await c.close()


_INTS = [0, 1, -1, 5, 999, 1000, 6291455, 6291456, 2**31, -(2**31), 2**53, 2**63 - 1, -(2**63)]
_BIG = [2**63, 2**64, -(2**63) - 1, 10**30]
_STRS = ["", " ", "a", "0-1", "0-", "x:y", "/abs", "rel", "é", "\x00", "a" * 5000, "🚢", "-1"]


def _any(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice(_INTS + _BIG + [1.5, -0.0, 1e300])
    if kind in (3, 4):
        return rng.choice(_STRS)
    if kind == 5:
        return [_any(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 6:
        return {rng.choice(_STRS): _any(rng, depth + 1) for _ in range(rng.randrange(3))}
    nested: Any = rng.choice(_STRS)
    for _ in range(rng.randrange(1, 600)):
        nested = [nested]
    return nested


def _typed(spec: Schema, rng: random.Random, depth: int = 0) -> Any:
    """A value of the right Go type, with edge-case contents (sometimes not)."""
    if rng.random() < 0.15 or depth > 4:
        return _any(rng, depth)
    if spec in ("int", "int64", "uint16", "uint32", "uint64"):
        return rng.choice(_INTS + _BIG[:1]) * rng.choice([1, -1])
    if spec == "string":
        return rng.choice(_STRS)
    if spec == "bool":
        return rng.random() < 0.5
    if spec == "strslice":
        return [rng.choice(_STRS) for _ in range(rng.randrange(3))]
    if isinstance(spec, Slice | Array):
        return [_typed(spec.elem, rng, depth + 1) for _ in range(rng.randrange(3))]
    if isinstance(spec, Map):
        return {rng.choice(_STRS): _typed(spec.elem, rng, depth + 1) for _ in range(2)}
    if isinstance(spec, Struct):
        fields = {**{k: v for e in spec.embedded for k, v in e.fields.items()}, **spec.fields}
        names = rng.sample(sorted(fields), min(len(fields), rng.randrange(1, 4)))
        return {n: _typed(fields[n], rng, depth + 1) for n in names}
    return _any(rng, depth)


def mutated_create_body(rng: random.Random) -> Any:
    body: dict[str, Any] = {"Image": "busybox", "Cmd": ["true"]}
    host = _typed(schemas.HOST_CONFIG, rng)
    if isinstance(host, dict):
        for _ in range(rng.randrange(1, 4)):  # more resource fields: the checks live there
            name = rng.choice(sorted(schemas.RESOURCES.fields))
            host[name] = _typed(schemas.RESOURCES.fields[name], rng)
    body["HostConfig"] = host
    for _ in range(rng.randrange(3)):
        name = rng.choice(sorted(schemas.CONFIG.fields))
        body[name] = _typed(schemas.CONFIG.fields[name], rng)
    if rng.random() < 0.1:
        body[rng.choice(_STRS)] = _any(rng)  # unknown keys
    return body


def damaged(rng: random.Random, body: Any) -> bytes:
    """The encoded body, sometimes damaged the ways a wire or a client damages it."""
    raw = json.dumps(body, ensure_ascii=False).encode()  # orjson stops at 255 levels
    roll = rng.random()
    if roll < 0.05:
        return raw[: rng.randrange(len(raw))]
    if roll < 0.10:
        at = rng.randrange(len(raw))
        return raw[:at] + bytes([rng.choice([0xFF, 0xC3, 0x80, 0x00])]) + raw[at:]
    if roll < 0.13:
        return raw.replace(b'"true"', b'"\\ud800"', 1)
    return raw


async def test_mutated_bodies_never_get_a_500(client: Client) -> None:
    rng = random.Random(13)
    seen: dict[int, int] = {}
    for i in range(MUTATED_BODIES):
        if i % 3 == 2:
            path, body = "/containers/x/update", _typed(schemas.CONTAINER_UPDATE, rng)
        else:
            path, body = "/containers/create", mutated_create_body(rng)
        data = damaged(rng, body)
        r = await client.post(path, data=data, headers={"Content-Type": "application/json"})
        answer = await r.read()
        seen[r.status] = seen.get(r.status, 0) + 1
        assert r.status < 500, (r.status, answer[:500], data[:2000])
        if r.status >= 400:
            message = orjson.loads(answer)["message"]
            assert isinstance(message, str) and message, data[:2000]
    # the mix is wide enough to mean something: both refusals and acceptances
    assert seen.get(400, 0) > MUTATED_BODIES // 4
    assert seen.get(201, 0) + seen.get(200, 0) > MUTATED_BODIES // 20, seen
