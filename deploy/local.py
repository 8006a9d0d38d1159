"""The local AWS: a moto server in this process, patched so that every service of the pipeline runs.

    python -m deploy.local [--port 4566] [--state-dir .local-aws] [--no-deploy]

Starts moto on 127.0.0.1 (port from --port, else ECOMMERCE_LOCAL_PORT, else 4566), applies
deploy/local_patches.py, deploys the pipeline with the same deployer as for AWS, prints a line containing
``ready`` with the URL, and serves until SIGINT or SIGTERM. With SMTP_HOST (and SMTP_PORT, default 25)
set, SNS email subscribers get their messages by SMTP. State is in memory: a restart starts empty.

Tests use ``start_local_aws`` in-process.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from deploy.local_patches import DUMMY_CREDENTIALS, LocalPatches, apply_all

DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = Path(".local-aws")
log = logging.getLogger("deploy.local")


@dataclasses.dataclass
class LocalAws:
    url: str
    port: int
    state_dir: Path
    patches: LocalPatches
    server: Any
    settings: Any = None  # what was deployed (None: nothing)
    _stopped: bool = False

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


def smtp_from_env(environ: dict[str, str] | None = None) -> tuple[str, int] | None:
    environ = os.environ if environ is None else environ
    host = environ.get("SMTP_HOST", "").strip()
    return (host, int(environ.get("SMTP_PORT") or 25)) if host else None


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
    """Start the patched moto server on 127.0.0.1:``port`` (0 = a free port) in this process.

    ``deploy=True`` deploys the pipeline with ``deploy.deployer.up``: ``settings`` (default: from the
    environment) with the local target and this server's URL. The process environment is not changed:
    everything that runs here is pointed at the server explicitly (Lambda subprocesses, the Glue runner's
    clients), so other users of moto in the process are unaffected.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    url = f"http://{host}:{bound}"
    try:
        patches = apply_all(Path(state_dir), smtp, endpoint_url=url, stop_spark=stop_spark)
    except BaseException:
        server.stop()
        raise
    local = LocalAws(url, bound, Path(state_dir).resolve(), patches, server)
    try:
        if warm_spark:
            patches.glue.warm_up()
        if deploy:
            from deploy import deployer
            from services.settings import Settings

            if settings is None:
                settings = Settings.from_env(target="local", endpoint_url=url)
            else:
                settings = dataclasses.replace(settings, target="local", endpoint_url=url)
            local.settings = settings
            deployer.up(settings)
    except BaseException:
        local.stop()
        raise
    return local


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("ECOMMERCE_LOCAL_PORT") or DEFAULT_PORT)
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--no-deploy", action="store_true", help="start the services without the pipeline")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    url = f"http://127.0.0.1:{args.port}"
    # This process and everything it starts talk to the local AWS only, with dummy credentials.
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(DUMMY_CREDENTIALS)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    smtp = smtp_from_env()
    started = time.monotonic()
    try:
        local = start_local_aws(args.port, args.state_dir, smtp=smtp, deploy=not args.no_deploy)
    except OSError as exc:
        print(f"error: cannot start the local AWS on {url}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.exception("the local AWS did not start")
        print(f"error: the local AWS did not start: {exc}", file=sys.stderr)
        return 1
    mail = f", mail via {smtp[0]}:{smtp[1]}" if smtp else ""
    print(
        f"local AWS ready at {local.url} in {time.monotonic() - started:.1f} s "
        f"(state: {local.state_dir}{mail}). Ctrl-C stops it.",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("local AWS stopping…", flush=True)
        local.stop()
        print("local AWS stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
