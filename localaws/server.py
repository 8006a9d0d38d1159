"""Start and stop the local AWS: moto's server on 127.0.0.1 in this process, every service installed."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from localaws import credentials as owner_credentials
from localaws import lockdown
from localaws.context import Context
from localaws.patches import LocalPatches, apply_all

DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = Path(".local-aws")
LOOPBACK = "127.0.0.1"


def _moto_server(port: int, wrap: Any) -> Any:
    """moto's ThreadedMotoServer on 127.0.0.1, its WSGI app wrapped (the only change to it)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = wrap(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(LOOPBACK, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server(ip_address=LOOPBACK, port=port, verbose=False)


@dataclasses.dataclass
class LocalAws:
    url: str
    port: int
    state_dir: Path
    patches: LocalPatches
    server: Any
    settings: Any = None  # what was deployed (None: nothing)
    _stopped: bool = False

    @property
    def credentials(self) -> owner_credentials.Credentials:
        return self.patches.ctx.credentials

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once background work (S3 event deliveries, Glue runs, emails) is done."""
        return self.patches.wait_idle(timeout)

    def stop(self) -> None:
        """Stop the workers and Spark (unless kept), restore moto and stop the server. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.patches.undo()
        finally:
            self.server.stop()


def start_local_aws(
    port: int = DEFAULT_PORT,
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    smtp: tuple[str, int] | None = None,
    deploy: bool = False,
    settings: Any = None,
    warm_spark: bool = True,
    stop_spark: bool = True,
) -> LocalAws:
    """Start the local AWS on 127.0.0.1:``port`` (0 = a free port) in this process.

    ``deploy=True`` deploys the pipeline with ``deploy.deployer.up``: ``settings`` (default: from the
    environment) with the local target, this server's URL and state dir. The process environment is not
    changed: everything that runs here is pointed at the server explicitly (Lambda subprocesses, the Glue
    runner's clients), so other users of moto in the process are unaffected.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    keys = owner_credentials.ensure(state_dir)
    server = _moto_server(port, lambda app: lockdown.Lockdown(app, keys))
    server.start()
    host, bound = server.get_host_and_port()
    url = f"http://{host}:{bound}"
    try:
        patches = apply_all(Context(state_dir, url, keys, smtp=smtp), stop_spark=stop_spark)
    except BaseException:
        server.stop()
        raise
    local = LocalAws(url, bound, state_dir, patches, server)
    try:
        if warm_spark:
            patches.glue.warm_up()
        if deploy:
            from deploy import deployer
            from services.settings import Settings

            place = {"target": "local", "endpoint_url": url, "local_state_dir": str(state_dir)}
            if settings is None:
                settings = Settings.from_env(**place)
            else:
                settings = dataclasses.replace(settings, **place)
            local.settings = settings
            deployer.up(settings)
    except BaseException:
        local.stop()
        raise
    return local
