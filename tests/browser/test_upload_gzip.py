"""A .csv.gz export on the Upload page in chromium (ADR 0019): the slot's script (services/s3_upload.js)
counts the rows over a DecompressionStream, the check profiles the decompressed head, the parts go to a
``.csv.gz`` key; a file whose gzip stream ends early is refused, however far beyond the head its end is."""

from __future__ import annotations

import gzip

from playwright.sync_api import Page, expect

from tests.browser.test_console_browser import PAGE_TIMEOUT, assert_no_exception, open_page, wait_idle


def test_a_csv_gz_export_is_counted_decompressed_and_uploaded_as_csv_gz(
    page: Page, console_stack, sample_data, tmp_path
):
    text = (sample_data / "seed/ordercsv.csv").read_bytes()
    packed = tmp_path / "ordercsv.csv.gz"
    packed.write_bytes(gzip.compress(text))
    page.goto(console_stack.url)
    wait_idle(page)
    open_page(page, "Upload", "upload")

    page.get_by_label("Orders CSV", exact=True).set_input_files(packed)
    expect(page.get_by_text("compression: gzip")).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("20")  # the seed's rows, decompressed
    page.get_by_role("button", name="Upload orders").click(timeout=PAGE_TIMEOUT)
    expect(page.get_by_text("Uploaded to")).to_contain_text("-ordercsv.csv.gz", timeout=PAGE_TIMEOUT)
    wait_idle(page)
    assert_no_exception(page)


def test_a_csv_gz_whose_end_is_cut_is_refused(page: Page, console_stack, sample_data, tmp_path):
    whole = gzip.compress((sample_data / "superstore-global/orders.csv").read_bytes())
    assert len(whole) > 2 * 1024 * 1024  # the cut is beyond the head the check profiles
    cut = tmp_path / "global.csv.gz"
    cut.write_bytes(whole[:-1000])
    page.goto(console_stack.url)
    wait_idle(page)
    open_page(page, "Upload", "upload")

    page.get_by_label("Returns CSV", exact=True).set_input_files(cut)
    refusal = page.get_by_text("could not be read to its end")
    expect(refusal).to_be_visible(timeout=PAGE_TIMEOUT)
    expect(page.get_by_role("button", name="Upload returns")).to_have_count(0)
