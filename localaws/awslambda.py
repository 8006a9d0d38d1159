"""Lambda: the deployed zip runs in a warm worker process per function, like the Python runtime runs it.

Without Docker moto runs no Lambda code. Every invocation path (Invoke, S3 notification, Step Functions task)
ends in ``LambdaFunction._invoke_lambda``, which ``install`` replaces.

As on AWS, a function's execution environment stays warm between invocations: one worker process imports the
handler once (the init phase) and then answers one invocation at a time (ADR 0022). A worker belongs to one
configuration (code, handler, environment, memory, timeout): once the function changes, the next invocation
gets a new worker and the old ones end. A worker that crashes, exits or overruns its deadline is killed and
replaced at the next invocation; a handler's exception keeps it (as AWS keeps the environment). Invocations of
the same function that overlap get a worker each (AWS scales out the same way); at most
``MAX_IDLE_WORKERS`` per function stay warm afterwards, and a worker idle for ``IDLE_SECONDS`` ends.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import IO, Any

from localaws import codec
from localaws.context import Context
from localaws.credentials import Credentials
from localaws.plumbing import each_backend, log, utcnow

# At most this many idle workers per function stay warm (more only while invocations overlap).
MAX_IDLE_WORKERS = 2
# A worker idle this long ends (AWS reclaims idle environments after minutes too).
IDLE_SECONDS = 600.0

# Runs inside a function's worker process. Init: import the handler once. Then, per request line on stdin
# ({"request_id", "deadline", "event"}), call it and answer one JSON line ({"result": text} or {"error":
# {...}} as the Lambda runtime reports errors) on the original stdout, which only this loop writes. The
# handler's output (fd 1 and fd 2, its subprocesses' too) goes to stderr = the logs; each invocation's logs
# end with its marker line, written before the answer so the logs are complete when the answer arrives.
WORKER = r"""
import importlib, json, os, sys, time, traceback
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

def error(kind, message, exc=None):
    frames = traceback.extract_tb(exc.__traceback__) if exc else []
    trace = traceback.format_list([f for f in frames if f.filename != "<string>"])  # not this loop
    traceback.print_exception(exc) if exc else print(message, file=sys.stderr)
    return {"error": {"errorType": kind, "errorMessage": message, "stackTrace": trace}}

