"""Patches that turn moto 5.2.5 (server mode, in this process) into a local AWS where the pipeline runs.

moto answers every API the pipeline uses but executes almost nothing (design.md §5). Each patch below
replaces one moto function in this process, with the reason on the line above it:

1. Lambda     ``moto.awslambda.models.LambdaFunction._invoke_lambda``: the deployed zip runs in a subprocess
              (``.invoke`` reports uncaught errors as "Unhandled"; ``.docker_client`` is absent, which keeps
              /moto-api/data.json working).
2. S3 events  ``moto.s3.notifications.send_event``: delivered by one background worker, in order.
3. Steps      ``moto.core.config.default_user_config`` + ``MOTO_PORT`` + ``StepFunctionsParserBackend
              .start_execution``: ASL is interpreted, calls come back to this server, executions get names.
4. Glue       ``moto.glue.models.FakeJob.start_job_run``: the job script runs on one warm local Spark session.
5. Athena     ``moto.athena.models.AthenaBackend.start_query_execution`` (+ two responses): SELECTs run on
              DuckDB over the table's Parquet; results are written where awswrangler reads them.
6. SNS        ``moto.sns.models.Topic.publish``: every message is recorded as a JSON line in
              ``<state_dir>/notifications.jsonl`` (the console's inbox); email subscribers get it by SMTP.

``apply_all`` applies them and returns a ``LocalPatches`` whose ``undo()`` stops the workers and restores
moto. Nothing here reads real AWS credentials: subprocesses and clients get dummy ones and the local endpoint.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import queue
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

log = logging.getLogger("deploy.local")

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_SESSION_TOKEN": "test",
}


# ------------------------------------------------------------------------------------------- plumbing


_MISSING = object()


class _Patcher:
    """setattr that remembers the original, so that undo() restores moto exactly."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, value)

    def undo(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


class SerialWorker:
    """One daemon thread running submitted calls in order; errors are logged, never raised."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        self._queue.put((function, args))

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once every submitted call has finished (tests use it to wait for async deliveries)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was submitted, then end the thread (waiting up to timeout; callable again)."""
        if self._thread.is_alive():
            if not self._stopping:
                self._stopping = True
                self._queue.put(None)
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                function, args = item
                function(*args)
            except Exception:
                log.exception("%s: background task failed", self.name)
            finally:
                self._queue.task_done()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _s3_backend(account_id: str, region: str) -> Any:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[account_id][get_partition(region)]


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _s3_read(account_id: str, region: str, uri: str) -> bytes:
    """An object's bytes straight from the in-process S3 backend (no HTTP round trip)."""
    from moto.s3.exceptions import MissingBucket, MissingKey

    bucket, key = _split_s3(uri)
    try:
        obj = _s3_backend(account_id, region).get_object(bucket, key)
    except (MissingBucket, MissingKey):
        obj = None
    if obj is None:
        raise FileNotFoundError(f"{uri} does not exist")
    return obj.value


def _s3_list(account_id: str, region: str, bucket: str, prefix: str) -> dict[str, Any]:
    """{key: FakeKey} of the current objects under a prefix (delete markers left out)."""
    from moto.s3.models import FakeKey

    store = _s3_backend(account_id, region).get_bucket(bucket).keys
    return {
        name: obj
        for name in list(store.keys())
        if name.startswith(prefix) and isinstance(obj := store.get(name), FakeKey)
    }


# -------------------------------------------------------------------------------------- 1. Lambda

# Runs inside the function's subprocess: import the handler, read the event on stdin, write the result
# (or the error as the Lambda runtime reports it) as JSON on stdout. Handler prints go to stderr = logs.
BOOTSTRAP = r"""
import importlib, json, os, sys, time, traceback, uuid
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
out, sys.stdout = sys.stdout, sys.stderr

def finish(payload, code):
    out.write(json.dumps(payload)); out.flush(); sys.exit(code)

def error(kind, message, exc=None):
    frames = traceback.extract_tb(exc.__traceback__) if exc else []
    trace = traceback.format_list([f for f in frames if f.filename != "<string>"])  # not this bootstrap
    traceback.print_exception(exc) if exc else print(message, file=sys.stderr)
    finish({"errorType": kind, "errorMessage": message, "stackTrace": trace}, 1)

class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    invoked_function_arn = os.environ["_FUNCTION_ARN"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = os.environ["_REQUEST_ID"]
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    _deadline = float(os.environ["_DEADLINE"])
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))

module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
event = json.loads(sys.stdin.read() or "{}")
try:
    module = importlib.import_module(module_name)
except Exception as exc:
    error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc)
handler = getattr(module, function_name, None)
if not callable(handler):
    error("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
try:
    result = handler(event, Context())
except Exception as exc:
    error(type(exc).__name__, str(exc), exc)
try:
    text = json.dumps(result)
except (TypeError, ValueError) as exc:
    error("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc)
out.write(text); out.flush()
"""


class LambdaRunner:
    """Runs a moto LambdaFunction's zip like the Python runtime would, one subprocess per invocation."""

    def __init__(self, state_dir: Path, endpoint_url: str) -> None:
        self.code_root = state_dir / "lambda"
        self.endpoint_url = endpoint_url
        self._lock = threading.Lock()

    def code_dir(self, fn: Any) -> Path:
        code = getattr(fn, "code_bytes", b"") or b""
        if not code:
            raise RuntimeError(f"function {fn.function_name} has no zip code (only zip packages run locally)")
        try:
            digest = base64.b64decode(fn.code_sha_256, validate=True).hex()
        except (ValueError, TypeError):
            digest = hashlib.sha256(code).hexdigest()
        target = self.code_root / digest
        with self._lock:
            if not target.exists():
                self.code_root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".extract-"))
                with zipfile.ZipFile(io.BytesIO(code)) as archive:
                    archive.extractall(staging)
                staging.rename(target)
        return target

    def environment(self, fn: Any, code_dir: Path, request_id: str, deadline: float) -> dict[str, str]:
        stream = f"{_utcnow():%Y/%m/%d}/[{fn.version}]{request_id.replace('-', '')}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
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
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "_FUNCTION_ARN": fn.function_arn,
            "_REQUEST_ID": request_id,
            "_DEADLINE": str(deadline),
        }
        env.update({str(k): str(v) for k, v in (fn.environment_vars or {}).items()})
        # Set last: the function always talks to this local AWS, never to a real account.
        env.update(
            {
                "AWS_REGION": fn.region,
                "AWS_DEFAULT_REGION": fn.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                **DUMMY_CREDENTIALS,
            }
        )
        return env

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
        env = self.environment(fn, code_dir, request_id, time.time() + timeout)
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", BOOTSTRAP],
                input=json.dumps(event).encode(),
                capture_output=True,
                cwd=code_dir,
                env=env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            logs = (exc.stderr or b"").decode("utf-8", "replace")
            message = (
                f"{_utcnow():%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after {timeout:.2f} seconds"
            )
            return self._finish(fn, request_id, started, {"errorType": "Sandbox.Timedout",
                                                          "errorMessage": message}, logs)  # fmt: skip
        logs = done.stderr.decode("utf-8", "replace")
        payload = done.stdout.decode("utf-8", "replace")
        if done.returncode == 0:
            return self._finish(fn, request_id, started, payload, logs)
        try:
            error = json.loads(payload)
            if not isinstance(error, dict) or "errorType" not in error:
                raise ValueError
        except ValueError:
            error = {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                f"exit status {done.returncode}",
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


# -------------------------------------------------------------------------------------- 4. Glue


def _job_run_class() -> type:
    from moto.glue.models import FakeJobRun

    class LocalJobRun(FakeJobRun):
        """A job run whose state is set by the local runner from the real outcome, never by moto's clock."""

        error_message: str | None = None
        execution_seconds: int = 0
        ended: bool = False

        @property
        def status(self) -> str | None:
            return self._status

        @status.setter
        def status(self, value: str) -> None:
            self._status = value
            self.modified_on = _utcnow()

        def as_dict(self) -> dict[str, Any]:
            result = super().as_dict()
            result["ExecutionTime"] = self.execution_seconds
            result["GlueVersion"] = getattr(self, "glue_version", None) or result["GlueVersion"]
            if not self.ended:
                result.pop("CompletedOn", None)
            if self.error_message:
                result["ErrorMessage"] = self.error_message
            return result

    return LocalJobRun


class GlueRunner:
    """Runs Glue job scripts for real: one worker thread, one warm Spark session, runs in start order."""

    def __init__(self, state_dir: Path, endpoint_url: str, stop_spark: bool = True) -> None:
        self.root = state_dir / "glue"
        self.endpoint_url = endpoint_url
        self.stop_spark = stop_spark
        self.worker = SerialWorker("local-glue")
        self._modules: dict[str, ModuleType] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._spark: Any = None
        self.phases: dict[str, float] = {}  # of the run in progress, for the log
        self._phase_mark = 0.0
        self._region = "us-east-1"  # of the run in progress (one at a time)
        self._import_lock = threading.Lock()
        self.run_class = _job_run_class()

    # --- moto hook
    def take_over(self, job: Any, run: Any) -> None:
        run.__class__ = self.run_class
        run.glue_version = job.glue_version
        run.status = "STARTING"
        self.worker.submit(self._execute, job, run)

    def warm_up(self) -> None:
        """Start Spark now (in the worker) so that the first run does not pay the JVM start."""
        from deploy import artifacts

        def warm() -> None:
            started = time.monotonic()
            module = self._load(
                artifacts.glue_script_bytes(), [("csv_profile.zip", artifacts.build_glue_extra_py_zip())]
            )
            spark = self.spark(module)
            if self.worker.stopping:
                return
            # A tiny run through the job's own code paths: the first real run then costs what later ones do.
            folder = self.root / "warm-up"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            orders, returns = folder / "orders.csv", folder / "returns.csv"
            lines = [f"O{i},{i % 28 + 1}/1/2016,{i}.5,Item {i}" for i in range(40)]
            orders.write_text("Order ID,Order Date,Sales,Product Name\n" + "\n".join(lines) + "\n")
            returns.write_text("Order ID,Returned\nO1,Yes\nO2,Yes\n")
            try:
                args = module.JobArgs(str(orders), str(returns), f"{folder}/out/", "warm-up")
                module.build_run(spark, args, module.new_report(args))
            except Exception:
                if not self.worker.stopping:  # a shutdown cancels it on purpose
                    log.warning("glue: the warm-up run failed (runs will still work)", exc_info=True)
                return
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            log.info("glue: Spark session warm in %.1f s", time.monotonic() - started)

        self.worker.submit(warm)

    def stop(self) -> None:
        """Let the run in progress finish (a shutdown cancels its Spark jobs after a grace second)."""
        self.worker.stop(timeout=1.0)
        if self.worker.alive and self._spark is not None:
            with contextlib.suppress(Exception):
                self._spark.sparkContext.cancelAllJobs()
        self.worker.stop(timeout=30.0)
        if self.stop_spark and self._spark is not None:
            with contextlib.suppress(Exception):
                self._spark.stop()
        self._spark = None

    # --- one run
    def _execute(self, job: Any, run: Any) -> None:
        started = self._phase_mark = time.monotonic()
        self.phases = {}
        run.status = "RUNNING"
        try:
            report = self._run_script(job, run)
        except BaseException as exc:  # SystemExit from argparse included: the run fails, the worker lives
            run.error_message = f"{type(exc).__name__}: {exc}"
            outcome = "FAILED"
            if type(exc).__name__ not in ("JobError", "ProfileError"):  # not a data problem: keep the trace
                log.warning("glue run %s raised", run.job_run_id, exc_info=True)
        else:
            outcome = "SUCCEEDED"
            if report is not None and report.warnings:
                log.info("glue run %s warnings: %s", run.job_run_id, report.warnings)
        run.execution_seconds = max(1, math.ceil(time.monotonic() - started))
        run.completed_on = _utcnow()
        run.ended = True
        run.status = outcome  # last: pollers see the end only once the report and the table are in place
        phases = "".join(f", {k} {v:.1f} s" for k, v in self.phases.items())
        log.info("glue run %s of %s %s in %.1f s%s%s", run.job_run_id, job.name, outcome,
                 time.monotonic() - started, phases,
                 f": {run.error_message}" if run.error_message else "")  # fmt: skip

    def _run_script(self, job: Any, run: Any) -> Any:
        account, region = job.backend.account_id, job.backend.region_name
        self._region = region
        arguments = dict(run.arguments or {})
        extras = [u.strip() for u in arguments.get("--extra-py-files", "").split(",") if u.strip()]
        script_uri = (job.command or {}).get("ScriptLocation", "")
        module = self._load(
            _s3_read(account, region, script_uri),
            [(u.rsplit("/", 1)[-1], _s3_read(account, region, u)) for u in extras],
        )
        argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
        for key, value in arguments.items():
            argv += [key, str(value)]
        args = module.parse_args(argv)
        if not module.is_s3(args.output_path):
            return module.run_job(self.spark(module), args)

        stage = self.root / "runs" / run.job_run_id
        phase = self._phase
        try:
            phase("load")
            local = dataclasses.replace(
                args,
                orders_path=self._stage_input(account, region, args.orders_path, stage / "orders"),
                returns_path=self._stage_input(account, region, args.returns_path, stage / "returns"),
            )
            write_path = stage / "output" / f"run_id={args.run_id}"
            report = module.new_report(args)  # names the S3 files and the S3 run prefix
            uploaded = False
            phase("stage")
            try:
                schema = module.build_run(self.spark(module), local, report, write_path=f"{write_path}/")
                phase("spark")
                self._upload(region, write_path, report.run_path)
                uploaded = True
                phase("upload")
                if args.database and args.table:
                    module.publish(args, report, schema)
                    phase("publish")
                report.status = "SUCCEEDED"
                return report
            except BaseException as exc:
                report.status, report.error = "FAILED", str(exc)
                raise
            finally:
                if report.orders:  # as on Glue: a failed run leaves its prefix (report, quarantine)
                    if not uploaded and write_path.exists():
                        self._upload(region, write_path, report.run_path)
                    module.write_text(report.run_path + "_quality/report.json", report.to_json())
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _phase(self, name: str) -> None:
        """Record the time since the previous phase ended (for the run's log line)."""
        now = time.monotonic()
        self.phases[name] = now - self._phase_mark
        self._phase_mark = now

    def spark(self, module: ModuleType) -> Any:
        if self._spark is None or self._spark.sparkContext._jsc is None:
            self._spark = module.local_spark()
        return self._spark

    def _stage_input(self, account: str, region: str, path: str, folder: Path) -> str:
        if not path.startswith("s3://"):
            return path
        name = path.rsplit("/", 1)[-1].lstrip("._") or "input"  # Spark skips files named _* and .*
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        target.write_bytes(_s3_read(account, region, path))
        return str(target)

    def _upload(self, region: str, local_dir: Path, run_path: str) -> None:
        bucket, prefix = _split_s3(run_path)
        files = [
            p
            for p in sorted(local_dir.rglob("*"))
            if p.is_file() and not p.name.startswith(".")  # Hadoop's .crc checksum files stay local
        ]
        s3 = self.client("s3", region)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda p: s3.upload_file(str(p), bucket, prefix + p.relative_to(local_dir).as_posix()),
                    files,
                )
            )

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            import boto3

            self._clients[key] = boto3.session.Session().client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
        return self._clients[key]

    def _load(self, script: bytes, extras: list[tuple[str, bytes]]) -> ModuleType:
        """The job script as a private module, with its --extra-py-files importable (as on Glue)."""
        digest = hashlib.sha256(script + b"".join(h for _, h in extras)).hexdigest()[:16]
        if digest in self._modules:
            return self._modules[digest]
        folder = self.root / "scripts" / digest
        folder.mkdir(parents=True, exist_ok=True)
        script_path = folder / "job_script.py"
        script_path.write_bytes(script)
        paths, provided = [], set()
        for name, data in extras:
            (folder / name).write_bytes(data)
            if name.endswith(".zip"):
                paths.append(str(folder / name))
                with zipfile.ZipFile(folder / name) as archive:
                    provided |= {n.split("/")[0].removesuffix(".py") for n in archive.namelist()}
            else:
                paths.append(str(folder))
                provided.add(Path(name).stem)
        with self._import_lock:
            saved = {n: sys.modules.pop(n) for n in provided if n in sys.modules}
            sys.path[:0] = paths
            module_name = f"_local_glue_job_{digest}"  # registered: dataclasses look their module up
            try:
                spec = importlib.util.spec_from_file_location(module_name, script_path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(module_name, None)
                raise
            finally:
                del sys.path[: len(paths)]
                for extra in provided:  # the job keeps its own copies; the process keeps its modules
                    sys.modules.pop(extra, None)
                sys.modules.update(saved)
        # The script's AWS calls (read_head, write_text, publish, prune_runs) go to the local AWS.
        module.aws_client = lambda service: self.client(service, self._region)
        self._modules[digest] = module
        return module


# -------------------------------------------------------------------------------------- 5. Athena

GLUE_TO_DUCKDB = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER",
    "integer": "INTEGER", "smallint": "SMALLINT", "tinyint": "TINYINT", "double": "DOUBLE",
    "float": "FLOAT", "real": "FLOAT", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}  # fmt: skip
