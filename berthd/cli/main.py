"""``berthd``: start-up, serving, signals and orderly shutdown.

The sequence follows dockerd's ``DaemonCli.start``: flags + daemon.json →
umask → logging → pid file → one listener per ``-H`` → NewDaemon → routers →
serve → ``READY=1`` → wait for a signal → ``STOPPING=1`` → stop listening →
shut the daemon down → remove pid file and sockets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from berthd.api import APIOptions, Backends, build_app
from berthd.cli.flags import CommandLine, parse_command_line
from berthd.cli.listeners import Listener, listen_backlog, make_listeners, make_tls_context
from berthd.cli.logsetup import level_for, setup_logging
from berthd.cli.pidfile import PidFile
from berthd.cli.sdnotify import sd_notify
from berthd.cli.stackdump import dump_stacks
from berthd.config import DEFAULT_UNIX_SOCKET, ConfigError, DaemonConfig, load_config, reload_config
from berthd.daemon.assemble import Daemon
from berthd.errdefs import BerthdError
from berthd.version import API_VERSION, GIT_COMMIT, MIN_API_VERSION, VERSION

__all__ = ["main", "run"]

log = logging.getLogger("berthd")

# How long in-flight API requests get to finish once the daemon is down.
REQUEST_DRAIN_SECONDS = 5.0
# dockerd's http.Server ReadHeaderTimeout: a client that has not sent its request
# headers by then is dropped. aiohttp's keep-alive timer runs from the connect, so it
# is the header timeout too (and an idle keep-alive connection closes after it).
HEADER_READ_TIMEOUT_SECONDS = 300.0
# Go's http.DefaultMaxHeaderBytes: long names and IDs in a request line still arrive
# (aiohttp's default of 8190 bytes answers a bare text 400 before any route runs).
MAX_REQUEST_LINE_BYTES = 1 << 20
# dockerd forces an exit without cleanup on the third interrupt.
FORCE_AFTER_SIGNALS = 3


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: Sequence[str]) -> int:
    try:
        cl = parse_command_line(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if cl.show_version:
        print(f"berthd version {VERSION}, build {GIT_COMMIT}")
        return 0
    try:
        cfg = load_config(cl.flag_values, cl.config_file, cl.config_file_explicit)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    if cl.validate:
        print("configuration OK")
        return 0
    if os.geteuid() != 0:
        print("berthd needs to be started with root privileges", file=sys.stderr)
        return 1
    os.umask(0o022)
    setup_logging(cfg.debug, cfg.log_level, cfg.log_format)
    try:
        return asyncio.run(serve(cfg, cl))
    except BerthdError as e:
        log.error("%s", e)
        print(f"failed to start daemon: {e}", file=sys.stderr)
        return 1


class _Signals:
    """Turns signals into actions on the running loop."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.interrupts = 0

    def on_stop(self, signum: int) -> None:
        self.interrupts += 1
        log.info("Processing signal '%s'", signal.Signals(signum).name)
        if self.interrupts >= FORCE_AFTER_SIGNALS:
            log.info(
                "Forcing berthd shutdown without cleanup; %d interrupts received", self.interrupts
            )
            os._exit(128 + signum)
        self.stop.set()


def _reload(daemon: Daemon, cl: CommandLine) -> None:
    try:
        new, applied = reload_config(daemon.config, cl.flag_values)
    except BerthdError as e:
        log.error("Error reconfiguring the daemon: %s", e)
        return
    logging.getLogger("berthd").setLevel(level_for(new.debug, new.log_level))
    daemon.reload(new, applied)


def _dump(exec_root: str) -> None:
    try:
        path = dump_stacks(exec_root)
    except OSError as e:
        log.error("failed to write the stack dump: %s", e)
        return
    log.info("goroutine stacks written to %s", path)


async def serve(cfg: DaemonConfig, cl: CommandLine) -> int:
    pidfile = PidFile(cfg.pidfile)
    pidfile.acquire()
    listeners: list[Listener] = []
    try:
        listeners = make_listeners(cfg, DEFAULT_UNIX_SOCKET)
        tls_ctx = make_tls_context(cfg) if cfg.tls_enabled else None
        daemon = await Daemon.create(cfg)
        app = build_app(
            Backends(
                system=daemon.system,
                containers=daemon.containers,
                images=daemon.images,
                volumes=daemon.volumes,
                networks=daemon.network_api,
                container_fs=daemon.container_fs,
                build=daemon.build,
                distribution=daemon.images,
                registry=daemon.registry,
                swarm=daemon.cluster,
            ),
            APIOptions(
                version=API_VERSION,
                min_version=MIN_API_VERSION,
                server_version=VERSION,
                cors_header=cfg.api_cors_header,
            ),
        )
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=REQUEST_DRAIN_SECONDS,
            keepalive_timeout=HEADER_READ_TIMEOUT_SECONDS,
            max_line_size=MAX_REQUEST_LINE_BYTES,
        )
        backlog = listen_backlog()
        await runner.setup()
        for lst in listeners:
            site: web.BaseSite = web.SockSite(
                runner, lst.sock, ssl_context=tls_ctx if lst.tls else None, backlog=backlog
            )
            await site.start()
            log.info(
                "API listen on %s",
                lst.host.addr if lst.host.proto != "fd" else lst.sock.getsockname(),
            )

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        sig = _Signals(stop)
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, sig.on_stop, s)
        loop.add_signal_handler(signal.SIGHUP, _reload, daemon, cl)
        loop.add_signal_handler(signal.SIGUSR1, _dump, cfg.exec_root)
        sd_notify("READY=1")
        log.info("berthd %s is up (API %s)", VERSION, API_VERSION)
        await stop.wait()

        sd_notify("STOPPING=1")
        for site in list(runner.sites):
            await site.stop()
        await daemon.shutdown()
        try:
            await asyncio.wait_for(runner.cleanup(), REQUEST_DRAIN_SECONDS + 5)
        except TimeoutError:
            log.warning("some API requests did not finish; exiting anyway")
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            loop.remove_signal_handler(s)
        log.info("berthd stopped")
        return 0
    finally:
        for lst in listeners:
            if lst.host.proto == "unix":
                try:
                    os.unlink(lst.host.addr)
                except OSError:
                    pass
            lst.sock.close()
        pidfile.release()
