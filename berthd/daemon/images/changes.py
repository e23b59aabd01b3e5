"""``docker import --change`` / ``docker commit --change``: Dockerfile lines applied to a config.

moby ``builder/dockerfile.BuildFromConfig``: each change is one Dockerfile instruction
(CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
WORKDIR), in exec (JSON) or shell form, with the builder's quoting and ``$VAR``
expansion from the config's own ``Env``. Anything else is refused with dockerd's
``"<instr> is not a valid change command"``. Kept apart from import so commit can use it.
"""

from __future__ import annotations

import json
import posixpath
import re
import signal
from collections.abc import Callable
from typing import Any

from berthd import errdefs

__all__ = ["apply_changes", "expand_ports"]

VALID = (
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_DURATION_NS["h"] = 3600 * 10**9


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply the change lines to a copy of ``config`` (a ``container.Config`` dict)."""
    cfg = dict(config)
    cmd_set = False
    lines = [ln for c in changes for ln in c.splitlines() if ln.strip()]
    parsed = []
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        word, _, tab_rest = word.partition("\t")
        rest = (tab_rest + " " + rest if tab_rest else rest).strip()
        instr = word.lower()
        if instr not in VALID:
            raise errdefs.InvalidParameter(f"{instr} is not a valid change command")
        parsed.append((instr, rest, line.strip()))
    for instr, rest, original in parsed:
        if instr == "cmd":
            cfg["Cmd"] = _command(rest)
            cmd_set = True
        elif instr == "entrypoint":
            cfg["Entrypoint"] = _command(rest)
            if not cmd_set:
                cfg["Cmd"] = None
        elif instr in ("env", "label"):
            _name_values(cfg, instr, rest)
        elif instr == "expose":
            ports = dict(cfg.get("ExposedPorts") or {})
            for word in _words(rest, _env(cfg)):
                for port in expand_ports(word):
                    ports[port] = {}
            cfg["ExposedPorts"] = ports
        elif instr == "volume":
            vols = dict(cfg.get("Volumes") or {})
            for v in _json_or_words(rest, _env(cfg)):
                if not v.strip():
                    raise errdefs.InvalidParameter("VOLUME specified can not be an empty string")
                vols[v] = {}
            cfg["Volumes"] = vols
        elif instr == "user":
            cfg["User"] = _expand(rest, _env(cfg))
        elif instr == "workdir":
            wd = _expand(rest, _env(cfg))
            if not posixpath.isabs(wd):
                wd = posixpath.join("/", cfg.get("WorkingDir") or "", wd)
            cfg["WorkingDir"] = posixpath.normpath(wd)
        elif instr == "stopsignal":
            sig = _expand(rest, _env(cfg))
            _check_signal(sig)
            cfg["StopSignal"] = sig
        elif instr == "onbuild":
            _onbuild(cfg, rest)
        elif instr == "healthcheck":
            cfg["Healthcheck"] = _healthcheck(rest)
        else:  # pragma: no cover - VALID is exhaustive
            raise errdefs.InvalidParameter(f"{original}: unhandled")
    return cfg


# --- forms ------------------------------------------------------------------------
def _json_array(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    """Exec form ``["a","b"]`` as is; shell form runs under ``/bin/sh -c``."""
    exec_form = _json_array(rest)
    if exec_form is not None:
        return exec_form
    return ["/bin/sh", "-c", rest]


def _json_or_words(rest: str, env: dict[str, str]) -> list[str]:
    exec_form = _json_array(rest)
    if exec_form is not None:
        return [_expand(v, env) for v in exec_form]
    return _words(rest, env)


def _env(cfg: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def _name_values(cfg: dict[str, Any], instr: str, rest: str) -> None:
    """``ENV a=b c="d e"`` or the legacy ``ENV a b c`` (one key, the rest is its value)."""
    if not rest:
        raise errdefs.InvalidParameter(f"{instr.upper()} requires at least one argument")
    env = _env(cfg)
    raw_words = _split_raw(rest)
    pairs: list[tuple[str, str]] = []
    if "=" not in raw_words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip() and instr == "env":
            raise errdefs.InvalidParameter("ENV must have two arguments")
        pairs.append((key, _expand(value.strip(), env)))
    else:
        for word in raw_words:
            if "=" not in word:
                raise errdefs.InvalidParameter(
                    f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
                )
            key, _, value = word.partition("=")
            pairs.append((_expand(key, env), _expand(value, env)))
    if instr == "label":
        labels = dict(cfg.get("Labels") or {})
        labels.update(pairs)
        cfg["Labels"] = labels
        return
    env_list = list(cfg.get("Env") or [])
    for key, value in pairs:
        entry = f"{key}={value}"
        for i, existing in enumerate(env_list):
            if existing.partition("=")[0] == key:
                env_list[i] = entry
                break
        else:
            env_list.append(entry)
    cfg["Env"] = env_list


def _onbuild(cfg: dict[str, Any], rest: str) -> None:
    trigger = rest.split(None, 1)[0].upper() if rest.strip() else ""
    if trigger == "ONBUILD":
        raise errdefs.InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("FROM", "MAINTAINER"):
        raise errdefs.InvalidParameter(f"{trigger} isn't allowed as an ONBUILD trigger")
    cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), rest.strip()]


def _check_signal(sig: str) -> None:
    if sig.isdigit():
        if int(sig) == 0:
            raise errdefs.InvalidParameter(f"Invalid signal: {sig}")
        return
    name = sig.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
        return
    if not hasattr(signal.Signals, name) and name not in signal.Signals.__members__:
        raise errdefs.InvalidParameter(f"Invalid signal: {sig}")


def expand_ports(spec: str) -> list[str]:
    """``nat.ParsePortSpecs`` for EXPOSE: ``80``, ``80/udp``, ``8000-8002/tcp``."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise errdefs.InvalidParameter(f"invalid containerPort: {port}")
    lo, hi = int(start), int(end or start)
    if hi < lo or hi > 65535:
        raise errdefs.InvalidParameter(f"invalid range specified for containerPort: {port}")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def _healthcheck(rest: str) -> dict[str, Any]:
    m = re.match(r"\s*((?:--\S+\s+)*)(\S+)\s*(.*)$", rest, re.S)
    if m is None:
        raise errdefs.InvalidParameter("HEALTHCHECK requires an argument")
    opts: dict[str, Any] = {}
    for flag_word in m.group(1).split():
        flag, _, value = flag_word[2:].partition("=")
        if flag == "retries":
            if not value.isdigit():
                raise errdefs.InvalidParameter(f"--retries: invalid value {value!r}")
            opts["Retries"] = int(value)
            continue
        field = _HEALTH_FLAGS.get(flag)
        if field is None:
            raise errdefs.InvalidParameter(f"Unknown flag: {flag}")
        opts[field] = _duration_ns(value)
    kind, tail = m.group(2).upper(), m.group(3).strip()
    if kind == "NONE":
        if tail or opts:
            raise errdefs.InvalidParameter("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise errdefs.InvalidParameter(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    exec_form = _json_array(tail)
    test = ["CMD", *exec_form] if exec_form is not None else ["CMD-SHELL", tail]
    return {"Test": test, **opts}


_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def _duration_ns(value: str) -> int:
    if value == "0":
        return 0
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_NS[m.group(2)]
        pos = m.end()
    if pos != len(value) or not value:
        raise errdefs.InvalidParameter(f'time: invalid duration "{value}"')
    return int(total)


# --- words, quotes and $VAR --------------------------------------------------------
def _split_raw(rest: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes for ``_expand``."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(rest):
        c = rest[i]
        if c == "\\" and quote != "'" and i + 1 < len(rest):
            cur += [c, rest[i + 1]]
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
            cur.append(c)
        elif c in "'\"":
            quote = c
            cur.append(c)
        elif c.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(c)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def _words(rest: str, env: dict[str, str]) -> list[str]:
    return [_expand(w, env) for w in _split_raw(rest)]


def _expand(word: str, env: dict[str, str]) -> str:
    """The builder's ``ProcessWord``: quote removal, escapes, ``$X``/``${X:-d}``/``${X:+a}``."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(word):
        c = word[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                out.append(c)
            i += 1
        elif c == "\\" and i + 1 < len(word):
            out.append(word[i + 1])
            i += 2
        elif c in "'\"" and (not quote or c == quote):
            quote = "" if quote else c
            i += 1
        elif c == "$":
            value, i = _variable(word, i + 1, env)
            out.append(value)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _variable(word: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    if i < len(word) and word[i] == "{":
        end = word.find("}", i)
        if end < 0:
            raise errdefs.InvalidParameter(f"missing '}}' in {word!r}")
        body = word[i + 1 : end]
        for op, pick in _MODIFIERS.items():
            name, sep, alt = body.partition(op)
            if sep:
                return pick(env.get(name, ""), _expand(alt, env)), end + 1
        return env.get(body, ""), end + 1
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", word[i:])
    if m is None:
        return "$", i
    return env.get(m.group(0), ""), i + m.end()


_MODIFIERS: dict[str, Callable[[str, str], str]] = {
    ":-": lambda value, alt: value or alt,
    ":+": lambda value, alt: alt if value else "",
}