DUCKDB_TO_ATHENA = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "integer",
    "BIGINT": "bigint", "HUGEINT": "bigint", "UTINYINT": "smallint", "USMALLINT": "integer",
    "UINTEGER": "bigint", "UBIGINT": "bigint", "UHUGEINT": "bigint", "FLOAT": "real", "DOUBLE": "double",
    "VARCHAR": "varchar", "DATE": "date", "TIME": "time", "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp", "TIMESTAMP_MS": "timestamp", "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "BLOB": "varbinary",
}  # fmt: skip


class QueryFailed(Exception):
    """A query failure with the message Athena would put in StateChangeReason."""


@dataclasses.dataclass
class QueryResult:
    columns: list[dict[str, Any]]  # Athena ColumnInfo
    table: Any  # pyarrow.Table with the rows


def _athena_type(duck_type: Any) -> tuple[str, int, int]:
    text = str(duck_type).upper()
    if text.startswith("DECIMAL"):
        precision, scale = (int(x) for x in text[text.index("(") + 1 : -1].split(","))
        return "decimal", precision, scale
    if text.endswith("[]"):
        return "array", 0, 0
    if text.startswith("STRUCT"):
        return "row", 0, 0
    if text.startswith("MAP"):
        return "map", 0, 0
    return DUCKDB_TO_ATHENA.get(text, "varchar"), 0, 0