def answer(request_id, reply):
    sys.stderr.write("\x1e" + request_id + "\x1e\n"); sys.stderr.flush()
    answers.write(json.dumps(reply) + "\n"); answers.flush()

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    invoked_function_arn = os.environ["_FUNCTION_ARN"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    def __init__(self, request_id, deadline):
        self.aws_request_id, self._deadline = request_id, deadline
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
init_error = handler = None
try:
    module = importlib.import_module(module_name)
except Exception as exc:
    init_error = error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
else:
    handler = getattr(module, function_name, None)
    if not callable(handler):
        missing = f"Handler '{function_name}' missing on module '{module_name}'"
        init_error = error("Runtime.HandlerNotFound", missing)

for line in sys.stdin:
    request = json.loads(line)
    request_id = request["request_id"]
    if init_error is not None:  # reported to this invocation; the next one starts a new worker (init again)
        answer(request_id, {**init_error, "end": True})
        sys.exit(1)
    try:
        result = handler(request["event"], Context(request_id, request["deadline"]))
    except Exception as exc:
        answer(request_id, error(type(exc).__name__, str(exc), exc))
        continue
    try:
        answer(request_id, {"result": json.dumps(result)})
    except (TypeError, ValueError) as exc:
        answer(request_id, error("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc))
"""


def code_digest(fn: Any) -> str:
    """The zip's SHA-256 in hex: moto's CodeSha256 (base64) when it has one, else computed."""
    try:
        return base64.b64decode(fn.code_sha_256, validate=True).hex()
    except (ValueError, TypeError):
        return hashlib.sha256(fn.code_bytes).hexdigest()


def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
    """A worker's pipe (always made: stdin, stdout and stderr are PIPEs)."""
    if stream is None:
        raise RuntimeError("the Lambda worker has no pipe")
    return stream


class Worker:
    """One warm worker process: the zip's code in its own interpreter, with the function's environment."""

    def __init__(self, configuration: str, env: dict[str, str], code_dir: Path) -> None:
        self.configuration = configuration
        self.process = subprocess.Popen(  # noqa: S603  (this interpreter and our loop; the zip is the owner's)
            [sys.executable, "-I", "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=code_dir,
            env=env,
        )
        self.idle_since = time.monotonic()
        self._answers = b""
        self._logs = bytearray()
        self._logs_closed = False
        self._logs_changed = threading.Condition()
        threading.Thread(target=self._read_logs, name=f"lambda-logs-{self.pid}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read_logs(self) -> None:
        # A thread, so that a handler's output never blocks on a full pipe between invocations.
        stream = _pipe(self.process.stderr)
        while chunk := os.read(stream.fileno(), 65536):
            with self._logs_changed:
                self._logs += chunk
                self._logs_changed.notify_all()
        stream.close()
        with self._logs_changed:
            self._logs_closed = True
            self._logs_changed.notify_all()

    def invoke(self, request_id: str, event: Any, deadline: float, timeout: float) -> tuple[str, Any, str]:
        """Runs one invocation: ("answer", {"result": text} | {"error": {...}}, logs), ("timeout", None,
        logs) after killing the worker at the deadline, or ("exit", exit status, logs) when it ended."""
        request = json.dumps({"request_id": request_id, "deadline": deadline, "event": event}) + "\n"
        try:
            stdin = _pipe(self.process.stdin)
            stdin.write(request.encode())
            stdin.flush()
        except OSError:  # it ended while idle
            return "exit", self._exit_status(), self._all_logs()
        line = self._read_answer(time.monotonic() + timeout)
        if line is None:
            self.stop()
            return "timeout", None, self._all_logs()
        if not line:
            return "exit", self._exit_status(), self._all_logs()
        return "answer", json.loads(line), self._logs_until(f"\x1e{request_id}\x1e\n".encode())

    def _read_answer(self, deadline: float) -> bytes | None:
        """The next answer line; b"" when the worker ended; None at the deadline."""
        fd = _pipe(self.process.stdout).fileno()
        while b"\n" not in self._answers:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            self._answers += chunk
        line, _, self._answers = self._answers.partition(b"\n")
        return line

    def _logs_until(self, marker: bytes) -> str:
        """This invocation's logs: the output up to its marker (already in the pipe: written first)."""
        with self._logs_changed:
            self._logs_changed.wait_for(lambda: marker in self._logs or self._logs_closed, timeout=5)
            logs, _, rest = bytes(self._logs).partition(marker)
            self._logs[:] = rest
        return logs.decode("utf-8", "replace")

    def _all_logs(self) -> str:
        """Everything the ended worker wrote that no invocation took yet."""
        with self._logs_changed:
            self._logs_changed.wait_for(lambda: self._logs_closed, timeout=5)
            logs = bytes(self._logs)
            self._logs.clear()
        return logs.decode("utf-8", "replace")

    def _exit_status(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(timeout=5)
        return None

    def stop(self) -> None:
        """Kill the worker (and reap it). Idempotent."""
        if self.alive:
            self.process.kill()
        self._exit_status()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


class LambdaRunner:
    """Runs a moto LambdaFunction's zip like the Python runtime would, on warm workers (module docstring)."""

    def __init__(self, state_dir: Path, endpoint_url: str, credentials: Credentials) -> None:
        self.code_root = state_dir / "lambda"
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self._lock = threading.Lock()
        self._workers_lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}  # function ARN → warm workers, most recently used last
        self._configuration: dict[str, str] = {}  # function ARN → its configuration's digest now
        self._closed = threading.Event()
        threading.Thread(target=self._reap_idle, name="lambda-idle-workers", daemon=True).start()

    def code_dir(self, fn: Any) -> Path:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise RuntimeError(f"function {fn.function_name} has no zip code (only zip packages run locally)")
        target = self.code_root / code_digest(fn)
        with self._lock:
            if not target.exists():
                self.code_root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".extract-"))
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target

    def environment(self, fn: Any, code_dir: Path) -> dict[str, str]:
        """A worker's whole environment: the runtime's variables, the function's, this local AWS's."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.code_root)),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": fn.handler or "",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout or 3),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "_FUNCTION_ARN": fn.function_arn,
        }
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        # Set last: the function always talks to this local AWS, never to a real account.
        env.update(
            {
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                **self.credentials.env(),
            }
        )
        return env

    def _checkout(self, fn: Any, code_dir: Path) -> Worker:
        """A warm worker of the function's configuration as it is now, else a new one. Workers of an older
        configuration end (the function changed)."""
        env = self.environment(fn, code_dir)
        configuration = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
        arn, ended, worker = fn.function_arn, [], None
        with self._workers_lock:
            if self._configuration.get(arn) != configuration:
                self._configuration[arn] = configuration
                ended = self._idle.pop(arn, [])
            idle = self._idle.get(arn, [])
            while idle and worker is None:
                candidate = idle.pop()
                if candidate.alive:
                    worker = candidate
                else:
                    ended.append(candidate)
        for old in ended:
            old.stop()
        if worker is None:
            # The log stream is the execution environment's, as on AWS.
            stream = f"{utcnow():%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}"
            worker = Worker(configuration, {**env, "AWS_LAMBDA_LOG_STREAM_NAME": stream}, code_dir)
        return worker

    def _checkin(self, arn: str, worker: Worker) -> None:
        with self._workers_lock:
            idle = self._idle.setdefault(arn, [])
            keep = (
                not self._closed.is_set()
                and worker.alive
                and self._configuration.get(arn) == worker.configuration
                and len(idle) < MAX_IDLE_WORKERS
            )
            if keep:
                worker.idle_since = time.monotonic()
                idle.append(worker)
        if not keep:
            worker.stop()

    def _reap_idle(self) -> None:
        while not self._closed.wait(min(IDLE_SECONDS, 30.0)):
            now, ended = time.monotonic(), []
            with self._workers_lock:
                for idle in self._idle.values():
                    ended += [w for w in idle if now - w.idle_since > IDLE_SECONDS]
                    idle[:] = [w for w in idle if now - w.idle_since <= IDLE_SECONDS]
            for worker in ended:
                worker.stop()

    def close(self) -> None:
        """End every idle worker; a busy one ends when its invocation returns."""
        self._closed.set()
        with self._workers_lock:
            ended = [w for idle in self._idle.values() for w in idle]
            self._idle.clear()
        for worker in ended:
            worker.stop()

    def worker_pids(self, function_arn: str) -> list[int]:
        """The idle warm workers of a function (for the logs and tests)."""
        with self._workers_lock:
            return [w.pid for w in self._idle.get(function_arn, [])]

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, bytes | str):
            event = json.loads(event or "{}")
        request_id = str(uuid.uuid4())
        timeout = float(fn.timeout or 3)
        started = time.monotonic()
        try:
            code_dir = self.code_dir(fn)
        except Exception as exc:
            return self._finish(fn, request_id, started, {"errorType": "Runtime.InvalidEntrypoint",
                                                          "errorMessage": str(exc)}, "")  # fmt: skip
        worker = self._checkout(fn, code_dir)
        try:
            outcome, answer, logs = worker.invoke(request_id, event, time.time() + timeout, timeout)
            if outcome == "answer" and answer.get("end"):
                worker.stop()  # its init failed: the next invocation starts a new worker
        finally:
            self._checkin(fn.function_arn, worker)
        if outcome == "answer" and "result" in answer:
            return self._finish(fn, request_id, started, answer["result"], logs)
        if outcome == "answer" and isinstance(answer.get("error"), dict):
            return self._finish(fn, request_id, started, answer["error"], logs)
        if outcome == "timeout":
            message = (
                f"{utcnow():%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after {timeout:.2f} seconds"
            )
            return self._finish(fn, request_id, started, {"errorType": "Sandbox.Timedout",
                                                          "errorMessage": message}, logs)  # fmt: skip
        error = {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {answer}",
        }
        return self._finish(fn, request_id, started, error, logs)

    def _finish(
        self, fn: Any, request_id: str, started: float, result: str | dict, logs: str
    ) -> tuple[str, bool, str]:
        failed = isinstance(result, dict)
        payload = json.dumps(result) if failed else result
        millis = (time.monotonic() - started) * 1000
        report = f"REPORT RequestId: {request_id}\tDuration: {millis:.2f} ms"
        full_logs = f"START RequestId: {request_id}\n{logs.rstrip()}\nEND RequestId: {request_id}\n{report}"
        with contextlib.suppress(Exception):  # CloudWatch Logs is a convenience here
            fn.logs_backend.ensure_log_group(fn.logs_group_name)
            fn.save_logs(full_logs)
        if failed:
            log.warning("lambda %s failed in %.0f ms: %s: %s", fn.function_name, millis,
                        result.get("errorType"), result.get("errorMessage"))  # fmt: skip
        else:
            log.info("lambda %s ok in %.0f ms", fn.function_name, millis)
        return payload, failed, full_logs


def install(ctx: Context) -> LambdaRunner:
    from moto.awslambda.models import LambdaFunction

    runner = LambdaRunner(ctx.state_dir, ctx.endpoint_url, ctx.credentials)
    # Without Docker moto runs no Lambda code; run the deployed zip on a warm worker process.
    ctx.patcher.set(LambdaFunction, "_invoke_lambda", lambda fn, event=None: runner.invoke(fn, event))
    ctx.patcher.on_undo(runner.close)

    # /moto-api/data.json reads every public attribute; docker_client raises DockerException (500): absent.
    def no_docker(fn: Any) -> Any:
        raise AttributeError("the local AWS runs Lambda code without Docker")

    ctx.patcher.set(LambdaFunction, "docker_client", property(no_docker))
    original_invoke = LambdaFunction.invoke

    # An exception that escapes the handler is an "Unhandled" function error on AWS; moto says "Handled".
    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        result = original_invoke(fn, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return result

    ctx.patcher.set(LambdaFunction, "invoke", invoke)
    return runner


# ------------------------------------------------------------------------------------------ durable state


class LambdaState:
    """Functions (configuration, zip in a blob named by its hash, published versions, resource policy).

    Restored through ``create_function`` (IAM first: it checks the role), then the generated fields are
    set back (LastModified, the code location, the policy)."""

    service = "lambda"

    def __init__(self, store: Any) -> None:
        self.store = store

    def _zip_blob(self, fn: Any) -> str:
        """The zip's blob, named by its hash (written once: deploys that change nothing write nothing)."""
        name = code_digest(fn)
        if not self.store.blob_path(name).exists():
            self.store.write_blob([fn.code_bytes], name=name)
        return name

    def records(self) -> dict[tuple[str, str], str]:
        from moto.awslambda.models import lambda_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(lambda_backends):
            for name, group in list(backend._lambdas._functions.items()):
                fn = group["latest"]
                if not fn.code_bytes:
                    continue  # only zip packages run here
                spec = {
                    "FunctionName": fn.function_name, "Role": fn.role, "Handler": fn.handler,
                    "Runtime": fn.run_time, "Description": fn.description, "Timeout": fn.timeout,
                    "MemorySize": fn.memory_size, "PackageType": fn.package_type,
                    "Environment": {"Variables": fn.environment_vars}, "Tags": fn.tags,
                    "Architectures": fn.architectures, "TracingConfig": fn.tracing_config,
                    "EphemeralStorage": {"Size": fn.ephemeral_storage}, "KMSKeyArn": fn.kms_key_arn,
                    "Layers": [layer["Arn"] for layer in fn.layers], "VpcConfig": fn._vpc_config,
                    "ReservedConcurrentExecutions": fn.reserved_concurrency,
                }  # fmt: skip
                records[("function", f"{account}/{region}/{name}")] = codec.dumps({
                    "account": account, "region": region, "spec": spec, "zip": self._zip_blob(fn),
                    "generated": {
                        "last_modified": fn.last_modified, "state": fn.state, "code_uuid": fn.code["UUID"],
                        "code_s3key": fn.code["S3Key"], "code_or_config_updated": fn.code_or_config_updated,
                        "policy_revision": fn.policy.revision, "policy_statements": fn.policy.statements,
                    },
                    "versions": [{"version": v.version, "last_modified": v.last_modified,
                                  "description": v.description, "zip": self._zip_blob(v)}
                                 for v in group["versions"]],
                })  # fmt: skip
        return records

    def live_blobs(self) -> set[str]:
        """The blobs of every function's and version's zip, as moto holds them now."""
        from moto.awslambda.models import lambda_backends

        return {
            code_digest(fn)
            for _, _, backend in each_backend(lambda_backends)
            for group in list(backend._lambdas._functions.values())
            for fn in [group["latest"], *group["versions"]]
            if fn.code_bytes
        }

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.awslambda.models import _zipfile_content, lambda_backends

        for body in records.values():
            data = json.loads(body)
            backend = lambda_backends[data["account"]][data["region"]]
            spec = {k: v for k, v in data["spec"].items() if v is not None}
            code = self.store.blob_path(data["zip"]).read_bytes()
            fn = backend.create_function({**spec, "Code": {"ZipFile": base64.b64encode(code).decode()}})
            generated = data["generated"]
            fn.last_modified, fn.state = generated["last_modified"], generated["state"]
            fn.code["UUID"], fn.code["S3Key"] = generated["code_uuid"], generated["code_s3key"]
            fn.code_or_config_updated = generated["code_or_config_updated"]
            fn.policy.revision, fn.policy.statements = (
                generated["policy_revision"],
                generated["policy_statements"],
            )
            group = backend._lambdas._functions[fn.function_name]
            for stored in data["versions"]:  # as LambdaStorage.publish_version, without its side effects
                version = copy.copy(fn)
                version_code = self.store.blob_path(stored["zip"]).read_bytes()
                if version_code != code:
                    version.code_bytes, version.code_size, version.code_sha_256, version.code_digest = (
                        _zipfile_content(base64.b64encode(version_code))
                    )
                version.set_version(int(stored["version"]))
                version.last_modified, version.description = stored["last_modified"], stored["description"]
                group["versions"].append(version)
                backend._lambdas._arns[version.function_arn] = version
