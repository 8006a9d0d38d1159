"""Glue: ``StartJobRun`` runs the job script for real, on one warm local Spark session.

moto's job runs only tick through states. The runner stages the S3 inputs to local files (local Spark has no
s3a), runs the script's own ``build_run``, uploads the run prefix and calls the script's ``publish()``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import math
import shutil
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.credentials import Credentials
from localaws.plumbing import Patcher, SerialWorker, each_backend, log, s3_backend, s3_read, split_s3, utcnow


def _job_run_class() -> type:
    from moto.glue.models import FakeJobRun

    class LocalJobRun(FakeJobRun):
        """A job run whose state is set by the local runner from the real outcome, never by moto's clock."""

        error_message: str | None = None
        execution_seconds: int = 0
        ended: bool = False
        stop_requested: bool = False  # BatchStopJobRun: the run ends STOPPED and does not publish

        @property
        def status(self) -> str | None:
            return self._status

        @status.setter
        def status(self, value: str) -> None:
            self._status = value
            self.modified_on = utcnow()

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


class RunStopped(Exception):
    """The run was asked to stop (BatchStopJobRun) and ends STOPPED at the next step."""


class GlueRunner:
    """Runs Glue job scripts for real: one worker thread, one warm Spark session, runs in start order."""

    def __init__(
        self, state_dir: Path, endpoint_url: str, credentials: Credentials, stop_spark: bool = True
    ) -> None:
        self.root = state_dir / "glue"
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self.stop_spark = stop_spark
        self.worker = SerialWorker("local-glue")
        self._modules: dict[str, ModuleType] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._spark: Any = None
        self.phases: dict[str, float] = {}  # of the run in progress, for the log
        self._phase_mark = 0.0
        self._region = "us-east-1"  # of the run in progress (one at a time)
        self._import_lock = threading.Lock()
        self._run_lock = threading.Lock()  # a stop and the start or end of a run do not interleave
        self._current: Any = None  # the run executing now
        self.warm_wanted = False  # warm Spark up as soon as a job is deployed
        self._warming = False
        self.run_class = _job_run_class()
        self.on_change: Callable[[], None] = lambda: None  # a run's state changed outside any request
        self.persist: Callable[[str], None] = lambda service: None  # persist a service's state now

    # --- moto hook
    def take_over(self, job: Any, run: Any) -> None:
        run.__class__ = self.run_class
        run.glue_version = job.glue_version
        run.status = "STARTING"
        self.worker.submit(self._execute, job, run)

    def warm_up(self) -> None:
        """Start Spark now (in the worker) with the deployed job's own script, so that the first run does
        not pay the JVM start. With no job deployed yet, the deploy's CreateJob starts the warm-up."""
        self.warm_wanted = True
        jobs = (job for _, _, backend in each_backend(_glue_backends()) for job in backend.jobs.values())
        job = next(jobs, None)
        if job is None or self._warming:
            return
        self._warming = True

        def warm() -> None:
            started = time.monotonic()
            # A tiny run through the job's own code paths: the first real run then costs what later ones do.
            folder = self.root / "warm-up"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            orders, returns = folder / "orders.csv", folder / "returns.csv"
            lines = [f"O{i},{i % 28 + 1}/1/2016,{i}.5,Item {i}" for i in range(40)]
            orders.write_text("Order ID,Order Date,Sales,Product Name\n" + "\n".join(lines) + "\n")
            returns.write_text("Order ID,Returned\nO1,Yes\nO2,Yes\n")
            try:
                module = self._job_module(job, {})
                spark = self.spark(module)
                if self.worker.stopping:
                    return
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

    def stop_run(self, run: Any) -> str | None:
        """BatchStopJobRun for one run: it ends STOPPED without publishing. Its Spark jobs are cancelled
        now, a queued run never starts, and a run between Spark jobs stops at its next step. Returns the
        reason when the run cannot be stopped (it has ended)."""
        with self._run_lock:
            if not isinstance(run, self.run_class) or run.ended:
                return f"job run {run.job_run_id} is {run.status}: it cannot be stopped"
            if not run.stop_requested:
                run.stop_requested = True
                run.status = "STOPPING"
                if self._current is run:
                    threading.Thread(target=self._cancel_until_ended, args=(run,), daemon=True).start()
        self.on_change()
        return None

    def _cancel_until_ended(self, run: Any) -> None:
        """Cancel the run's Spark jobs until it ends: Spark cancels only the jobs active at the call, and
        the run may be about to submit its next one."""
        while not run.ended and self._spark is not None:
            with contextlib.suppress(Exception):
                self._spark.sparkContext.cancelJobGroup(run.job_run_id)
            time.sleep(0.5)

    def _check_stop(self, run: Any) -> None:
        if run.stop_requested:
            raise RunStopped(f"job run {run.job_run_id} was stopped")

    # --- one run
    def _execute(self, job: Any, run: Any) -> None:
        started = self._phase_mark = time.monotonic()
        self.phases = {}
        with self._run_lock:
            if not run.stop_requested:
                self._current = run
                run.status = "RUNNING"
        self.on_change()
        try:
            self._check_stop(run)  # stopped while queued: never starts
            report = self._run_script(job, run)
        except BaseException as exc:  # SystemExit from argparse included: the run fails, the worker lives
            if run.stop_requested:  # a cancelled Spark job or the script's own check: not a failure
                outcome = "STOPPED"
            else:
                run.error_message = f"{type(exc).__name__}: {exc}"
                outcome = "FAILED"
                if type(exc).__name__ not in ("JobError", "ProfileError"):  # not a data problem: keep trace
                    log.warning("glue run %s raised", run.job_run_id, exc_info=True)
        else:
            outcome = "SUCCEEDED"  # a stop that came after the publish is too late: it succeeded
            if report is not None and report.warnings:
                log.info("glue run %s warnings: %s", run.job_run_id, report.warnings)
        finally:
            with self._run_lock:
                self._current = None
        run.execution_seconds = max(1, math.ceil(time.monotonic() - started))
        run.completed_on = utcnow()
        run.ended = True
        run.status = outcome  # last: pollers see the end only once the report and the table are in place
        self.on_change()
        phases = "".join(f", {k} {v:.1f} s" for k, v in self.phases.items())
        log.info("glue run %s of %s %s in %.1f s%s%s", run.job_run_id, job.name, outcome,
                 time.monotonic() - started, phases,
                 f": {run.error_message}" if run.error_message else "")  # fmt: skip

    def _run_script(self, job: Any, run: Any) -> Any:
        account, region = job.backend.account_id, job.backend.region_name
        self._region = region
        arguments = dict(run.arguments or {})
        module = self._job_module(job, arguments)
        argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
        for key, value in arguments.items():
            argv += [key, str(value)]
        args = module.parse_args(argv)
        # This thread's Spark jobs form the run's group, so that BatchStopJobRun can cancel them.
        self.spark(module).sparkContext.setJobGroup(run.job_run_id, f"glue run {run.job_run_id}", True)
        self._check_stop(run)
        if not module.is_s3(args.output_path):
            return module.run_job(self.spark(module), args)

        stage = self.root / "runs" / run.job_run_id
        phase = self._phase
        pinned = args
        try:
            phase("load")
            report = module.new_report(args)  # names the S3 files and the S3 run prefix
            pinned = module.pin_inputs(args, report)  # the checked versions, as the job reads them on Glue
            local = dataclasses.replace(
                args,
                orders_path=self._stage_input(account, region, pinned.orders_path, stage / "orders"),
                returns_path=self._stage_input(account, region, pinned.returns_path, stage / "returns"),
            )
            write_path = stage / "output" / f"run_id={args.run_id}"
            uploaded = False
            phase("stage")
            try:
                schema = module.build_run(self.spark(module), local, report, write_path=f"{write_path}/")
                phase("spark")
                self._check_stop(run)
                self._upload(account, region, write_path, report.run_path)
                uploaded = True
                phase("upload")
                if args.database and args.table:
                    self._check_stop(run)  # the script asks again (GetJobRun) right before its UpdateTable
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
                        self._upload(account, region, write_path, report.run_path)
                    module.write_text(report.run_path + "_quality/report.json", report.to_json())
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            module.unpin_inputs(pinned, args)

    def _job_module(self, job: Any, arguments: dict[str, str]) -> ModuleType:
        """The job's script from its ScriptLocation, with the --extra-py-files of the run (or the job)."""
        account, region = job.backend.account_id, job.backend.region_name
        extra = arguments.get("--extra-py-files") or (job.default_arguments or {}).get("--extra-py-files", "")
        extras = [u.strip() for u in extra.split(",") if u.strip()]
        return self._load(
            s3_read(account, region, (job.command or {}).get("ScriptLocation", "")),
            [(u.rsplit("/", 1)[-1], s3_read(account, region, u)) for u in extras],
        )

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
        target.write_bytes(s3_read(account, region, path))
        return str(target)

    def _upload(self, account: str, region: str, local_dir: Path, run_path: str) -> None:
        """Copy the staged run prefix into S3 in-process, then persist S3 once: on Glue the job's own writes
        reach S3 directly, and a PUT per file (each persisted before its answer) cost up to a second."""
        bucket, prefix = split_s3(run_path)
        files = [
            p
            for p in sorted(local_dir.rglob("*"))
            if p.is_file() and not p.name.startswith(".")  # Hadoop's .crc checksum files stay local
        ]
        s3 = s3_backend(account, region)
        for path in files:
            s3.put_object(bucket, prefix + path.relative_to(local_dir).as_posix(), path.read_bytes())
        self.persist("s3")  # before the publish can point the table at these files

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            import boto3

            self._clients[key] = boto3.session.Session(
                aws_access_key_id=self.credentials.access_key_id,
                aws_secret_access_key=self.credentials.secret_access_key,
            ).client(service, region_name=region, endpoint_url=self.endpoint_url)
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