def _duck_type(glue_type: str) -> str | None:
    base = glue_type.strip().lower()
    if base.startswith("decimal"):
        return base.upper()
    if base.startswith(("varchar", "char")):
        return "VARCHAR"
    return GLUE_TO_DUCKDB.get(base)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class AthenaEngine:
    """Runs Athena (Trino) SELECTs on DuckDB over the Parquet that the Glue catalog points at."""

    MAX_KEPT_RESULTS = 64  # query results kept for GetQueryResults paging
    KEPT_LOCATIONS = 8  # table locations kept in the local Parquet cache

    def __init__(self, state_dir: Path) -> None:
        self.cache = state_dir / "athena" / "data"
        self.scratch = state_dir / "athena" / "results"
        self.results: collections.OrderedDict[str, QueryResult] = collections.OrderedDict()
        self.details: dict[str, dict[str, Any]] = {}
        self._cache_lock = threading.Lock()
        self._cached: dict[Path, str] = {}  # local file → ETag it was copied from

    # --- moto hook
    def run(self, backend: Any, execution_id: str) -> None:
        from moto.athena.models import Execution

        execution = backend.executions[execution_id]
        if type(execution) is Execution:
            execution.__class__ = _local_execution_class()
        started = time.monotonic()
        execution.status = "RUNNING"
        try:
            output = self._output_location(backend, execution)
            result = self.execute(backend, execution.query, execution.context, execution.execution_parameters,
                                  output)  # fmt: skip
        except QueryFailed as exc:
            self._end(execution, "FAILED", started, str(exc))
            log.info("athena query %s FAILED: %s", execution_id, exc)
            return
        except Exception as exc:  # DuckDB and sqlglot errors: a failed query, as Athena reports them
            self._end(execution, "FAILED", started, f"{type(exc).__name__}: {exc}")
            log.info("athena query %s FAILED: %s: %s", execution_id, type(exc).__name__, exc)
            return
        self.results[execution_id] = result
        while len(self.results) > self.MAX_KEPT_RESULTS:
            self.results.popitem(last=False)
        self._end(execution, "SUCCEEDED", started, None)
        log.info("athena query %s SUCCEEDED: %d row(s) in %.0f ms", execution_id, result.table.num_rows,
                 (time.monotonic() - started) * 1000)  # fmt: skip

    def _end(self, execution: Any, state: str, started: float, reason: str | None) -> None:
        millis = int((time.monotonic() - started) * 1000)
        self.details[execution.id] = {"reason": reason, "millis": millis}
        execution.end_time = time.time()
        execution.status = state

    def _output_location(self, backend: Any, execution: Any) -> str:
        config = execution.config if isinstance(execution.config, dict) else {}
        group = execution.workgroup.configuration if execution.workgroup else {}
        group_output = (group.get("ResultConfiguration") or {}).get("OutputLocation")
        enforced = group.get("EnforceWorkGroupConfiguration", True)
        if group_output and (enforced or "OutputLocation" not in config):
            location = group_output.rstrip("/") + f"/{execution.id}.csv"
            execution.config = {**config, "OutputLocation": location}
        location = (execution.config or {}).get("OutputLocation")
        if not location:
            raise QueryFailed(
                "No output location provided. An output location is required either through the Workgroup "
                "result configuration setting or as an API input."
            )
        return location

    # --- the query
    def execute(
        self, backend: Any, sql: str, context: Any, parameters: list[str] | None, output: str
    ) -> QueryResult:
        import duckdb
        from sqlglot import exp

        context = context if isinstance(context, dict) else {}
        database = (context.get("Database") or "default").lower()
        tree = self._parse(sql, parameters).transform(_count_if_as_filter)
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        tables: dict[tuple[str, str], dict[str, Any]] = {}
        for node in tree.find_all(exp.Table):
            if isinstance(node.this, exp.Func):  # DuckDB's read_csv() & co. are no Athena functions
                raise QueryFailed(
                    f"FUNCTION_NOT_FOUND: table function {node.this.sql('trino')} is not available"
                )
            if not node.name or (not node.db and node.name.lower() in cte_names):
                continue
            if node.catalog and node.catalog.lower() != "awsdatacatalog":
                raise QueryFailed(f"CATALOG_NOT_FOUND: Catalog '{node.catalog}' does not exist")
            node.set("catalog", None)
            db = (node.db or database).lower()
            if not node.db:
                node.set("db", exp.to_identifier(db))
            tables[(db, node.name.lower())] = self._glue_table(backend, db, node.name.lower())
        duck_sql = tree.sql(dialect="duckdb")

        with self._cache_lock:
            views = {key: self._view_source(backend, table) for key, table in tables.items()}
        self.scratch.mkdir(parents=True, exist_ok=True)
        csv_path = self.scratch / f"{uuid.uuid4().hex}.csv"
        con = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            with contextlib.suppress(duckdb.Error):
                con.execute("SET TimeZone = 'UTC'")
            con.execute(
                "SET allowed_directories = ?", [[str(self.cache.resolve()), str(self.scratch.resolve())]]
            )
            con.execute("SET enable_external_access = false")  # the SQL may read nothing but these tables
            for (db, name), view_sql in views.items():
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(db)}")
                con.execute(f"CREATE VIEW {_quote(db)}.{_quote(name)} AS {view_sql}")
            con.execute(f"CREATE TEMP TABLE __athena_result AS {duck_sql}")
            target = str(csv_path).replace("'", "''")
            con.execute(f"COPY __athena_result TO '{target}' (HEADER, FORCE_QUOTE *)")
            relation = con.table("__athena_result")
            columns = []
            for name, duck_type in zip(relation.columns, relation.types, strict=True):
                kind, precision, scale = _athena_type(duck_type)
                columns.append({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name,
                                "Label": name, "Type": kind, "Precision": precision, "Scale": scale,
                                "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar"})  # fmt: skip
            table = relation.to_arrow_table()
        finally:
            con.close()
        try:
            data = csv_path.read_bytes()
        finally:
            csv_path.unlink(missing_ok=True)
        bucket, key = _split_s3(output)
        s3 = _s3_backend(backend.account_id, backend.region_name)
        try:
            s3.put_object(bucket, key, data)
            metadata = {"columns": columns, "rows": table.num_rows, "query": sql}
            s3.put_object(bucket, key + ".metadata", json.dumps(metadata).encode())
        except Exception as exc:
            raise QueryFailed(f"Unable to write the query results to {output}: {exc}") from exc
        return QueryResult(columns, table)

    def _parse(self, sql: str, parameters: list[str] | None) -> Any:
        import sqlglot
        from sqlglot import exp
        from sqlglot.dialects.trino import Trino
        from sqlglot.tokens import TokenType

        parameters = list(parameters or [])
        marks = [t for t in Trino().tokenize(sql) if t.token_type == TokenType.PLACEHOLDER]
        if len(marks) != len(parameters):
            raise QueryFailed(
                f"INVALID_PARAMETER: the query has {len(marks)} parameter(s) but {len(parameters)} "
                "execution parameter(s) were given"
            )
        for mark, value in sorted(zip(marks, parameters, strict=True), key=lambda m: -m[0].start):
            parsed = [e for e in sqlglot.parse(value, read="trino") if e is not None]
            if len(parsed) != 1 or any(parsed[0].find_all(exp.Query, exp.Table, exp.Command)):
                raise QueryFailed(f"INVALID_PARAMETER: execution parameter {value!r} is not a literal")
            sql = sql[: mark.start] + f"({value})" + sql[mark.end + 1 :]
        try:
            statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
        except sqlglot.errors.ParseError as exc:
            raise QueryFailed(f"SYNTAX_ERROR: {exc}") from exc
        if len(statements) != 1:
            raise QueryFailed("SYNTAX_ERROR: exactly one statement per query")
        return statements[0]

    def _glue_table(self, backend: Any, database: str, name: str) -> dict[str, Any]:
        from moto.glue.exceptions import DatabaseNotFoundException, TableNotFoundException
        from moto.glue.models import glue_backends

        glue = glue_backends[backend.account_id][backend.region_name]
        try:
            return glue.get_table(database, name).as_dict()
        except DatabaseNotFoundException:
            raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{database}' does not exist") from None
        except TableNotFoundException:
            raise QueryFailed(
                f"TABLE_NOT_FOUND: Table 'awsdatacatalog.{database}.{name}' does not exist"
            ) from None

    def _view_source(self, backend: Any, table: dict[str, Any]) -> str:
        """SELECT over the table's current Parquet files, typed as the catalog says (partitions included)."""
        import duckdb

        parameters = table.get("Parameters") or {}
        descriptor = table.get("StorageDescriptor") or {}
        template = parameters.get("storage.location.template")
        if parameters.get("projection.enabled", "").lower() == "true" and template:
            location = template.split("${", 1)[0].rsplit("/", 1)[0] + "/"
        else:
            location = descriptor.get("Location") or ""
        columns = [*(descriptor.get("Columns") or []), *(table.get("PartitionKeys") or [])]
        files = self._sync(backend, location) if location.startswith("s3://") else []
        available: set[str] = set()
        source = "(SELECT 1) AS __empty WHERE false"
        if files:
            listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            source = (
                f"read_parquet([{listing}], hive_partitioning = true, hive_types_autocast = false, "
                "union_by_name = true)"
            )
            con = duckdb.connect()
            try:
                available = {c.lower() for c in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
            finally:
                con.close()
        selected = []
        for column in columns:
            name, duck = column["Name"], _duck_type(column.get("Type", "string"))
            if name.lower() not in available:
                selected.append(f"CAST(NULL AS {duck or 'VARCHAR'}) AS {_quote(name)}")
            elif duck:
                selected.append(f"CAST({_quote(name)} AS {duck}) AS {_quote(name)}")
            else:
                selected.append(_quote(name))
        return f"SELECT {', '.join(selected) or '1 AS no_columns'} FROM {source}"

    def _sync(self, backend: Any, location: str) -> list[Path]:
        """Copy the data files under the location into the local cache (once per ETag); return them.

        Each location gets its own folder holding only the paths below it, so that the only ``k=v`` folders
        DuckDB sees are the partitions (not ``run_id=…`` above them). Few locations are kept.
        """
        bucket, prefix = _split_s3(location)
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        folder = self.cache / hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:16]
        objects = _s3_list(backend.account_id, backend.region_name, bucket, prefix)
        files = []
        for key, obj in sorted(objects.items()):
            relative = key[len(prefix) :]
            # Athena skips objects whose name (or folder) starts with _ or . ; folders are zero-byte keys.
            if (
                not relative
                or key.endswith("/")
                or any(p.startswith(("_", ".")) for p in relative.split("/"))
            ):
                continue
            target = folder / relative
            if self._cached.get(target) != obj.etag or not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(obj.value)
                self._cached[target] = obj.etag
            files.append(target.resolve())
        wanted = set(files)
        for stale in [f for f in folder.rglob("*") if f.is_file() and f.resolve() not in wanted]:
            stale.unlink()  # the object is gone from S3
            self._cached.pop(stale, None)
        folder.mkdir(parents=True, exist_ok=True)
        folder.touch()
        others = sorted((f for f in self.cache.iterdir() if f != folder), key=lambda f: f.stat().st_mtime)
        for old in others[: max(0, len(others) - self.KEPT_LOCATIONS + 1)]:
            shutil.rmtree(old, ignore_errors=True)  # e.g. a run prefix the table no longer points at
            self._cached = {k: v for k, v in self._cached.items() if old not in k.parents}
        return files


