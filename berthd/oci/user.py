"""``--user`` and ``--group-add`` resolved from the container's own passwd/group.

Semantics and errors are runc's ``libcontainer/user`` (which dockerd calls):
``name|uid[:group|gid]``; a numeric id without an entry is fine, a name without
one is ``unable to find user foo: no matching entries in passwd file``; the
supplementary groups of a named user come from /etc/group, but only when no
group was given explicitly. The files are read through ``rootfs.read_file_in_root``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from berthd.errdefs import InvalidParameter

from .rootfs import read_file_in_root

__all__ = ["ExecUser", "get_additional_groups", "resolve_user", "spec_user"]

_MIN_ID, _MAX_ID = 0, 2**31 - 1
_RANGE_ERR = f"uids and gids must be in range {_MIN_ID}-{_MAX_ID}"


@dataclass
class ExecUser:
    """The user a container process runs as."""

    uid: int = 0
    gid: int = 0
    sgids: list[int] = field(default_factory=list)
    home: str = "/"


@dataclass
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass
class _Group:
    name: str
    gid: int
    members: list[str]


def _atoi(s: str) -> int:
    try:
        return int(s) if s.strip() == s and s.lstrip("+-").isdigit() else 0
    except ValueError:
        return 0


def _is_num(s: str) -> bool:
    return s != "" and s.lstrip("+-").isdigit() and s.strip() == s


def _lines(data: bytes | None) -> list[list[str]]:
    if data is None:
        return []
    out = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line:
            out.append(line.split(":"))
    return out


def _field(parts: list[str], i: int) -> str:
    return parts[i] if i < len(parts) else ""


def _passwd(data: bytes | None) -> list[_Passwd]:
    return [
        _Passwd(_field(p, 0), _atoi(_field(p, 2)), _atoi(_field(p, 3)), _field(p, 5))
        for p in _lines(data)
    ]


def _groups(data: bytes | None) -> list[_Group]:
    out = []
    for p in _lines(data):
        members = [m for m in _field(p, 3).split(",") if m]
        out.append(_Group(_field(p, 0), _atoi(_field(p, 2)), members))
    return out


def resolve_user(rootfs: str, user_spec: str) -> ExecUser:
    """runc's GetExecUserPath for ``user_spec`` against ``rootfs``/etc/{passwd,group}."""
    passwd_data = read_file_in_root(rootfs, "/etc/passwd")
    group_data = read_file_in_root(rootfs, "/etc/group")
    user = ExecUser()
    user_arg, _, group_arg = user_spec.partition(":")
    uid_num, gid_num = _is_num(user_arg), _is_num(group_arg)

    users = [
        u
        for u in _passwd(passwd_data)
        if (
            u.uid == user.uid
            if user_arg == ""
            else (u.uid == int(user_arg) if uid_num else u.name == user_arg)
        )
    ]
    matched_name = ""
    if users:
        matched_name = users[0].name
        user.uid, user.gid, user.home = users[0].uid, users[0].gid, users[0].home
    elif user_arg != "":
        if not uid_num:
            raise InvalidParameter(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        user.uid = int(user_arg)
        if not _MIN_ID <= user.uid <= _MAX_ID:
            raise InvalidParameter(_RANGE_ERR)

    if group_arg != "" or matched_name != "":
        all_groups = _groups(group_data)
        if group_arg == "":
            groups = [g for g in all_groups if matched_name in g.members]
        elif gid_num:
            groups = [g for g in all_groups if g.gid == int(group_arg)]
        else:
            groups = [g for g in all_groups if g.name == group_arg]
        if group_arg != "":
            if groups:
                user.gid = groups[0].gid
            else:
                if not gid_num:
                    raise InvalidParameter(
                        f"unable to find group {group_arg}: no matching entries in group file"
                    )
                user.gid = int(group_arg)
                if not _MIN_ID <= user.gid <= _MAX_ID:
                    raise InvalidParameter(_RANGE_ERR)
        elif groups:
            user.sgids = [g.gid for g in groups]
    return user


def get_additional_groups(rootfs: str, group_add: Iterable[str]) -> list[int]:
    """``--group-add`` names or gids → gids (runc's GetAdditionalGroupsPath), in order."""
    wanted = list(group_add)
    all_groups = _groups(read_file_in_root(rootfs, "/etc/group"))
    gids: dict[int, None] = {}
    for ag in wanted:
        found = False
        for g in all_groups:
            if (g.name == ag or str(g.gid) == ag) and g.gid not in gids:
                gids[g.gid] = None
                found = True
                break
        if found:
            continue
        if not _is_num(ag):
            raise InvalidParameter(f"Unable to find group {ag}: no matching entries in group file")
        gid = int(ag)
        if not _MIN_ID <= gid <= _MAX_ID:
            raise InvalidParameter(_RANGE_ERR)
        gids.setdefault(gid, None)
    return list(gids)


def spec_user(
    rootfs: str, user_spec: str, group_add: Iterable[str] | None = None
) -> tuple[dict[str, object], str]:
    """OCI ``process.user`` and the user's home, as dockerd's getUser builds them.

    additionalGids = primary gid + the user's supplementary groups + --group-add.
    """
    u = resolve_user(rootfs, user_spec or "")
    extra = get_additional_groups(rootfs, group_add) if group_add else []
    return {"uid": u.uid, "gid": u.gid, "additionalGids": [u.gid, *u.sgids, *extra]}, u.home
