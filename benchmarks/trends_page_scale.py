"""The trends page at scale: 5,000 histograms x 10 releases (made up, tests/trends_support.py).

    venv/bin/python benchmarks/trends_page_scale.py [--objects N] [--releases N]

Prints the time to build the model and render the page, the page's size, and, where
Debian's chromium and chromedriver are installed, in headless Chromium: the time to open
the page from file:// (until its script has drawn the first page), the rows in the DOM,
and the time a name filter and a grade filter take to redraw the table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relval.workflows.trends import build  # noqa: E402
from relval.workflows.trends_page import write_page  # noqa: E402
from tests.trends_support import object_name, synthetic_runs  # noqa: E402


def in_browser(page: Path, objects: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    profile = tempfile.mkdtemp(prefix="relval-bench-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        start = time.perf_counter()
        driver.get(page.as_uri())  # returns after the load event: the script has run
        loaded = time.perf_counter() - start
        rows = len(driver.find_elements("css selector", "#objects tr.row"))
        status = driver.find_element("id", "objects-status").text
        timed = ("const t = performance.now(); const f = document.getElementById(arguments[0]);"
                 "f.value = arguments[1]; f.dispatchEvent(new Event(arguments[2]));"
                 "return [performance.now() - t, document.querySelectorAll('#objects tr.row').length];")
        name_ms, name_rows = driver.execute_script(timed, "filter-name", object_name(objects - 1), "input")
        driver.execute_script(timed, "filter-name", "", "input")
        grade_ms, grade_rows = driver.execute_script(timed, "filter-grade", "BAD", "change")
        print(f"chromium: open {loaded:.2f} s ({rows} rows in the DOM; {status})")
        print(f"chromium: name filter {name_ms:.0f} ms -> {name_rows} row(s); "
              f"grade filter BAD {grade_ms:.0f} ms -> {grade_rows} row(s) on the first page")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--releases", type=int, default=10)
    args = parser.parse_args()
    runs = synthetic_runs(args.objects, args.releases)
    start = time.perf_counter()
    trends = build("scale", "file:///made-up", runs)
    built = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="relval-trends-bench-") as tmp:
        start = time.perf_counter()
        page = write_page(trends, Path(tmp) / "page")
        rendered = time.perf_counter() - start
        print(f"{args.objects} histograms x {args.releases} releases: model {built:.2f} s, "
              f"page {rendered:.2f} s, {page.stat().st_size / 1e6:.1f} MB")
        if shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("chromium-browser")):
            in_browser(page, args.objects)
        else:
            print("chromium: not run (chromium and chromedriver not installed)")


if __name__ == "__main__":
    main()