def _glue_backends() -> Any:
    from moto.glue.models import glue_backends

    return glue_backends


def install_catalog(patcher: Patcher) -> None:
    """Catalog writes as AWS does them: UpdateTable honours VersionId (optimistic concurrency)."""
    from moto.glue.exceptions import GlueClientError
    from moto.glue.responses import GlueResponse

    lock = threading.Lock()  # one catalog write at a time: the version check and the write are one step
    original_update_table = GlueResponse.update_table

    # moto ignores UpdateTable's VersionId; AWS refuses a stale one with ConcurrentModificationException.
    def update_table(self: Any) -> Any:
        expected = self.parameters.get("VersionId")
        with lock:
            if expected is not None:
                table_input = self.parameters.get("TableInput") or {}
                name = table_input.get("Name") or self.parameters.get("Name")
                table = self.glue_backend.get_table(self.parameters.get("DatabaseName"), name)
                current = str(table._current_version)
                if str(expected) != current:
                    raise GlueClientError(
                        "ConcurrentModificationException",
                        f"Update table failed due to concurrent modifications: version {expected} is not "
                        f"the current version {current}.",
                    )
            return original_update_table(self)

    original_create_table = GlueResponse.create_table

    # moto checks for an existing table and adds one in two steps; two racing creates must not both win.
    def create_table(self: Any) -> Any:
        with lock:
            return original_create_table(self)

    patcher.set(GlueResponse, "update_table", update_table)
    patcher.set(GlueResponse, "create_table", create_table)


