"""The SQL box's security boundary (services/sql_guard.py): a corpus of real Athena queries that must pass,
and every reach-out tried against the running stack, placed at every depth a query can hide it."""

from __future__ import annotations

import itertools

import pytest
import sqlglot
from sqlglot import exp

from services.sql_guard import UnsafeQuery, checked_select

DATABASE, TABLE = "ecommerce_analytics", "joined_data"


def check(sql: str, max_rows: int = 10_000) -> str:
    return checked_select(sql, DATABASE, TABLE, max_rows)


def tables_read(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="athena")
    return {".".join(p.sql(dialect="athena") for p in t.parts) for t in tree.find_all(exp.Table)}


# Athena (Trino) SQL that analysts write against the published table.
LEGITIMATE = [
    "SELECT * FROM joined_data",
    "SELECT * FROM ecommerce_analytics.joined_data",
    'SELECT * FROM "ecommerce_analytics"."joined_data"',
    "SELECT * FROM Ecommerce_Analytics.Joined_Data",
    "select region, count(*) from joined_data group by 1 order by 2 desc",
    "SELECT region, count_if(is_returned) AS returned FROM joined_data GROUP BY region",
    "SELECT category, count(*) FILTER (WHERE is_returned) AS returned FROM joined_data GROUP BY category",
    "SELECT date_format(order_date, '%Y-%m') AS month, sum(sales) FROM joined_data GROUP BY 1",
    "SELECT order_id, sales, rank() OVER (PARTITION BY region ORDER BY sales DESC) AS r FROM joined_data",
    "SELECT order_id, sum(sales) OVER (ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) "
    "FROM joined_data",
    "SELECT region, lag(s) OVER (ORDER BY region) FROM (SELECT region, sum(sales) s FROM joined_data "
    "GROUP BY region)",
    "WITH r AS (SELECT * FROM joined_data WHERE is_returned) SELECT count(*) FROM r",
    "WITH a AS (SELECT region, sum(sales) s FROM joined_data GROUP BY region), b AS (SELECT * FROM a "
    "WHERE s > 100) SELECT * FROM b JOIN a ON a.region = b.region",
    "WITH joined_data AS (SELECT * FROM ecommerce_analytics.joined_data) SELECT * FROM joined_data",
    "SELECT region FROM joined_data UNION SELECT category FROM joined_data",
    "SELECT region FROM joined_data EXCEPT SELECT region FROM joined_data WHERE is_returned",
    "SELECT * FROM joined_data WHERE order_id IN (SELECT order_id FROM joined_data WHERE is_returned)",
    "SELECT * FROM joined_data j WHERE EXISTS (SELECT 1 FROM joined_data k WHERE k.order_id = j.order_id)",
    "SELECT (SELECT max(sales) FROM joined_data) AS top, count(*) FROM joined_data",
    "SELECT array_agg(DISTINCT category) AS categories FROM joined_data",
    "SELECT cardinality(array_agg(order_id)) FROM joined_data",
    "SELECT region, x FROM joined_data CROSS JOIN UNNEST(ARRAY[1, 2, 3]) AS t(x) LIMIT 5",
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(n, s)",
    "SELECT approx_percentile(sales, 0.5) FROM joined_data",
    "SELECT CASE WHEN sales > 100 THEN 'big' ELSE 'small' END AS size, count(*) FROM joined_data GROUP BY 1",
    "SELECT year(order_date), month(order_date), sum(profit) FROM joined_data GROUP BY 1, 2",
    "SELECT order_date, date_trunc('month', order_date), date_add('day', 7, order_date) FROM joined_data",
    "SELECT try_cast(order_id AS bigint), coalesce(region, 'n/a') FROM joined_data",
    "SELECT regexp_like(product_name, '^Staples') AS staples, count(*) FROM joined_data GROUP BY 1",
    "SELECT 1 INTERSECT SELECT 1",
    "SELECT * FROM joined_data;",
    "(SELECT order_id FROM joined_data) LIMIT 3",
    "SELECT * FROM joined_data ORDER BY sales DESC FETCH FIRST 10 ROWS ONLY",
]


@pytest.mark.parametrize("sql", LEGITIMATE)
def test_real_athena_queries_pass(sql):
    checked = check(sql)

    assert isinstance(sqlglot.parse_one(checked, read="athena"), exp.Query)
    # Every stored table the checked SQL reads is the published one, fully qualified.
    stored = {t for t in tables_read(checked) if "." in t}
    assert stored <= {'"ecommerce_analytics"."joined_data"'}


def test_the_corpus_is_big_enough():
    assert len(LEGITIMATE) >= 20


