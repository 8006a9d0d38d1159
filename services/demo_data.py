"""Demo exports of the project's own: an orders CSV in the US Superstore's shape and its returns CSV.

A fresh clone has no data; these two files are enough to try the console (``make demo-data``, or the Upload
page's download buttons) and to run the pipeline end to end. Everything in them is made up from a seed:
customers, cities, products, prices and returns come from the word lists below, not from any real export.
What follows the US Superstore export is the shape: its 21 columns, every field quoted, M/D/YYYY dates,
ids like ``CA-2024-123456``, ``CG-12520`` and ``FUR-CH-10001234``, amounts with up to four decimals, CRLF line
ends, doubled quotes inside product names (``Wall Clock, 12""``), postal codes with leading zeros, and a
returns file of ``Returned,Order ID`` with one line per returned order.

Pure and deterministic: a seeded ``random.Random``, no clock, no environment, so the same seed and line
count give the same bytes (on the same Python: ``random`` keeps its sequences, but does not promise to).
The files pass the upload check (``csv_profile.profile_bytes``) and the data contract: every line has an
order id and an order date, and no value would be quarantined.

    python -m services.demo_data [--out demo-data] [--lines 3000] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

DEFAULT_SEED = 1
DEFAULT_LINES = 3000
MAX_LINES = 1_000_000  # order numbers are six digits
RETURNED_SHARE = 0.065  # of the orders; the US Superstore's is 5.9%
FIRST_DAY, LAST_DAY = date(2023, 1, 1), date(2024, 12, 31)

ORDER_COLUMNS = (
    "Row ID", "Order ID", "Order Date", "Ship Date", "Ship Mode", "Customer ID", "Customer Name", "Segment",
    "Country", "City", "State", "Postal Code", "Region", "Product ID", "Category", "Sub-Category",
    "Product Name", "Sales", "Quantity", "Discount", "Profit",
)  # fmt: skip
RETURN_COLUMNS = ("Returned", "Order ID")

# (city, state, postal code, region, weight). City names repeat across states (Columbus, Springfield).
CITIES: tuple[tuple[str, str, str, str, int], ...] = (
    ("Los Angeles", "California", "90036", "West", 8),
    ("San Francisco", "California", "94110", "West", 5),
    ("San Diego", "California", "92105", "West", 3),
    ("Sacramento", "California", "95823", "West", 1),
    ("Seattle", "Washington", "98105", "West", 5),
    ("Spokane", "Washington", "99207", "West", 1),
    ("Portland", "Oregon", "97206", "West", 2),
    ("Phoenix", "Arizona", "85023", "West", 2),
    ("Tucson", "Arizona", "85705", "West", 1),
    ("Denver", "Colorado", "80219", "West", 2),
    ("Salt Lake City", "Utah", "84106", "West", 1),
    ("Las Vegas", "Nevada", "89115", "West", 1),
    ("Albuquerque", "New Mexico", "87105", "West", 1),
    ("New York City", "New York", "10024", "East", 9),
    ("Buffalo", "New York", "14215", "East", 1),
    ("Philadelphia", "Pennsylvania", "19143", "East", 5),
    ("Pittsburgh", "Pennsylvania", "15237", "East", 1),
    ("Columbus", "Ohio", "43229", "East", 2),
    ("Cleveland", "Ohio", "44105", "East", 1),
    ("Boston", "Massachusetts", "02108", "East", 2),
    ("Springfield", "Massachusetts", "01109", "East", 1),
    ("Newark", "New Jersey", "07102", "East", 1),
    ("Providence", "Rhode Island", "02908", "East", 1),
    ("Hartford", "Connecticut", "06106", "East", 1),
    ("Wilmington", "Delaware", "19805", "East", 1),
    ("Baltimore", "Maryland", "21215", "East", 1),
    ("Burlington", "Vermont", "05401", "East", 1),
    ("Manchester", "New Hampshire", "03103", "East", 1),
    ("Houston", "Texas", "77095", "Central", 4),
    ("Dallas", "Texas", "75217", "Central", 2),
    ("San Antonio", "Texas", "78207", "Central", 2),
    ("Austin", "Texas", "78745", "Central", 1),
    ("Chicago", "Illinois", "60653", "Central", 5),
    ("Springfield", "Illinois", "62701", "Central", 1),
    ("Detroit", "Michigan", "48205", "Central", 1),
    ("Minneapolis", "Minnesota", "55407", "Central", 1),
    ("Milwaukee", "Wisconsin", "53209", "Central", 1),
    ("Indianapolis", "Indiana", "46203", "Central", 1),
    ("Kansas City", "Missouri", "64118", "Central", 1),
    ("Omaha", "Nebraska", "68104", "Central", 1),
    ("Oklahoma City", "Oklahoma", "73120", "Central", 1),
    ("Des Moines", "Iowa", "50315", "Central", 1),
    ("Sioux Falls", "South Dakota", "57103", "Central", 1),
    ("Jacksonville", "Florida", "32216", "South", 2),
    ("Miami", "Florida", "33142", "South", 1),
    ("Tampa", "Florida", "33614", "South", 1),
    ("Atlanta", "Georgia", "30318", "South", 1),
    ("Columbus", "Georgia", "31907", "South", 1),
    ("Charlotte", "North Carolina", "28205", "South", 1),
    ("Raleigh", "North Carolina", "27604", "South", 1),
    ("Richmond", "Virginia", "23223", "South", 1),
    ("Nashville", "Tennessee", "37211", "South", 1),
    ("Memphis", "Tennessee", "38109", "South", 1),
    ("Louisville", "Kentucky", "40214", "South", 1),
    ("New Orleans", "Louisiana", "70119", "South", 1),
    ("Birmingham", "Alabama", "35208", "South", 1),
    ("Jackson", "Mississippi", "39212", "South", 1),
    ("Little Rock", "Arkansas", "72209", "South", 1),
    ("Columbia", "South Carolina", "29203", "South", 1),
)


@dataclass(frozen=True)
class SubCategory:
    name: str
    code: str  # the second part of a product id: FUR-CH-…
    weight: int  # share of the lines, within all sub-categories
    price: tuple[float, float]  # list price range of one unit
    cost: float  # cost as a share of the list price: high for tables, low for copiers
    items: tuple[str, ...]


# Category → (product id prefix, sub-categories). Item names are invented; some carry an inch mark, which
# the export writes as a doubled quote inside a quoted field.
CATEGORIES: dict[str, tuple[str, tuple[SubCategory, ...]]] = {
    "Furniture": ("FUR", (
        SubCategory("Bookcases", "BO", 5, (90, 450), 0.86, (
            "5-Shelf Bookcase", "Open Bookcase, Walnut Finish", "Corner Bookcase",
            "Barrister Bookcase, 3 Sections", "Low Bookcase with Doors",
        )),
        SubCategory("Chairs", "CH", 6, (50, 400), 0.72, (
            "Mesh Task Chair", "Stacking Chairs, Set of 4", "Executive Leather Chair",
            "Guest Chair with Arms", "Big and Tall Office Chair",
        )),
        SubCategory("Furnishings", "FU", 10, (8, 120), 0.65, (
            'Wall Clock, 12"', "LED Desk Lamp", 'Picture Frame, 8" x 10"', "Chair Mat for Carpet",
            "Desk Organizer Set", "Coat Rack",
        )),
        SubCategory("Tables", "TA", 3, (100, 700), 0.92, (
            "Rectangular Conference Table", "Round Training Table", 'Height-Adjustable Desk, 60" Wide',
            "Folding Table",
        )),
    )),
    "Office Supplies": ("OFF", (
        SubCategory("Appliances", "AP", 5, (15, 400), 0.68, (
            "Desktop Air Purifier", "Microwave Oven, 1.1 cu ft", "Surge Protector, 8 Outlets", "Space Heater",
            "Compact Refrigerator",
        )),
        SubCategory("Art", "AR", 8, (2, 30), 0.66, (
            "Colored Pencils, 24 Pack", "Dry Erase Markers", "Highlighters, Assorted", "Sketch Pad",
            "Pencil Sharpener",
        )),
        SubCategory("Binders", "BI", 15, (3, 60), 0.6, (
            '3-Ring Binder, 1"', "Presentation Binder", 'Heavy Duty Binder, 2"', "Binding Combs",
            "Poly Binder Pockets",
        )),
        SubCategory("Envelopes", "EN", 3, (5, 40), 0.55, (
            "#10 Security Envelopes", "Catalog Envelopes, 9 x 12", "Padded Mailers",
            "Peel and Seal Envelopes",
        )),
        SubCategory("Fasteners", "FA", 2, (1.5, 12), 0.62, (
            "Binder Clips, Medium", "Paper Clips, Jumbo", "Push Pins", "Rubber Bands, Assorted",
        )),
        SubCategory("Labels", "LA", 4, (3, 25), 0.55, (
            "Address Labels", "File Folder Labels", "Shipping Labels, 100 Sheets", "Color-Coding Dots",
        )),
        SubCategory("Paper", "PA", 14, (5, 40), 0.55, (
            "Copy Paper, 8.5 x 11", "Recycled Paper, 5 Reams", "Message Pads", "Index Cards, Ruled",
            "Graph Paper Notebook",
        )),
        SubCategory("Storage", "ST", 8, (15, 350), 0.75, (
            "File Cart with Drawers", "Storage Boxes, 12 Pack", "Lateral File Cabinet", "Desktop Organizer",
            "Shelving Unit, Steel",
        )),
        SubCategory("Supplies", "SU", 2, (4, 50), 0.8, (
            'Scissors, 8"', "Letter Opener", "Stapler, Full Strip", "Tape Dispenser",
        )),
    )),
    "Technology": ("TEC", (
        SubCategory("Accessories", "AC", 8, (10, 220), 0.62, (
            "Wireless Mouse", "USB-C Hub", "Mechanical Keyboard", "Noise-Cancelling Headset",
            "External SSD, 1 TB",
        )),
        SubCategory("Copiers", "CO", 1, (300, 1800), 0.5, (
            "Color Laser Copier", "Multifunction Copier", "Personal Copier",
        )),
        SubCategory("Machines", "MA", 1, (60, 900), 0.78, (
            "Label Printer", "Document Scanner", "Laminator", "Inkjet Printer", "Shredder, Cross-Cut",
        )),
        SubCategory("Phones", "PH", 9, (20, 450), 0.7, (
            "Smartphone, 128 GB", "Conference Phone", "Cordless Phone System", "Rugged Phone Case",
            "VoIP Desk Phone",
        )),
    )),
}  # fmt: skip
BRANDS = (
    "Alder", "Brightline", "Carrow", "Dunmore", "Everton", "Fairlane", "Glenwood", "Halvard", "Ironbridge",
    "Juniper", "Kestrel", "Larchmont", "Meridian", "Northgate", "Oakhurst", "Pemberton", "Redfern", "Stanway",
)  # fmt: skip
FIRST_NAMES = (
    "Aaron", "Alicia", "Amir", "Ana", "Ben", "Carla", "Chen", "Dana", "David", "Elena", "Emeka", "Farah",
    "Grace", "Hannah", "Hugo", "Imani", "Ivan", "Jamal", "Julia", "Kenji", "Laura", "Leo", "Maria", "Mei",
    "Nadia", "Noah", "Olivia", "Omar", "Priya", "Rafael", "Rosa", "Sam", "Sofia", "Tariq", "Tessa", "Victor",
    "Wen", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Alvarez", "Baker", "Brennan", "Castillo", "Chowdhury", "Dalton", "Diaz", "Ellis", "Fischer",
    "Garcia", "Haddad", "Hughes", "Ito", "Jensen", "Kowalski", "Lambert", "Lindqvist", "Morales", "Nakamura",
    "Novak", "O'Brien", "Okafor", "Patel", "Quinn", "Reyes", "Schmidt", "Sullivan", "Tanaka", "Varga",
    "Walsh", "Yilmaz",
)  # fmt: skip
SEGMENTS = (("Consumer", 52), ("Corporate", 30), ("Home Office", 18))
# Ship mode → (weight, fewest days, most days) from order to shipping.
SHIP_MODES = {
    "Standard Class": (60, 4, 7),
    "Second Class": (19, 2, 5),
    "First Class": (16, 1, 3),
    "Same Day": (5, 0, 0),
}
# Discount as written → weight: mostly none or 20%; the deep ones (0.7, 0.8) are the loss makers.
DISCOUNTS = (
    ("0", 48), ("0.1", 2), ("0.15", 1), ("0.2", 37), ("0.3", 2),
    ("0.4", 2), ("0.5", 1), ("0.6", 1), ("0.7", 4), ("0.8", 2),
)  # fmt: skip
QUANTITIES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)
QUANTITY_WEIGHTS = (9, 24, 24, 12, 12, 6, 6, 3, 2, 1, 1, 1, 1, 1)
LINES_PER_ORDER = (1, 2, 3, 4, 5, 6, 7)
LINES_PER_ORDER_WEIGHTS = (50, 23, 13, 7, 4, 2, 1)  # about two lines per order, as in the Superstore


@dataclass(frozen=True)
class DemoExport:
    """The two files and what is in them."""

    orders: bytes  # orders CSV, ``lines`` lines after the header
    returns: bytes  # returns CSV, one line per returned order
    seed: int
    lines: int  # order lines
    orders_count: int  # distinct orders
    returned_orders: int
    returned_lines: int  # order lines whose order is in the returns file (the joined table's is_returned)


@dataclass(frozen=True)
class _Product:
    product_id: str
    category: str
    sub_category: SubCategory
    name: str
    price: float
    cost: float  # share of the list price


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _amount(value: float) -> str:
    """261.96, 957.5775, -383.031, 2: up to four decimals, as the Superstore export writes amounts."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _us_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _catalogue(rng: random.Random) -> list[_Product]:
    products: list[_Product] = []
    numbers = rng.sample(range(10_000_000, 10_005_000), 2_000)
    for category, (prefix, subs) in CATEGORIES.items():
        for sub in subs:  # four brands make each item of a sub-category
            for brand, item in itertools.product(rng.sample(BRANDS, 4), sub.items):
                product_id = f"{prefix}-{sub.code}-{numbers.pop()}"
                price = round(rng.uniform(*sub.price), 2)
                cost = min(0.97, max(0.3, sub.cost + rng.uniform(-0.06, 0.06)))
                products.append(_Product(product_id, category, sub, f"{brand} {item}", price, cost))
    return products