def install(ctx: Context, *, stop_spark: bool = True) -> GlueRunner:
    from moto.glue.models import FakeJob

    install_catalog(ctx.patcher)
    runner = GlueRunner(ctx.state_dir, ctx.endpoint_url, ctx.credentials, stop_spark=stop_spark)
    original_start_job_run = FakeJob.start_job_run

    # moto's job runs only tick through states; run the script on local Spark and report the outcome.
    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = original_start_job_run(self, *args, **kwargs)
        runner.take_over(self, next(r for r in self.job_runs if r.job_run_id == run_id))
        return run_id

    ctx.patcher.set(FakeJob, "start_job_run", start_job_run)

    from moto.glue.models import GlueBackend

    original_create_job = GlueBackend.create_job

    # The local AWS deploys nothing itself: the deploy's CreateJob is when the job's script exists to warm up.
    def create_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_create_job(self, *args, **kwargs)
        if runner.warm_wanted:
            runner.warm_up()
        return result

    ctx.patcher.set(GlueBackend, "create_job", create_job)

    from moto.core.responses import ActionResult
    from moto.glue.responses import GlueResponse

    # moto has no BatchStopJobRun; the local runner stops the run (Spark jobs cancelled, ends STOPPED).
    def batch_stop_job_run(self: Any) -> Any:
        job = self.glue_backend.get_job(self._get_param("JobName"))
        stopped, errors = [], []
        for run_id in self._get_param("JobRunIds") or []:
            run = next((r for r in job.job_runs if r.job_run_id == run_id), None)
            problem = f"job run {run_id} not found" if run is None else runner.stop_run(run)
            if problem is None:
                stopped.append({"JobName": job.name, "JobRunId": run_id})
            else:
                detail = {"ErrorCode": "InvalidInputException", "ErrorMessage": problem}
                errors.append({"JobName": job.name, "JobRunId": run_id, "ErrorDetail": detail})
        return ActionResult({"SuccessfulSubmissions": stopped, "Errors": errors})

    ctx.patcher.set(GlueResponse, "batch_stop_job_run", batch_stop_job_run)
    ctx.patcher.on_undo(runner.stop)
    return runner