# Every reach-out the security review tried.
REACH_OUTS = [
    ("hr.salaries", "Only the published table"),
    ("salaries", "Only the published table"),
    ("information_schema.tables", "Only the published table"),
    ("information_schema.columns", "Only the published table"),
    ("system.runtime.queries", "Catalogs are not allowed"),
    ('"lambda:connector".db.t', "Catalogs are not allowed"),
    ("awsdatacatalog.ecommerce_analytics.joined_data", "Catalogs are not allowed"),
    ("awsdatacatalog.hr.salaries", "Catalogs are not allowed"),
    ("other_db.joined_data", "Only the published table"),
    ("ecommerce_analytics.other_table", "Only the published table"),
    ('"ecommerce_analytics"."joined_data$partitions"', "Only the published table"),
    ("read_parquet('/work/.local-aws/athena-cache/x.parquet')", "Table functions are not allowed"),
    ("read_csv('s3://ecommerce-processed/athena-results/other.csv')", "Table functions are not allowed"),
    ("TABLE(sequence(1, 3))", "Table functions are not allowed"),
    ("glob('/etc/*')", "Table functions are not allowed"),
    ("read_text('/etc/passwd')", "Table functions are not allowed"),
    ("generate_series(1, 10)", "Table functions are not allowed"),
]
# Where a reference can hide: {ref} is the forbidden table.
PLACES = [
    "SELECT * FROM {ref}",
    "SELECT * FROM {ref} AS x",
    "WITH a AS (SELECT * FROM {ref}) SELECT * FROM a",
    "WITH a AS (SELECT * FROM joined_data), b AS (SELECT * FROM {ref}) SELECT * FROM a",
    "WITH a AS (WITH b AS (SELECT * FROM {ref}) SELECT * FROM b) SELECT * FROM a",
    "SELECT * FROM (SELECT * FROM {ref}) s",
    "SELECT * FROM joined_data WHERE order_id IN (SELECT 1 FROM {ref})",
    "SELECT * FROM joined_data WHERE EXISTS (SELECT 1 FROM {ref})",
    "SELECT (SELECT count(*) FROM {ref}) FROM joined_data",
    "SELECT * FROM joined_data JOIN {ref} ON true",
    "SELECT * FROM joined_data, {ref}",
    "SELECT region FROM joined_data UNION ALL SELECT * FROM {ref}",
    "SELECT * FROM joined_data CROSS JOIN LATERAL (SELECT * FROM {ref})",
    "SELECT * FROM joined_data GROUP BY 1 HAVING count(*) > (SELECT count(*) FROM {ref})",
    "SELECT sum(sales) OVER (PARTITION BY (SELECT 1 FROM {ref})) FROM joined_data",
]


@pytest.mark.parametrize(("place", "reach_out"), list(itertools.product(PLACES, REACH_OUTS)))
def test_every_reach_out_is_refused_wherever_it_hides(place, reach_out):
    ref, message = reach_out
    sql = place.format(ref=ref)
    try:
        sqlglot.parse_one(sql, read="athena")
    except sqlglot.errors.SqlglotError:
        message = "does not parse"  # not SQL in this position: refused before any table is looked at
    with pytest.raises(UnsafeQuery) as refused:
        check(sql)

    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        # A CTE only shadows where it is in scope: the outer query's "a" is no CTE of the subquery's scope.
        ("SELECT * FROM (WITH a AS (SELECT * FROM joined_data) SELECT * FROM a) CROSS JOIN a",
         "Only the published table"),
        ("SELECT * FROM joined_data, LATERAL read_parquet('/x/*.parquet')", "Table functions"),
        ("SELECT * FROM joined_data CROSS JOIN UNNEST(SPLIT(region, ' ')) CROSS JOIN hr.salaries",
         "Only the published table"),
        ("WITH joined_data AS (SELECT * FROM hr.salaries) SELECT * FROM joined_data",
         "Only the published table"),
        ("SELECT * FROM joined_data FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01' UNION SELECT * FROM hr.s",
         "Only the published table"),
    ],
)  # fmt: skip
def test_tricky_shapes_are_refused(sql, message):
    with pytest.raises(UnsafeQuery) as refused:
        check(sql)

    assert message in str(refused.value)


def test_the_sql_that_runs_is_the_checked_tree():
    checked = check("select * from JOINED_DATA where region = 'West'")

    assert checked == (
        'SELECT * FROM "ecommerce_analytics"."joined_data" WHERE region = \'West\' LIMIT 10000'
    )


def test_mutations_of_the_published_name_never_pass():
    """Fuzz: every case, quoting and qualification of a neighbouring name is refused."""
    names = ["joined_datа", "joined_data_", "joined", "joined_data2", "xjoined_data"]  # note the Cyrillic а
    dbs = [None, "ecommerce_analytics", "ecommerce_analytics_2", "default"]
    refused = 0
    for name, db in itertools.product(names, dbs):
        for quoted in (False, True):
            ref = exp.Table(
                this=exp.to_identifier(name, quoted=quoted),
                db=exp.to_identifier(db, quoted=quoted) if db else None,
            ).sql(dialect="athena")
            with pytest.raises(UnsafeQuery):
                check(f"SELECT * FROM {ref}")
            refused += 1
    assert refused == len(names) * len(dbs) * 2