def _customers(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(id, name, segment), e.g. ("CG-12520", "Carla Garcia", "Consumer"); ids and names unique."""
    names = rng.sample([f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES], count)
    numbers = rng.sample(range(10_000, 30_000, 5), count)
    customers = []
    for name, number in zip(names, numbers, strict=True):
        first, last = name.split(" ", 1)
        customers.append((f"{first[0]}{last[0]}-{number}", name, _pick(rng, SEGMENTS)))
    return customers


@functools.lru_cache(maxsize=2)  # orders_csv and returns_csv of one pair generate it once
def demo_export(seed: int = DEFAULT_SEED, lines: int = DEFAULT_LINES) -> DemoExport:
    """Both files for ``seed`` with ``lines`` order lines (same arguments, same bytes)."""
    if not 1 <= lines <= MAX_LINES:
        raise ValueError(f"lines must be between 1 and {MAX_LINES:,}, not {lines:,}")
    rng = random.Random(seed)
    products = _catalogue(rng)
    by_sub: dict[str, list[_Product]] = {}
    for product in products:
        by_sub.setdefault(product.sub_category.name, []).append(product)
    subs = [sub for _, category_subs in CATEGORIES.values() for sub in category_subs]
    sub_weights = [s.weight for s in subs]
    customers = _customers(rng, min(len(FIRST_NAMES) * len(LAST_NAMES), max(20, lines // 5)))
    city_weights = [c[4] for c in CITIES]
    modes = list(SHIP_MODES)
    mode_weights = [SHIP_MODES[m][0] for m in modes]
    span = (LAST_DAY - FIRST_DAY).days

    rows: list[list[str]] = []
    order_lines: dict[str, int] = {}
    used_numbers: set[int] = set()
    while len(rows) < lines:
        order_day = FIRST_DAY + timedelta(days=rng.randint(0, span))
        # The first order's dates (day 13 or later, shipped in the same month) settle M/D against D/M for
        # the profiler, however few lines there are.
        while not rows and not 13 <= order_day.day <= 21:
            order_day = FIRST_DAY + timedelta(days=rng.randint(0, span))
        number = rng.randint(100_000, 999_999)
        while number in used_numbers:
            number = rng.randint(100_000, 999_999)
        used_numbers.add(number)
        order_id = f"{'CA' if rng.random() < 0.8 else 'US'}-{order_day.year}-{number}"
        mode = rng.choices(modes, mode_weights)[0]
        _, fewest, most = SHIP_MODES[mode]
        ship_day = order_day + timedelta(days=rng.randint(fewest, most))
        customer_id, customer_name, segment = rng.choice(customers)
        city, state, postal_code, region, _ = rng.choices(CITIES, city_weights)[0]
        count = min(rng.choices(LINES_PER_ORDER, LINES_PER_ORDER_WEIGHTS)[0], lines - len(rows))
        chosen: list[_Product] = []
        while len(chosen) < count:
            product = rng.choice(by_sub[rng.choices(subs, sub_weights)[0].name])
            if product not in chosen:
                chosen.append(product)
        for product in chosen:
            quantity = rng.choices(QUANTITIES, QUANTITY_WEIGHTS)[0]
            discount = _pick(rng, DISCOUNTS)
            list_value = product.price * quantity
            sales = round(list_value * (1 - float(discount)), 4)
            profit = round(sales - list_value * product.cost, 4)
            rows.append(
                [
                    str(len(rows) + 1),
                    order_id,
                    _us_date(order_day),
                    _us_date(ship_day),
                    mode,
                    customer_id,
                    customer_name,
                    segment,
                    "United States",
                    city,
                    state,
                    postal_code,
                    region,
                    product.product_id,
                    product.category,
                    product.sub_category.name,
                    product.name,
                    _amount(sales),
                    str(quantity),
                    discount,
                    _amount(profit),
                ]  # fmt: skip
            )
        order_lines[order_id] = count

    order_ids = list(order_lines)
    returned = rng.sample(order_ids, max(1, round(len(order_ids) * RETURNED_SHARE)))
    return DemoExport(
        orders=_csv(ORDER_COLUMNS, rows, quoting=csv.QUOTE_ALL),
        returns=_csv(RETURN_COLUMNS, [["Yes", order_id] for order_id in returned], quoting=csv.QUOTE_MINIMAL),
        seed=seed,
        lines=len(rows),
        orders_count=len(order_ids),
        returned_orders=len(returned),
        returned_lines=sum(order_lines[order_id] for order_id in returned),
    )


def _csv(header: Sequence[str], rows: list[list[str]], quoting: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=quoting, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def orders_csv(seed: int = DEFAULT_SEED, lines: int = DEFAULT_LINES) -> bytes:
    """The demo orders export (US Superstore columns), ``lines`` lines after the header."""
    return demo_export(seed, lines).orders


def returns_csv(seed: int = DEFAULT_SEED, lines: int = DEFAULT_LINES) -> bytes:
    """The returns export for ``orders_csv(seed, lines)``: ``Returned,Order ID``, one line per order."""
    return demo_export(seed, lines).returns


# --------------------------------------------------------------------------------------------- CLI


def write(
    out_dir: Path, seed: int = DEFAULT_SEED, lines: int = DEFAULT_LINES
) -> tuple[Path, Path, DemoExport]:
    """Write ``orders.csv`` and ``returns.csv`` into ``out_dir`` (created when missing)."""
    export = demo_export(seed, lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    orders, returns = out_dir / "orders.csv", out_dir / "returns.csv"
    orders.write_bytes(export.orders)
    returns.write_bytes(export.returns)
    return orders, returns, export


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.demo_data",
        description="Write a made-up orders export (US Superstore columns) and its returns export.",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-data"), help="folder (default: demo-data)")
    parser.add_argument(
        "--lines", type=int, default=DEFAULT_LINES, help=f"order lines (default: {DEFAULT_LINES})"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"(default: {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if not 1 <= args.lines <= MAX_LINES:
        parser.error(f"--lines must be between 1 and {MAX_LINES:,}")
    out = out or sys.stdout
    orders, returns, export = write(args.out, args.seed, args.lines)
    share = export.returned_orders / export.orders_count
    print(
        f"wrote {orders}: {export.lines:,} lines, {export.orders_count:,} orders (seed {export.seed})\n"
        f"wrote {returns}: {export.returned_orders:,} returned orders ({share:.1%}), "
        f"{export.returned_lines:,} returned lines",
        file=out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