# ------------------------------------------------------------------------------------------ durable state

RESTART_ERROR = "LocalAwsRestarted: local AWS restarted during the run"


class GlueState:
    """The catalog (databases, tables with their versions and partitions) and the jobs with their runs."""

    service = "glue"

    def __init__(self, run_class: type) -> None:
        self.run_class = run_class

    def records(self) -> dict[tuple[str, str], str]:
        from moto.glue.models import glue_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(glue_backends):
            where = {"account": account, "region": region}
            if backend.tagger.tags:
                records[("tags", f"{account}/{region}")] = codec.dumps(codec.encode(backend.tagger.tags))
            for database in list(backend.databases.values()):
                records[("database", f"{account}/{region}/{database.name}")] = codec.dumps({
                    **where, "state": codec.attributes(database, ("tables",)),
                    "tables": [codec.attributes(t) for t in list(database.tables.values())],
                })  # fmt: skip
            for job in list(backend.jobs.values()):
                records[("job", f"{account}/{region}/{job.name}")] = codec.dumps({
                    **where, "state": codec.attributes(job, ("backend", "job_runs")),
                    "runs": [codec.attributes(r) for r in list(job.job_runs)],
                })  # fmt: skip
        return records

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.glue.models import FakeDatabase, FakeJob, FakeTable, glue_backends

        for (kind, key), body in records.items():
            data = json.loads(body)
            if kind == "tags":
                account, region = key.split("/")
                glue_backends[account][region].tagger.tags = codec.decode(data)
                continue
            backend = glue_backends[data["account"]][data["region"]]
            if kind == "database":
                database = codec.new(FakeDatabase, data["state"], tables=collections.OrderedDict())
                for table_state in data["tables"]:
                    table = codec.new(FakeTable, table_state)
                    database.tables[table.name] = table
                backend.databases[database.name] = database
            elif kind == "job":
                job = codec.new(FakeJob, data["state"], backend=backend)
                job.job_runs = [codec.new(self.run_class, r) for r in data["runs"]]
                backend.jobs[job.name] = job

    def end_interrupted(self) -> list[Any]:
        """Runs that were going when the process died end FAILED; their Spark work died with it."""
        ended = []
        from moto.glue.models import glue_backends

        for _, _, backend in each_backend(glue_backends):
            for job in list(backend.jobs.values()):
                for run in job.job_runs:
                    if isinstance(run, self.run_class) and not run.ended:
                        run.error_message = RESTART_ERROR
                        run.completed_on = utcnow()
                        run.ended = True
                        run.status = "FAILED"
                        ended.append(run)
        return ended