_LOCAL_EXECUTION: type | None = None


def _local_execution_class() -> type:
    global _LOCAL_EXECUTION
    if _LOCAL_EXECUTION is None:
        from moto.athena.models import Execution

        class LocalQueryExecution(Execution):
            """An Athena execution whose state is the real outcome of the query."""

            @property
            def status(self) -> str | None:
                return self._status

            @status.setter
            def status(self, value: str) -> None:
                self._status = value

        _LOCAL_EXECUTION = LocalQueryExecution
    return _LOCAL_EXECUTION


def _count_if_as_filter(node: Any) -> Any:
    """count_if(c) → count(*) FILTER (WHERE c): Trino gives 0 over no rows, DuckDB's count_if NULL."""
    from sqlglot import exp

    if isinstance(node, exp.CountIf):
        return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=node.this.copy()))
    return node


def _is_query(sql: str) -> bool:
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError:
        return sql.lstrip().upper().startswith(("SELECT", "WITH", "VALUES", "("))
    return len(statements) == 1 and isinstance(statements[0], exp.Query | exp.Values)


def _format_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", " UTC")
    if isinstance(value, bytes):
        return value.hex(" ")
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


# -------------------------------------------------------------------------------------- 6. SNS


class SnsDelivery:
    """Records every published message (the console's inbox) and mails it to email subscribers."""

    def __init__(self, state_dir: Path, smtp: tuple[str, int] | None) -> None:
        self.inbox = state_dir / "notifications.jsonl"
        self.smtp = smtp
        self.worker = SerialWorker("local-sns-email")
        self._lock = threading.Lock()

    def published(self, topic: Any, message_id: str, message: str, subject: str | None,
                  attributes: dict[str, Any] | None, message_structure: str | None) -> None:  # fmt: skip
        subscriptions = [
            s
            for s in list(topic.sns_backend.subscriptions.values())
            if s.topic.arn == topic.arn and s.protocol in ("email", "email-json")
        ]
        record = {
            "time": _utcnow().isoformat(timespec="milliseconds"),
            "topic": topic.arn,
            "topic_name": topic.name,
            "subject": subject,
            "message": message,
            "message_id": message_id,
            "emails": [s.endpoint for s in subscriptions],
        }
        with self._lock:
            self.inbox.parent.mkdir(parents=True, exist_ok=True)
            with self.inbox.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        log.info("sns: %r published to %s (%d email subscriber(s))", subject, topic.name, len(subscriptions))
        if self.smtp:
            for subscription in subscriptions:
                self.worker.submit(self._mail, subscription, message_id, message, subject, attributes,
                                   message_structure)  # fmt: skip

    def _mail(self, subscription: Any, message_id: str, message: str, subject: str | None,
              attributes: dict[str, Any] | None, message_structure: str | None) -> None:  # fmt: skip
        matcher = subscription._filter_policy_matcher
        if matcher is not None and not matcher.matches(attributes, message):
            return
        if message_structure == "json":
            message = subscription._parse_message_structure(message, subscription.protocol)
        mail = EmailMessage()
        mail["From"] = "AWS Notifications <no-reply@sns.amazonaws.com>"
        mail["To"] = subscription.endpoint
        mail["Subject"] = subject or "AWS Notification Message"
        mail["Message-ID"] = f"<{message_id}@sns.local>"
        if subscription.protocol == "email-json":
            mail.set_content(json.dumps(subscription.get_post_data(message, message_id, subject), indent=2))
        else:
            mail.set_content(
                f"{message}\n\n--\nSent by the local AWS for topic {subscription.topic.arn} "
                f"(subscription {subscription.arn})."
            )
        host, port = self.smtp
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.send_message(mail)
        log.info("sns: mailed %s to %s", subject or message_id, subscription.endpoint)

    def stop(self) -> None:
        self.worker.stop()


