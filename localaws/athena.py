"""Athena: SELECTs run on DuckDB over the Parquet that the Glue catalog points at (Trino → DuckDB by sqlglot).

Results are written where awswrangler reads them (``ctas_approach=False``, ``unload_approach=False``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from localaws import codec
from localaws.context import Context
from localaws.plumbing import each_backend, log, s3_backend, s3_list, split_s3

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
    WORKERS = 2  # queries at once; each on one DuckDB thread, so a runaway query leaves room for others
    ANSWER_WITHIN_SECONDS = 1.0

    def __init__(self, state_dir: Path, timeout_seconds: float = 120.0, memory_limit_mb: int = 1024) -> None:
        self.timeout_seconds = timeout_seconds
        self.memory_limit_mb = memory_limit_mb
        self.pool = ThreadPoolExecutor(max_workers=self.WORKERS, thread_name_prefix="local-athena")
        self.on_change: Callable[[], None] = lambda: None  # a query ended outside any request
        self.cache = state_dir / "athena" / "data"
        self.scratch = state_dir / "athena" / "results"
        self.results: collections.OrderedDict[str, QueryResult] = collections.OrderedDict()
        self.details: dict[str, dict[str, Any]] = {}  # reason and timing per query, evicted with its history
        self._cache_lock = threading.Lock()
        self._cached: dict[Path, str] = {}  # local file → ETag it was copied from

    # --- moto hook
    def submit(self, backend: Any, execution_id: str) -> None:
        """Queue the query on the engine's own threads (never moto's request thread)."""
        from moto.athena.models import Execution

        execution = backend.executions[execution_id]
        if type(execution) is Execution:
            execution.__class__ = _local_execution_class()
        execution.status = "QUEUED"
        running = self.pool.submit(self.run, backend, execution_id)
        # Most queries take milliseconds: answer once they have ended, so that the first poll sees the end
        # (awswrangler sleeps a second between polls); a long query is answered RUNNING.
        with contextlib.suppress(TimeoutError):
            running.result(timeout=self.ANSWER_WITHIN_SECONDS)

    def run(self, backend: Any, execution_id: str) -> None:
        execution = backend.executions[execution_id]
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

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _end(self, execution: Any, state: str, started: float, reason: str | None) -> None:
        millis = int((time.monotonic() - started) * 1000)
        self.details[execution.id] = {"reason": reason, "millis": millis}
        execution.end_time = time.time()
        execution.status = state
        self.on_change()

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
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": 1,
                "memory_limit": f"{self.memory_limit_mb}MB",
            }  # fmt: skip
        )
        deadline = threading.Timer(self.timeout_seconds, con.interrupt)  # a runaway query ends
        deadline.start()
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
        except duckdb.InterruptException:
            raise QueryFailed(
                "EXCEEDED_TIME_LIMIT: Query exceeded the local Athena time limit of "
                f"{self.timeout_seconds:g} s"
            ) from None
        except duckdb.OutOfMemoryException:
            raise QueryFailed(
                "EXCEEDED_MEMORY_LIMIT: Query exceeded the local Athena memory limit of "
                f"{self.memory_limit_mb} MB"
            ) from None
        finally:
            deadline.cancel()
            con.close()
        try:
            data = csv_path.read_bytes()
        finally:
            csv_path.unlink(missing_ok=True)
        bucket, key = split_s3(output)
        s3 = s3_backend(backend.account_id, backend.region_name)
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
                # source: our cache's file paths, quotes doubled; nothing from the query.
                available = {c.lower() for c in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}  # noqa: S608
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
        # Column names quoted by _quote, types from fixed maps, the source as above: no query text here.
        return f"SELECT {', '.join(selected) or '1 AS no_columns'} FROM {source}"  # noqa: S608

    def _sync(self, backend: Any, location: str) -> list[Path]:
        """Copy the data files under the location into the local cache (once per ETag); return them.

        Each location gets its own folder holding only the paths below it, so that the only ``k=v`` folders
        DuckDB sees are the partitions (not ``run_id=…`` above them). Few locations are kept.
        """
        bucket, prefix = split_s3(location)
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        folder = self.cache / hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:16]
        objects = s3_list(backend.account_id, backend.region_name, bucket, prefix)
        files = []
        for key, obj in sorted(objects.items()):
            relative = key[len(prefix) :]
            # Athena skips objects whose name (or folder) starts with _ or . ; folders are zero-byte keys.
            # An empty segment would make the path absolute (`run_id=x//tmp/f`): such keys are not data.
            segments = relative.split("/")
            if not relative or key.endswith("/") or any(not p or p.startswith(("_", ".")) for p in segments):
                continue
            target = folder / relative
            if not target.resolve().is_relative_to(folder.resolve()):
                raise QueryFailed(f"the object {key} does not map into the local Athena cache")
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


def install(ctx: Context) -> AthenaEngine:
    from moto.athena.models import AthenaBackend
    from moto.athena.responses import AthenaResponse

    from stack.settings import Settings

    limits = Settings.from_env()
    engine = AthenaEngine(ctx.state_dir, limits.local_query_timeout_seconds, limits.local_query_memory_mb)
    ctx.patcher.on_undo(engine.stop)
    original_start_query = AthenaBackend.start_query_execution

    # moto's Athena returns canned results; run SELECTs on DuckDB and store real results.
    def start_query_execution(self: Any, query: str, *args: Any, **kwargs: Any) -> str:
        execution_id = original_start_query(self, query, *args, **kwargs)
        if _is_query(query):
            engine.submit(self, execution_id)
        return execution_id

    ctx.patcher.set(AthenaBackend, "start_query_execution", start_query_execution)
    original_get_query_execution = AthenaResponse.get_query_execution
    original_get_query_results = AthenaResponse.get_query_results

    # moto's GetQueryExecution has no StateChangeReason and no timings.
    def get_query_execution(self: Any) -> str:
        body = json.loads(original_get_query_execution(self))
        detail = engine.details.get(self._get_param("QueryExecutionId"))
        if detail is not None:
            execution = body["QueryExecution"]
            if detail["reason"]:
                execution["Status"]["StateChangeReason"] = detail["reason"]
            execution["Statistics"]["EngineExecutionTimeInMillis"] = detail["millis"]
            execution["Statistics"]["TotalExecutionTimeInMillis"] = detail["millis"]
        return json.dumps(body)

    # moto's GetQueryResults ignores MaxResults and NextToken; page the real rows (header row first).
    def get_query_results(self: Any) -> str:
        execution_id = self._get_param("QueryExecutionId")
        result = engine.results.get(execution_id)
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

    ctx.patcher.set(AthenaResponse, "get_query_execution", get_query_execution)
    ctx.patcher.set(AthenaResponse, "get_query_results", get_query_results)
    return engine


# ------------------------------------------------------------------------------------------ durable state


RESTART_REASON = "local AWS restarted during the query"


class AthenaState:
    """Work groups, named queries and the query history (the newest ``KEPT_EXECUTIONS``; older ones are
    evicted from memory and from the store, as Athena itself forgets queries after 45 days)."""

    service = "athena"
    KEPT_EXECUTIONS = 1000

    def __init__(self, engine: AthenaEngine) -> None:
        self.engine = engine

    def records(self) -> dict[tuple[str, str], str]:
        from moto.athena.models import athena_backends

        records: dict[tuple[str, str], str] = {}
        for account, region, backend in each_backend(athena_backends):
            where = {"account": account, "region": region}
            self._evict(backend)
            for group in list(backend.work_groups.values()):
                state = codec.attributes(group, ("athena_backend",))
                records[("workgroup", f"{account}/{region}/{group.name}")] = codec.dumps(
                    {**where, "state": state}
                )
            for execution in list(backend.executions.values()):
                records[("execution", execution.id)] = codec.dumps({
                    **where, "local": type(execution) is not _moto_execution_class(),
                    "workgroup": execution.workgroup.name if execution.workgroup else None,
                    "state": codec.attributes(execution, ("workgroup",)),
                    "detail": self.engine.details.get(execution.id),
                })  # fmt: skip
            for query in list(backend.named_queries.values()):
                records[("named_query", query.id)] = codec.dumps({
                    **where, "workgroup": query.workgroup.name if query.workgroup else None,
                    "state": codec.attributes(query, ("workgroup",)),
                })  # fmt: skip
        return records

    def _evict(self, backend: Any) -> None:
        surplus = len(backend.executions) - self.KEPT_EXECUTIONS
        if surplus <= 0:
            return
        oldest = sorted(backend.executions.values(), key=lambda e: e.start_time)[:surplus]
        for execution in oldest:
            backend.executions.pop(execution.id, None)
            self.engine.details.pop(execution.id, None)
            self.engine.results.pop(execution.id, None)

    def end_interrupted(self) -> list[Any]:
        """Queries that were queued or running when the process died end FAILED, with the reason."""
        from moto.athena.models import athena_backends

        ended = []
        for _, _, backend in each_backend(athena_backends):
            for execution in list(backend.executions.values()):
                if type(execution) is _local_execution_class() and execution.status in ("QUEUED", "RUNNING"):
                    self.engine.details[execution.id] = {"reason": RESTART_REASON, "millis": 0}
                    execution.end_time = time.time()
                    execution.status = "FAILED"
                    ended.append(execution)
        return ended

    def restore(self, records: dict[tuple[str, str], str]) -> None:
        from moto.athena.models import NamedQuery, WorkGroup, athena_backends

        items = [(kind, json.loads(body)) for (kind, _), body in records.items()]
        restored_groups: set[int] = set()
        for kind, data in sorted(items, key=lambda item: item[0] != "workgroup"):  # work groups first
            backend = athena_backends[data["account"]][data["region"]]
            if kind == "workgroup":
                if id(backend) not in restored_groups:  # the stored ones replace the "primary" of __init__
                    backend.work_groups = {}
                    restored_groups.add(id(backend))
                group = codec.new(WorkGroup, data["state"], athena_backend=backend)
                backend.work_groups[group.name] = group
                continue
            group = backend.work_groups.get(data["workgroup"]) if data["workgroup"] else None
            if kind == "execution":
                cls = _local_execution_class() if data["local"] else _moto_execution_class()
                execution = codec.new(cls, data["state"], workgroup=group)
                backend.executions[execution.id] = execution
                if data["detail"] is not None:
                    self.engine.details[execution.id] = data["detail"]
            elif kind == "named_query":
                query = codec.new(NamedQuery, data["state"], workgroup=group)
                backend.named_queries[query.id] = query


def _moto_execution_class() -> type:
    from moto.athena.models import Execution

    return Execution
