from __future__ import annotations

import pytest

from berthd import errdefs
from berthd.api.errors import status_for


class NoSuchThing(errdefs.NotFound):
    pass


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errdefs.NotFound("x"), 404),
        (NoSuchThing("x"), 404),
        (errdefs.InvalidParameter("x"), 400),
        (errdefs.Conflict("x"), 409),
        (errdefs.Unauthorized("x"), 401),
        (errdefs.Forbidden("x"), 403),
        (errdefs.NotModified("x"), 304),
        (errdefs.NotImplemented_("x"), 501),
        (errdefs.Unavailable("x"), 503),
        (errdefs.System("x"), 500),
        (RuntimeError("boom"), 500),
    ],
)
def test_status_table(exc: BaseException, status: int) -> None:
    assert status_for(exc) == status
