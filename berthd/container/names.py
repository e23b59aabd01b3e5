"""Container names: validation, generation and the name registrar.

A name is stored with a leading ``/`` (``/web``), as dockerd does; lookups
accept it with or without. Generated names are ``adjective_noun``, from
berthd's own harbour-themed word lists; after a few collisions a number is
appended, as dockerd's generator does.
"""

from __future__ import annotations

import random
import re
import threading

from berthd.errdefs import Conflict, InvalidParameter, NotFound

__all__ = ["NameRegistrar", "generate_name", "normalize_name", "validate_name"]

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # \Z: Go's $ (no newline)

_ADJECTIVES = (
    "agile",
    "amber",
    "ample",
    "brave",
    "breezy",
    "bright",
    "calm",
    "clever",
    "coastal",
    "cool",
    "crisp",
    "daring",
    "deep",
    "eager",
    "early",
    "easy",
    "fair",
    "fast",
    "fleet",
    "gentle",
    "glad",
    "golden",
    "grand",
    "happy",
    "hardy",
    "hidden",
    "humble",
    "jolly",
    "keen",
    "kind",
    "lively",
    "loyal",
    "lucky",
    "merry",
    "mighty",
    "misty",
    "modest",
    "nimble",
    "noble",
    "patient",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "ready",
    "salty",
    "serene",
    "sharp",
    "silent",
    "silver",
    "sleek",
    "smooth",
    "snug",
    "sober",
    "solid",
    "spry",
    "steady",
    "stoic",
    "sturdy",
    "sunny",
    "swift",
    "tidal",
    "tidy",
    "tranquil",
    "trusty",
    "vivid",
    "wary",
    "windy",
    "wise",
    "witty",
    "zesty",
)
_NOUNS = (
    "anchor",
    "barge",
    "beacon",
    "bollard",
    "bosun",
    "bow",
    "breakwater",
    "buoy",
    "cable",
    "capstan",
    "cargo",
    "channel",
    "cleat",
    "compass",
    "coracle",
    "cove",
    "crane",
    "cutter",
    "davit",
    "dinghy",
    "dock",
    "dory",
    "estuary",
    "ferry",
    "fender",
    "galley",
    "gangway",
    "harbor",
    "hawser",
    "helm",
    "hull",
    "inlet",
    "jetty",
    "keel",
    "ketch",
    "lagoon",
    "lighthouse",
    "lock",
    "mast",
    "mooring",
    "navigator",
    "oar",
    "pier",
    "pilot",
    "port",
    "quay",
    "rudder",
    "sail",
    "schooner",
    "shipwright",
    "skiff",
    "sloop",
    "starboard",
    "stevedore",
    "tanker",
    "tide",
    "tiller",
    "towboat",
    "trawler",
    "tugboat",
    "wharf",
    "winch",
    "yacht",
    "yawl",
)


def validate_name(name: str) -> str:
    """``web`` or ``/web`` → ``/web``; dockerd's error for a bad name."""
    if not _VALID.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return normalize_name(name)


def normalize_name(name: str) -> str:
    return name if name.startswith("/") else "/" + name


def generate_name(retry: int, rng: random.Random | None = None) -> str:
    r = rng or random
    name = f"{r.choice(_ADJECTIVES)}_{r.choice(_NOUNS)}"
    if retry > 0:
        name += str(r.randint(0, 9))
    return name


class NameRegistrar:
    """name → container ID, one owner per name. Thread-safe."""

    def __init__(self) -> None:
        self._by_name: dict[str, str] = {}
        self._lock = threading.Lock()

    def reserve(self, name: str, container_id: str) -> None:
        name = normalize_name(name)
        with self._lock:
            owner = self._by_name.get(name)
            if owner is not None and owner != container_id:
                raise Conflict(
                    f'Conflict. The container name "{name}" is already in use by container '
                    f'"{owner}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
            self._by_name[name] = container_id

    def release(self, name: str) -> None:
        with self._lock:
            self._by_name.pop(normalize_name(name), None)

    def get(self, name: str) -> str:
        with self._lock:
            cid = self._by_name.get(normalize_name(name))
        if cid is None:
            raise NotFound(f"No such container: {name}")
        return cid

    def lookup(self, name: str) -> str | None:
        with self._lock:
            return self._by_name.get(normalize_name(name))

    def reserve_generated(self, container_id: str) -> str:
        """A fresh generated name, reserved for ``container_id``."""
        for retry in range(64):
            name = "/" + generate_name(retry)
            with self._lock:
                if name not in self._by_name:
                    self._by_name[name] = container_id
                    return name
        raise Conflict("could not generate a unique container name")

    def names_of(self, container_id: str) -> list[str]:
        with self._lock:
            return sorted(n for n, c in self._by_name.items() if c == container_id)