# -------------------------------------------------------------------------------------- apply_all


@dataclasses.dataclass
class LocalPatches:
    state_dir: Path
    endpoint_url: str
    lambdas: LambdaRunner
    s3_events: SerialWorker
    glue: GlueRunner
    athena: AthenaEngine
    sns: SnsDelivery
    _patcher: _Patcher
    _restore: list[Callable[[], None]]

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once pending S3 event deliveries, Glue runs and emails are done."""
        return all(w.wait_idle(timeout) for w in (self.s3_events, self.glue.worker, self.sns.worker))

    def undo(self) -> None:
        """Stop the workers (Spark too, unless told to keep it) and restore moto as it was."""
        for stop in (self.s3_events.stop, self.glue.stop, self.sns.stop):
            with contextlib.suppress(Exception):
                stop()
        self._patcher.undo()
        while self._restore:
            self._restore.pop()()


def apply_all(
    state_dir: Path,
    smtp: tuple[str, int] | None,
    *,
    endpoint_url: str,
    stop_spark: bool = True,
) -> LocalPatches:
    """Apply the six patches to moto in this process. ``endpoint_url`` is the local server's URL."""
    from moto.athena.models import AthenaBackend
    from moto.athena.responses import AthenaResponse
    from moto.awslambda.models import LambdaFunction
    from moto.core.config import default_user_config
    from moto.glue.models import FakeJob
    from moto.s3 import notifications
    from moto.sns.models import Topic
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    patcher, restore = _Patcher(), []
    lambdas = LambdaRunner(state_dir, endpoint_url)
    s3_events = SerialWorker("local-s3-events")
    glue = GlueRunner(state_dir, endpoint_url, stop_spark=stop_spark)
    athena = AthenaEngine(state_dir)
    sns = SnsDelivery(state_dir, smtp)

    # 1. Without Docker moto runs no Lambda code; run the deployed zip in a subprocess (never docker_client,
    #    whose mere access breaks /moto-api/data.json).
    patcher.set(LambdaFunction, "_invoke_lambda", lambda fn, event=None: lambdas.invoke(fn, event))

    #    /moto-api/data.json reads every public attribute; docker_client raises DockerException (500): absent.
    def no_docker(fn: Any) -> Any:
        raise AttributeError("the local AWS runs Lambda code without Docker")

    patcher.set(LambdaFunction, "docker_client", property(no_docker))
    original_invoke = LambdaFunction.invoke

    #    An exception that escapes the handler is an "Unhandled" function error on AWS; moto says "Handled".
    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
        result = original_invoke(fn, body, request_headers, response_headers)
        if response_headers.get("x-amz-function-error") == "Handled":
            response_headers["x-amz-function-error"] = "Unhandled"
        return result

    patcher.set(LambdaFunction, "invoke", invoke)

    # 2. moto delivers S3 notifications inside the PUT and swallows errors; AWS delivers them asynchronously.
    original_send_event = notifications.send_event

    def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if bucket.notification_configuration is None:
            return
        snapshot = SimpleNamespace(name=key.name, etag=key.etag, size=key.size, version_id=key.version_id)
        s3_events.submit(original_send_event, account_id, event_name, bucket, snapshot)

    patcher.set(notifications, "send_event", send_event)

    # 3. moto interprets ASL only when configured to, and calls services back on localhost:$MOTO_PORT.
    sfn_config = default_user_config.setdefault("stepfunctions", {})
    previous_execute = sfn_config.get("execute_state_machine")
    sfn_config["execute_state_machine"] = True
    previous_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(endpoint_url.rsplit(":", 1)[-1]).strip("/")

    def restore_sfn() -> None:
        if previous_execute is None:
            sfn_config.pop("execute_state_machine", None)
        else:
            sfn_config["execute_state_machine"] = previous_execute
        if previous_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous_port

    restore.append(restore_sfn)
    original_start_execution = StepFunctionsParserBackend.start_execution

    #    moto names an unnamed execution "None" (ARN …:None); AWS generates a unique name.
    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    patcher.set(StepFunctionsParserBackend, "start_execution", start_execution)

    # 4. moto's job runs only tick through states; run the script on local Spark and report the outcome.
    original_start_job_run = FakeJob.start_job_run

    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = original_start_job_run(self, *args, **kwargs)
        glue.take_over(self, next(r for r in self.job_runs if r.job_run_id == run_id))
        return run_id

    patcher.set(FakeJob, "start_job_run", start_job_run)

    # 5. moto's Athena returns canned results; run SELECTs on DuckDB and store real results.
    original_start_query = AthenaBackend.start_query_execution

    def start_query_execution(self: Any, query: str, *args: Any, **kwargs: Any) -> str:
        execution_id = original_start_query(self, query, *args, **kwargs)
        if _is_query(query):
            athena.run(self, execution_id)  # synchronous: the first poll already sees the end state
        return execution_id

    patcher.set(AthenaBackend, "start_query_execution", start_query_execution)
    original_get_query_execution = AthenaResponse.get_query_execution
    original_get_query_results = AthenaResponse.get_query_results

    #    moto's GetQueryExecution has no StateChangeReason and no timings.
    def get_query_execution(self: Any) -> str:
        body = json.loads(original_get_query_execution(self))
        detail = athena.details.get(self._get_param("QueryExecutionId"))
        if detail is not None:
            execution = body["QueryExecution"]
            if detail["reason"]:
                execution["Status"]["StateChangeReason"] = detail["reason"]
            execution["Statistics"]["EngineExecutionTimeInMillis"] = detail["millis"]
            execution["Statistics"]["TotalExecutionTimeInMillis"] = detail["millis"]
        return json.dumps(body)

    #    moto's GetQueryResults ignores MaxResults and NextToken; page the real rows (header row first).
    def get_query_results(self: Any) -> str:
        execution_id = self._get_param("QueryExecutionId")
        result = athena.results.get(execution_id)
        if result is None:
            return original_get_query_results(self)
        self.athena_backend.get_query_results(execution_id)  # moto's checks: exists, SUCCEEDED
        limit = min(int(self._get_param("MaxResults") or 1000), 1000)
        start = int(self._get_param("NextToken") or 0)
        header = {"Data": [{"VarCharValue": c["Name"]} for c in result.columns]}
        first = max(0, start - 1)
        wanted = limit - (1 if start == 0 else 0)
        rows = [header] if start == 0 else []
        for record in result.table.slice(first, wanted).to_pylist():
            cells = [_format_value(v) for v in record.values()]
            rows.append({"Data": [{} if c is None else {"VarCharValue": c} for c in cells]})
        body: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": result.columns}},
        }
        end = first + wanted
        if end < result.table.num_rows:
            body["NextToken"] = str(end + 1)
        return json.dumps(body)

    patcher.set(AthenaResponse, "get_query_execution", get_query_execution)
    patcher.set(AthenaResponse, "get_query_results", get_query_results)

    # 6. moto sends no email; record every message for the console inbox and mail email subscribers.
    original_publish = Topic.publish

    def publish(self: Any, message: str, subject: str | None = None, *args: Any, **kwargs: Any) -> str:
        message_id = original_publish(self, message, subject, *args, **kwargs)
        sns.published(self, message_id, message, subject, kwargs.get("message_attributes"),
                      kwargs.get("message_structure"))  # fmt: skip
        return message_id

    patcher.set(Topic, "publish", publish)

    return LocalPatches(state_dir, endpoint_url, lambdas, s3_events, glue, athena, sns, patcher, restore)
