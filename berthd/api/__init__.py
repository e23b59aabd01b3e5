"""The Engine HTTP API: routing, middlewares, the error table, routers."""

from __future__ import annotations

from berthd.api.app import APIOptions, Backends, build_app

__all__ = ["APIOptions", "Backends", "build_app"]
