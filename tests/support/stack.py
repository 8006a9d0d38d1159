"""Starting the stack for tests and benchmarks: the local AWS with the pipeline deployed into it, in this
process or as ``make run`` starts it, and the console.

The local AWS deploys nothing itself (localaws → core only); here, as in ``make run``, the deployer deploys
the pipeline into it exactly as into AWS.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI containers run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STACK_START_TIMEOUT = 300  # Spark warm-up and the deploy on a cold, shared machine
STACK_STOP_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback http URL of ours
            return response.status == 200
    except OSError:
        return False


def clean_environment(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables that could point a child elsewhere."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECOMMERCE_", "MOTO_", *prefixes))
    }


# ------------------------------------------------------------------------------------------ in this process


def start_deployed_local_aws(port: int, state_dir: Path, settings: Any, **options: Any) -> Any:
    """``localaws.server.start_local_aws`` with the pipeline deployed by ``deployer.up`` from ``settings``
    pointed at it; the returned LocalAws carries those settings as ``.settings``."""
    from deploy import deployer
    from localaws.server import start_local_aws

    local = start_local_aws(port, state_dir, **options)
    try:
        place = {"target": "local", "endpoint_url": local.url, "local_state_dir": str(local.state_dir)}
        local.settings = dataclasses.replace(settings, **place)
        deployer.up(local.settings)
    except BaseException:
        local.stop()
        raise
    return local


# ------------------------------------------------------------------------------- as `make run` starts it


class LocalAwsProcess:
    """``python -m localaws`` in its own process group, then ``python -m deploy up`` into it: `make run`
    without the console."""

    def __init__(self, state_dir: Path, log: Path | None = None, **settings_env: str) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or state_dir.parent / f"{state_dir.name}.log"
        self.process: subprocess.Popen | None = None
        self.environment = {**clean_environment("SMTP_"), "PYTHONUNBUFFERED": "1", **settings_env}

    def start(self, timeout: float = STACK_START_TIMEOUT) -> float:
        """Start, wait for ``ready``, deploy; the seconds until ready (the deploy is not counted)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:
            log.write("\n=== start\n")
        started = time.monotonic()
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "localaws", "--port", str(self.port),
                 "--state-dir", str(self.state_dir)],
                cwd=REPO, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        while "ready at" not in self.log.read_text(errors="replace").split("=== start")[-1]:
            if self.process.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"the local AWS did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.02)
        ready = time.monotonic() - started
        deploy_env = {
            **self.environment,
            "ECOMMERCE_TARGET": "local",
            "ECOMMERCE_ENDPOINT_URL": self.url,
            "ECOMMERCE_LOCAL_STATE_DIR": str(self.state_dir),
        }
        deployed = subprocess.run(
            [sys.executable, "-m", "deploy", "up"], cwd=REPO, env=deploy_env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if deployed.returncode != 0:
            raise RuntimeError(f"the deploy failed:\n{deployed.stdout[-3000:]}{deployed.stderr[-3000:]}")
        self.session = self._session()
        return ready

    def _session(self) -> Any:
        import boto3

        from localaws import credentials

        keys = credentials.load(self.state_dir / credentials.FILE_NAME)
        return boto3.Session(
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            region_name=REGION,
        )

    def client(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(signature_version="s3v4" if service == "s3" else None)
        return self.session.client(service, endpoint_url=self.url, config=config)

    def kill(self) -> None:
        """SIGKILL to the process group: no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class ConsoleStack:
    url: str  # the console
    aws_url: str  # the local AWS
    state_dir: Path
    process: subprocess.Popen

    def logs(self, lines: int = 30) -> str:
        """The tail of each log, for failure messages."""
        parts = []
        for name in ("run_local.out", "local-aws.log", "deploy.log", "console.log"):
            path = self.state_dir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts)


class StackError(RuntimeError):
    pass


def start_console_stack(state_dir: Path, **env: str) -> ConsoleStack:
    """``bash localaws/run.sh`` as ``make run`` starts it, on free ports, in its own process group."""
    aws_port, console_port = free_port(), free_port()
    # The user's ECOMMERCE_* must not redirect the stack; everything else is make run's environment.
    environ = {name: value for name, value in os.environ.items() if not name.startswith("ECOMMERCE_")}
    environ.update(
        ECOMMERCE_LOCAL_PORT=str(aws_port),
        CONSOLE_PORT=str(console_port),
        STATE_DIR=str(state_dir),
        OPEN_BROWSER="0",
        **env,
    )
    with (state_dir / "run_local.out").open("wb") as out:
        process = subprocess.Popen(
            ["bash", "localaws/run.sh"], cwd=REPO, env=environ, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives `make run`
        )  # fmt: skip
    stack = ConsoleStack(
        url=f"http://127.0.0.1:{console_port}",
        aws_url=f"http://127.0.0.1:{aws_port}",
        state_dir=state_dir,
        process=process,
    )
    deadline = time.monotonic() + STACK_START_TIMEOUT
    aws_log = state_dir / "local-aws.log"
    while not (
        aws_log.exists()
        and "local AWS ready at" in aws_log.read_text(errors="replace")
        and responds(f"{stack.url}/_stcore/health")
    ):
        if process.poll() is not None:
            raise StackError(f"localaws/run.sh exited with {process.returncode}:\n{stack.logs()}")
        if time.monotonic() > deadline:
            stop_console_stack(stack)
            raise StackError(
                f"the make-run stack did not come up in {STACK_START_TIMEOUT} s:\n{stack.logs()}"
            )
        time.sleep(0.5)
    return stack


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_group_gone(pgid: int, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()  # reap the script so its own pid does not linger as a zombie
        if not _group_alive(pgid):
            return True
        time.sleep(0.2)
    return False


def stop_console_stack(stack: ConsoleStack) -> None:
    """SIGINT to the whole group (what Ctrl-C in the terminal does); anything left is killed and reported."""
    pgid = stack.process.pid
    if not _group_alive(pgid):
        return
    os.killpg(pgid, signal.SIGINT)
    if _wait_group_gone(pgid, stack.process, STACK_STOP_TIMEOUT):
        return
    os.killpg(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, stack.process, 10)
    raise StackError(
        f"the make-run stack was still running {STACK_STOP_TIMEOUT} s after Ctrl-C:\n{stack.logs()}"
    )


@contextmanager
def second_console(
    stack: ConsoleStack, folder: Path, *extra_args: str, port: int | None = None, **env: str
) -> Iterator[str]:
    """Another ``streamlit run Home.py`` on the stack's local AWS, fresh (no request served yet); its URL."""
    port = port or free_port()
    environ = {name: value for name, value in os.environ.items() if not name.startswith("ECOMMERCE_")}
    environ.update(
        ECOMMERCE_TARGET="local",
        ECOMMERCE_ENDPOINT_URL=stack.aws_url,
        ECOMMERCE_LOCAL_STATE_DIR=str(stack.state_dir),
        **env,
    )
    log_path = folder / "console.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), *extra_args],
            cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while not responds(f"{url}/_stcore/health"):
                assert process.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, f"the console did not start: {log_path}"
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)
