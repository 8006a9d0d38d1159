"""services/demo_data: the project's own demo exports (deterministic, Superstore-shaped, loadable)."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime

import csv_profile
import pytest

from services import demo_data
from tests.conftest import REPO

# demo_export is memoised; the uncached function shows that a second generation gives the same bytes.
generate = demo_data.demo_export.__wrapped__
ORDER_ID = re.compile(r"(CA|US)-(\d{4})-\d{6}")


def parse(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def us_date(text: str):
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text), text
    return datetime.strptime(text, "%m/%d/%Y").date()


@pytest.fixture(scope="module")
def default() -> demo_data.DemoExport:
    return demo_data.demo_export()


@pytest.fixture(scope="module")
def orders(default) -> list[dict[str, str]]:
    return parse(default.orders)[1]


def test_same_seed_same_bytes_other_seed_other_bytes():
    first, again = generate(11, 500), generate(11, 500)
    assert first is not again
    assert (first.orders, first.returns) == (again.orders, again.returns)
    other = generate(12, 500)
    assert other.orders != first.orders and other.returns != first.returns
    assert demo_data.orders_csv(11, 500) == first.orders and demo_data.returns_csv(11, 500) == first.returns


def test_defaults(default):
    assert default == generate(demo_data.DEFAULT_SEED, demo_data.DEFAULT_LINES)
    assert demo_data.orders_csv() == default.orders and demo_data.returns_csv() == default.returns
    assert default.lines == demo_data.DEFAULT_LINES == 3000


def test_orders_have_the_us_superstore_columns_and_the_line_count(default, orders):
    header, _ = parse(default.orders)
    assert tuple(header) == demo_data.ORDER_COLUMNS and len(header) == 21
    assert len(orders) == default.lines == 3000
    assert [int(r["Row ID"]) for r in orders] == list(range(1, 3001))
    # Written the way the Superstore export writes it: every field quoted, CRLF.
    assert default.orders.startswith(b'"Row ID","Order ID","Order Date",') and b'\r\n"1","' in default.orders
    assert default.orders.count(b"\r\n") == 3001
    assert all(value for row in orders for value in row.values())  # no empty field


@pytest.mark.parametrize("lines", [1, 2, 7, 250])
def test_any_line_count_is_exact(lines):
    export = generate(3, lines)
    assert len(parse(export.orders)[1]) == export.lines == lines


def test_lines_out_of_range_are_refused():
    with pytest.raises(ValueError, match="lines must be between 1"):
        generate(1, 0)


def test_orders_have_several_lines_and_one_date_customer_and_place_each(default, orders):
    per_order: dict[str, set[tuple]] = {}
    for row in orders:
        per_order.setdefault(row["Order ID"], set()).add(
            tuple(row[c] for c in ("Order Date", "Ship Date", "Ship Mode", "Customer ID", "City", "State"))
        )
    assert len(per_order) == default.orders_count
    assert all(len(v) == 1 for v in per_order.values())  # one order, one date, customer, address
    sizes = Counter(r["Order ID"] for r in orders)
    assert 1.6 < len(orders) / len(sizes) < 2.5 and max(sizes.values()) >= 4
    # Several orders per customer, customer ids like CG-12520 made of the name's initials.
    names = {r["Customer ID"]: r["Customer Name"] for r in orders}
    assert len(names) < len(sizes)
    for customer_id, name in names.items():
        first, last = name.split(" ", 1)
        assert re.fullmatch(rf"{first[0]}{last[0]}-\d{{5}}", customer_id), (customer_id, name)


def test_values_are_plausible_and_consistent(orders):
    places = {(city, state): (postal, region) for city, state, postal, region, _ in demo_data.CITIES}
    subs = {
        sub.name: (category, prefix, sub.code)
        for category, (prefix, category_subs) in demo_data.CATEGORIES.items()
        for sub in category_subs
    }
    products: dict[str, tuple[str, str, str]] = {}
    order_dates = set()
    for row in orders:
        order_id = ORDER_ID.fullmatch(row["Order ID"])
        ordered, shipped = us_date(row["Order Date"]), us_date(row["Ship Date"])
        assert order_id and int(order_id.group(2)) == ordered.year, row
        order_dates.add(ordered)
        lo, hi = {"Same Day": (0, 0), "First Class": (1, 3), "Second Class": (2, 5)}.get(
            row["Ship Mode"], (4, 7)
        )
        assert lo <= (shipped - ordered).days <= hi, row
        assert (
            row["Segment"] in {"Consumer", "Corporate", "Home Office"} and row["Country"] == "United States"
        )
        assert places[(row["City"], row["State"])] == (row["Postal Code"], row["Region"]), row
        category, prefix, code = subs[row["Sub-Category"]]
        assert row["Category"] == category and re.fullmatch(rf"{prefix}-{code}-\d{{8}}", row["Product ID"]), (
            row
        )
        # A product id is one product: the same name, category and sub-category on every line.
        product = (row["Product Name"], row["Category"], row["Sub-Category"])
        assert products.setdefault(row["Product ID"], product) == product
        assert float(row["Sales"]) > 0 and 1 <= int(row["Quantity"]) <= 14
        assert 0 <= float(row["Discount"]) <= 0.8
        assert all(re.fullmatch(r"-?\d+(\.\d{1,4})?", row[c]) for c in ("Sales", "Profit")), row
    assert min(order_dates).year == 2023 and max(order_dates).year == 2024
    assert len({d.month for d in order_dates}) == 12 and any(d.day > 12 for d in order_dates)
    assert {r["Region"] for r in orders} == {"West", "East", "Central", "South"}
    assert {r["Category"] for r in orders} == set(demo_data.CATEGORIES)
    assert any(float(r["Profit"]) < 0 for r in orders) and any(float(r["Discount"]) == 0 for r in orders)
    assert any(r["Postal Code"].startswith("0") for r in orders)  # leading zeros kept
    assert any('"' in r["Product Name"] for r in orders)  # written as a doubled quote


def test_returns_name_a_share_of_the_orders_that_exist(default, orders):
    header, returns = parse(default.returns)
    assert header == ["Returned", "Order ID"] and default.returns.startswith(b"Returned,Order ID\r\n")
    returned = [r["Order ID"] for r in returns]
    assert {r["Returned"] for r in returns} == {"Yes"}
    assert len(returned) == len(set(returned)) == default.returned_orders
    order_ids = {r["Order ID"] for r in orders}
    assert set(returned) <= order_ids
    assert 0.05 <= len(returned) / len(order_ids) <= 0.08
    assert default.returned_lines == sum(r["Order ID"] in set(returned) for r in orders)
    assert default.returned_lines > default.returned_orders  # some returned orders have several lines


@pytest.mark.parametrize("seed, lines", [(demo_data.DEFAULT_SEED, demo_data.DEFAULT_LINES), (5, 1), (6, 12)])
def test_the_upload_check_accepts_both_files_as_they_are(seed, lines):
    export = generate(seed, lines)
    orders = csv_profile.profile_bytes(export.orders, kind="orders")
    returns = csv_profile.profile_bytes(export.returns, kind="returns")
    assert orders.warnings == () and returns.warnings == ()
    assert (orders.sample_rows, returns.sample_rows) == (lines, export.returned_orders)
    assert (orders.encoding, orders.delimiter, orders.decimal) == ("utf-8", ",", ".")
    report = orders.to_report()
    assert report["date_formats"] == {"order_date": "M/D/YYYY", "ship_date": "M/D/YYYY"}
    assert report["formatted_numbers"] == [] and report["dates_with_time"] == []
    assert {"order_id", "order_date", "postal_code", "sales", "quantity"} <= set(orders.names)
    assert returns.names == ["returned", "order_id"]


def test_cli_writes_both_files_and_says_what_is_in_them(tmp_path):
    out = io.StringIO()
    assert demo_data.main(["--out", str(tmp_path / "demo"), "--lines", "400", "--seed", "9"], out=out) == 0
    export = generate(9, 400)
    assert (tmp_path / "demo/orders.csv").read_bytes() == export.orders
    assert (tmp_path / "demo/returns.csv").read_bytes() == export.returns
    text = out.getvalue()
    assert f"orders.csv: 400 lines, {export.orders_count:,} orders (seed 9)" in text
    assert f"returns.csv: {export.returned_orders:,} returned orders" in text
    assert f"{export.returned_lines:,} returned lines" in text


def test_cli_as_a_module_writes_demo_data_by_default(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "services.demo_data"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo-data/orders.csv").read_bytes() == demo_data.orders_csv()
    assert (tmp_path / "demo-data/returns.csv").read_bytes() == demo_data.returns_csv()
    assert "3,000 lines" in done.stdout


def test_cli_refuses_a_line_count_out_of_range(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        demo_data.main(["--out", str(tmp_path), "--lines", "0"])
    assert exited.value.code == 2 and "--lines must be between 1" in capsys.readouterr().err
    assert not (tmp_path / "orders.csv").exists()
