"""Start and stop the local AWS: moto's server on 127.0.0.1 in this process, every service installed, its
state restored from the state dir and persisted as it changes."""

from __future__ import annotations

import dataclasses
import errno
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from localaws import credentials as owner_credentials
from localaws import iam, lockdown, stepfunctions
from localaws.athena import AthenaState
from localaws.awslambda import LambdaState
from localaws.context import Context
from localaws.events import EventsState
from localaws.glue import GlueState
from localaws.patches import LocalPatches, apply_all
from localaws.persistence import Persistence
from localaws.plumbing import each_backend, log
from localaws.s3 import S3State
from localaws.sns import SnsState
from localaws.store import CLAIM, Store, claim

DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = Path(".local-aws")
LOOPBACK = "127.0.0.1"


class Gate:
    """WSGI: 503 until the state is restored, then the persisted app."""

    def __init__(self) -> None:
        self.app: Any = None
        self._open = threading.Event()

    def open(self, app: Any) -> None:
        self.app = app
        self._open.set()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not self._open.wait(60):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"the local AWS is restoring its state"]
        return self.app(environ, start_response)


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
        def start(self) -> None:
            # Bind in the caller's thread: a port in use raises OSError here (moto binds in its thread and
            # start() then waits forever for a server that never came up).
            self.dispatcher = DomainDispatcherApplication(create_backend_app)
            app = wrap(self.dispatcher)
            try:
                handler = MotoRequestHandler
                self._server = make_server(LOOPBACK, self._port, app, True, request_handler=handler)
            except SystemExit:  # werkzeug exits the process on a port in use: say so, as an OSError
                raise OSError(errno.EADDRINUSE, f"port {self._port} is in use by another program") from None
            self._server_ready_event.set()
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()

    return Server(ip_address=LOOPBACK, port=port, verbose=False)


@dataclasses.dataclass
class LocalAws:
    url: str
    port: int
    state_dir: Path
    patches: LocalPatches
    server: Any
    persistence: Persistence
    settings: Any = None  # the settings a caller deployed the pipeline with (tests/support/stack.py)
    interrupted: list[str] = dataclasses.field(default_factory=list)  # executions ended by the restart
    _stopped: bool = False

    @property
    def credentials(self) -> owner_credentials.Credentials:
        return self.patches.ctx.credentials

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once background work (S3 event deliveries, Glue runs, emails) is done."""
        return self.patches.wait_idle(timeout)

    def stop(self) -> None:
        """Stop the server, the workers and Spark (unless kept), persist, restore moto. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.patches.undo()  # lets a Glue run in progress end (or cancels it) while the server answers
            self.server.stop()
        finally:
            self.persistence.stop()
            _reset_moto()


def _reset_moto() -> None:
    """Empty moto's backends in this process: the state is the store's, restored at each start."""
    from moto.backends import get_backend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend_dicts = [
        get_backend(s) for s in ("s3", "glue", "sns", "athena", "lambda", "iam", "events", "logs")
    ]
    for backend_dict in [*backend_dicts, stepfunctions_parser_backends]:
        for _, _, backend in each_backend(backend_dict):
            backend.reset()


def reset_state_dir(state_dir: Path) -> list[Path]:
    """Delete the state dir's contents but its logs (for --reset); returns what was deleted. Refuses
    (StateDirInUse) while a local AWS runs on it."""
    state_dir = Path(state_dir)
    if not state_dir.exists():
        return []
    with claim(state_dir):
        deleted = sorted(p for p in state_dir.iterdir() if p.suffix != ".log" and p.name != CLAIM)
        for path in deleted:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return deleted


