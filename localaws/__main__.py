"""python -m localaws [--port 4566] [--state-dir .local-aws] [--reset]

Starts the local AWS on 127.0.0.1 with the state of its state dir, prints a line containing ``ready`` with
the URL, and serves until SIGINT or SIGTERM. It deploys nothing: ``python -m deploy up`` deploys the
pipeline into it as into AWS (``make run`` does both). With SMTP_HOST (and SMTP_PORT,
default 25) set, SNS email subscribers get their messages by SMTP.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from localaws.credentials import CredentialsError
from localaws.server import DEFAULT_PORT, DEFAULT_STATE_DIR, reset_state_dir, start_local_aws
from localaws.store import StateDirInUse, StateFormatError

log = logging.getLogger("localaws")


def smtp_from_env(environ: dict[str, str] | None = None) -> tuple[str, int] | None:
    environ = os.environ if environ is None else environ
    host = environ.get("SMTP_HOST", "").strip()
    return (host, int(environ.get("SMTP_PORT") or 25)) if host else None


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localaws", description="The embedded local AWS.")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("ECOMMERCE_LOCAL_PORT") or DEFAULT_PORT)
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--reset", action="store_true", help="delete the state dir's contents first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    url = f"http://127.0.0.1:{args.port}"
    # Nothing in this process may reach a real account: no ambient AWS configuration is inherited.
    for name in [v for v in os.environ if v.startswith("AWS_")]:
        os.environ.pop(name)
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    smtp = smtp_from_env()
    started = time.monotonic()
    try:
        if args.reset:
            for path in reset_state_dir(args.state_dir):
                print(f"--reset: deleting {path}", flush=True)
        local = start_local_aws(args.port, args.state_dir, smtp=smtp)
    except (StateFormatError, StateDirInUse, CredentialsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot start the local AWS on {url}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.exception("the local AWS did not start")
        print(f"error: the local AWS did not start: {exc}", file=sys.stderr)
        return 1
    mail = f", mail via {smtp[0]}:{smtp[1]}" if smtp else ""
    for arn in local.interrupted:
        print(f"ended ABORTED (local AWS restarted during the run): {arn}", flush=True)
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
