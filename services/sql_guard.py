"""The SQL box's security boundary: one read-only query over the published table and nothing else.

A query passes only when every table it reads, at any depth (CTEs resolved by scope, subqueries, joins,
set operations), is ``<database>.<table>`` from the settings, or a CTE of the query itself. No catalog
prefix, no other schema (``information_schema``, ``system``, federated ``"lambda:…"`` catalogs), no table
functions (``TABLE(…)``, ``read_parquet``, ``LATERAL`` over a function), no statement that writes. The SQL
that runs is the one regenerated from the checked tree, never the text as typed, so the check and the
engine see the same query.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

# Athena engine v3 is Trino; sqlglot's "athena" dialect reads queries as Trino and DDL as Hive.
DIALECT = "athena"

# Anything that writes, changes the catalog or runs a command, wherever it sits in the tree.
FORBIDDEN = (
    exp.DDL, exp.DML, exp.Command, exp.Into, exp.Drop, exp.Alter, exp.Create, exp.Insert, exp.Update,
    exp.Delete, exp.Merge, exp.TruncateTable, exp.Copy, exp.Describe, exp.Use, exp.Set, exp.Transaction,
    exp.Commit, exp.Rollback, exp.Grant, exp.Revoke, exp.Cache, exp.Uncache, exp.Refresh, exp.Analyze,
    exp.LoadData, exp.Pragma, exp.Kill, exp.Show, exp.Execute, exp.Declare,
)  # fmt: skip
# Row sources that are no table: UNNEST of an array and inline VALUES read nothing stored.
ALLOWED_ROW_SOURCES = (exp.Unnest, exp.Values)


class UnsafeQuery(ValueError):
    """SQL that the SQL box refuses to run, with a message for the user."""


def checked_select(sql: str, database: str, table: str, max_rows: int) -> str:
    """The SQL of exactly one read-only query over ``database.table`` with a LIMIT of at most ``max_rows``;
    raises ``UnsafeQuery`` with the reason otherwise."""
    tree = _one_statement(sql)
    if not isinstance(tree, exp.Select | exp.SetOperation | exp.Subquery):
        raise UnsafeQuery(f"Only SELECT queries are allowed, not {_kind(tree)} statements.")
    for node in tree.walk():
        if isinstance(node, FORBIDDEN):
            raise UnsafeQuery(f"Only read-only SELECT queries are allowed; found {_kind(node)} in the query.")
        if isinstance(node, exp.Placeholder):
            raise UnsafeQuery(
                "Parameters (?) are not supported in the SQL box: write the values in the query."
            )
        _refuse_table_function(node)
    for node in _stored_tables(tree):
        _allow_only_the_table(node, database, table)
    _enforce_limit(tree, max_rows)
    return tree.sql(dialect=DIALECT)


def _one_statement(sql: str) -> exp.Expression:
    if not sql or not sql.strip().strip(";").strip():
        raise UnsafeQuery("Enter one SELECT query.")
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except sqlglot.errors.ParseError as exc:
        errors = getattr(exc, "errors", None) or [{"description": str(exc)}]
        first = errors[0]
        where = f" (line {first['line']}, column {first['col']})" if first.get("line") else ""
        raise UnsafeQuery(f"The SQL does not parse: {first.get('description')}{where}.") from None
    except sqlglot.errors.SqlglotError as exc:  # tokenizer errors: unterminated strings and the like
        raise UnsafeQuery(f"The SQL does not parse: {exc}.") from None
    if len(statements) != 1:
        raise UnsafeQuery(
            f"Only one statement is allowed, found {len(statements)}: remove the ';' and what follows it."
        )
    return statements[0]


def _kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT … INTO"
    return node.key.upper()


def _refuse_table_function(node: exp.Expression) -> None:
    """Table functions read what the guard cannot see (files, other catalogs, the engine's own state)."""
    function = _table_function(node)
    if function is not None:
        name = function.sql(dialect=DIALECT).split("(", 1)[0] or function.key
        raise UnsafeQuery(f"Table functions are not allowed ({name}); query the published table.")


def _table_function(node: exp.Expression) -> exp.Expression | None:
    """The function a node reads rows from: ``FROM f(…)``, ``LATERAL f(…)``, ``read_parquet(…)`` anywhere."""
    from_function = isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier)
    lateral_function = isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Query | exp.Subquery)
    if from_function or lateral_function:
        return node.this
    other_udtf = isinstance(node, exp.UDTF) and not isinstance(node, (*ALLOWED_ROW_SOURCES, exp.Lateral))
    return node if other_udtf or isinstance(node, exp.ReadCSV | exp.ReadParquet) else None


def _stored_tables(tree: exp.Expression) -> list[exp.Table]:
    """Every table reference that is not one of the query's own CTEs, resolved by scope.

    Fails closed: a table node that no scope accounts for is returned too, so it is checked as a table.
    """
    try:
        scopes = traverse_scope(tree)
    except Exception as exc:  # sqlglot cannot resolve the scopes: refuse rather than guess
        raise UnsafeQuery(f"The query's table references cannot be checked: {exc}") from None
    ctes: set[int] = set()
    for scope in scopes:
        for node in scope.tables:
            if not node.args.get("db") and not node.args.get("catalog") and node.name in scope.cte_sources:
                ctes.add(id(node))
    return [node for node in tree.find_all(exp.Table) if id(node) not in ctes]


def _allow_only_the_table(node: exp.Table, database: str, table: str) -> None:
    """``table`` or ``database.table`` (case-insensitive, as Athena is); written back fully qualified."""
    shown = node.sql(dialect=DIALECT)
    if node.args.get("catalog"):
        raise UnsafeQuery(f"Catalogs are not allowed ({shown}); query {database}.{table}.")
    db = node.text("db")
    if node.name.lower() != table.lower() or (db and db.lower() != database.lower()):
        raise UnsafeQuery(f"Only the published table {database}.{table} can be queried, not {shown}.")
    node.set("db", exp.to_identifier(database, quoted=True))
    node.set("this", exp.to_identifier(table, quoted=True))


def _enforce_limit(tree: exp.Expression, max_rows: int) -> None:
    """Add ``LIMIT max_rows`` when absent; lower a larger (or non-constant) LIMIT / FETCH FIRST."""
    current = tree.args.get("limit")
    if isinstance(current, exp.Fetch):
        count = current.args.get("count")
        tree.set("limit", None)
        current = exp.Limit(expression=count) if count is not None else None
    count = current.expression if isinstance(current, exp.Limit) else None
    rows = int(count.this) if isinstance(count, exp.Literal) and count.is_int else None
    if rows is None or rows > max_rows:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))
    else:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(rows)))
