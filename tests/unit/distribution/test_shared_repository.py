"""SharedRepository: the last user's release closes the repository, awaited."""

from __future__ import annotations

import asyncio
from typing import cast

from berthd.distribution.remote import Repository
from berthd.distribution.stores import SharedRepository


class _Repo:
    def __init__(self, fail: bool = False) -> None:
        self.closed = 0
        self.fail = fail

    async def close(self) -> None:
        await asyncio.sleep(0)  # a real close awaits its connections
        self.closed += 1
        if self.fail:
            raise OSError("connection reset")


def _others() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


def test_last_release_closes_before_returning() -> None:
    async def run() -> tuple[list[int], set[asyncio.Task[object]]]:
        repo = _Repo()
        shared = SharedRepository(cast(Repository, repo))
        shared.acquire()
        await shared.release()
        seen = [repo.closed]
        await shared.release()
        seen.append(repo.closed)
        return seen, _others()

    assert asyncio.run(run()) == ([0, 1], set())


def test_a_failing_close_is_not_the_transfer_error() -> None:
    async def run() -> tuple[int, set[asyncio.Task[object]]]:
        repo = _Repo(fail=True)
        await SharedRepository(cast(Repository, repo)).release()
        return repo.closed, _others()

    assert asyncio.run(run()) == (1, set())