def start_local_aws(
    port: int = DEFAULT_PORT,
    state_dir: Path = DEFAULT_STATE_DIR,
    *,
    smtp: tuple[str, int] | None = None,
    warm_spark: bool = True,
    stop_spark: bool = True,
) -> LocalAws:
    """Start the local AWS on 127.0.0.1:``port`` (0 = a free port) in this process, with the state kept in
    ``state_dir``.

    It deploys nothing: the pipeline is deployed into it as into AWS, by the deployer (``python -m deploy
    up``; tests/support/stack.py). The process environment is not changed: everything that runs here is
    pointed at the server explicitly (Lambda subprocesses, the Glue runner's clients), so other users of
    moto in the process are unaffected.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # the team's data and the owner's keys: nobody else reads them
    store = Store(state_dir)  # refuses a state dir of another format version before anything changes
    _reset_moto()
    keys = owner_credentials.ensure(state_dir)
    gate = Gate()
    server = _moto_server(port, lambda moto_app: lockdown.Lockdown(gate, keys, dispatcher=moto_app))
    try:
        server.start()
    except BaseException:
        store.close()
        raise
    host, bound = server.get_host_and_port()
    url = f"http://{host}:{bound}"
    try:
        patches = apply_all(Context(state_dir, url, keys, smtp=smtp), stop_spark=stop_spark)
    except BaseException:
        server.stop()
        store.close()
        raise
    persistence = _persistence(store, patches)
    local = LocalAws(url, bound, state_dir, patches, server, persistence)
    try:
        local.interrupted = _restore(persistence, patches)
        gate.open(persistence.middleware(server.dispatcher))
        # After the gate opens: a resumed Task calls its Lambda through this server.
        for name in persistence.states["stepfunctions"].resume_parked():
            log.warning("localaws: execution %s waits for its task token again", name)
        if patches.s3_events.resume():
            log.warning("localaws: delivering the S3 events that the last process had not delivered")
        if warm_spark:
            patches.glue.warm_up()
    except BaseException:
        local.stop()
        raise
    return local


def _persistence(store: Store, patches: LocalPatches) -> Persistence:
    s3_state = S3State(store, patches.s3_events)
    lambda_state = LambdaState(store)
    persistence = Persistence(
        store,
        [  # restore order: roles before the functions that name them, machines before executions
            iam.IamState(),
            s3_state,
            GlueState(patches.glue.run_class),
            SnsState(),
            EventsState(),
            AthenaState(patches.athena),
            lambda_state,
            stepfunctions.StepFunctionsState(),
        ],
    )
    persistence.after_sync.append(lambda: store.remove_blobs(s3_state.take_released()))
    persistence.after_sync.append(_forget_tracked_instances)
    return persistence


def _forget_tracked_instances() -> None:
    """moto keeps every model instance it ever made in a class list (for its dashboard): a leak here."""
    from moto.core.model_instances import reset_model_data

    reset_model_data()


def _restore(persistence: Persistence, patches: LocalPatches) -> list[str]:
    """Restore the state, end what the last process left in flight, and start persisting changes."""
    started = time.monotonic()
    counts = persistence.restore()
    executions = persistence.states["stepfunctions"].end_interrupted()
    runs = persistence.states["glue"].end_interrupted()
    persistence.states["athena"].end_interrupted()
    persistence.sync()  # the ended runs, and the stored state as moto now holds it
    live = persistence.states["s3"].live_blobs() | persistence.states["lambda"].live_blobs()
    persistence.store.remove_blobs(persistence.store.blob_names() - live)
    stepfunctions.watch(patches.ctx, lambda: persistence.changed("stepfunctions"))
    patches.glue.on_change = lambda: persistence.changed("glue")
    patches.glue.persist = persistence.sync
    patches.s3_events.on_change = lambda: persistence.changed("s3")

    def query_ended() -> None:  # its state, and its result files in S3
        persistence.changed("athena")
        persistence.changed("s3")

    patches.athena.on_change = query_ended
    persistence.start()
    if any(counts.values()):
        restored = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        log.info("localaws: restored %s records in %.2f s", restored, time.monotonic() - started)
    for execution in executions:
        log.warning(
            "localaws: execution %s was running: ended ABORTED (%s)",
            execution.name,
            stepfunctions.RESTART_CAUSE,
        )
    for run in runs:
        log.warning("localaws: Glue run %s was running: ended FAILED", run.job_run_id)
    return [e.exec_arn for e in executions]
