"""The standalone HTML report opened in headless Chromium (Debian's ``chromium``): the page
renders, every chart is drawn at its size and is not blank, no script from the data runs, and
a screenshot is kept in ``test-artifacts/reports/`` for a person to look at."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.reports.charts import png_size
from pipelines.reports.config import load_reports
from pipelines.reports.data import gather
from pipelines.reports.render import render
from tests.reports.warehouse_fixture import IMG_EVENT, REFERRER, SCRIPT_PATH

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"
WINDOW = (800, 4400)
# Root on a machine without internet access (stack.md §9.3): no sandbox, no background calls.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]
# Test-only: appended to a copy of the page, it measures each image once the page has loaded
# and writes what it saw into the DOM for --dump-dom. The report itself carries no script.
PROBE = """<script>
window.alert = function () { document.title = "ALERT RAN"; };
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    var g = canvas.getContext("2d"); g.drawImage(img, 0, 0);
    var data = g.getImageData(0, 0, canvas.width, canvas.height).data, colours = {};
    for (var i = 0; i < data.length; i += 4 * 31)
      colours[data[i] + "," + data[i + 1] + "," + data[i + 2]] = 1;
    var box = img.getBoundingClientRect();
    return {complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
            shown: [Math.round(box.width), Math.round(box.height)],
            declared: [img.width, img.height], colours: Object.keys(colours).length};
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: images, title: document.title,
    scripts: document.getElementsByTagName("script").length,
    pageWidth: document.querySelector("table.page").getBoundingClientRect().width});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


pytestmark = pytest.mark.skipif(chromium() is None, reason="no chromium binary on this machine "
                                "(./dev test installs Debian's chromium when it can)")


@pytest.fixture(scope="module")
def report_page(report_warehouse: Path, tmp_path_factory) -> tuple[Path, object]:
    conn = warehouse.connect(report_warehouse)
    try:
        # Top 12 rows: the hostile path, event and referrer are among them.
        config = load_reports()["weekly"].model_copy(update={"top": 12})
        report = gather(conn, config, datetime(2026, 2, 16, 7, tzinfo=UTC))
    finally:
        conn.close()
    rendered = render(report)
    page = tmp_path_factory.mktemp("page") / "weekly.html"
    page.write_text(rendered.html_file, encoding="utf-8")
    return page, rendered


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=90, check=True)


def test_the_report_renders_in_chromium_with_every_chart_drawn(report_page, tmp_path):
    page, rendered = report_page
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"), encoding="utf-8")

    dom = run_chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                       probed.as_uri()).stdout
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)
                       .replace("&quot;", '"').replace("&amp;", "&"))

    assert found["title"] == rendered.subject          # no alert() from the data ran
    assert found["scripts"] == 1                       # the probe's own, nothing from the data
    assert found["pageWidth"] == 600
    charts = list(rendered.images.values())
    assert len(found["images"]) == len(charts) == 3
    for seen, chart in zip(found["images"], charts):
        assert seen["complete"]
        assert seen["natural"] == list(png_size(chart.png))          # the PNG decoded whole
        assert seen["declared"] == seen["shown"] == [chart.width, chart.height]
        assert seen["colours"] > 3                                   # bars, axes: not blank
    # Chromium serialises text with "<" and "&" escaped, so tags are the only "<" left.
    text = html.unescape(re.sub(r"<[^>]+>", "", dom))
    for hostile in (SCRIPT_PATH, IMG_EVENT, REFERRER):
        assert hostile in text


def test_a_screenshot_is_kept_as_a_test_artifact(report_page, tmp_path):
    page, _ = report_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "weekly.png"
    shot.unlink(missing_ok=True)

    run_chromium(tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}",
                 page.as_uri())

    png = shot.read_bytes()
    assert png_size(png) == WINDOW
    # A blank page of this size deflates to a few kilobytes; charts and text do not.
    pixels = zlib.decompress(b"".join(_chunks(png, b"IDAT")))
    assert len(zlib.compress(pixels, 1)) > 50_000


def _chunks(png: bytes, kind: bytes):
    at = 8
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        if png[at + 4:at + 8] == kind:
            yield png[at + 8:at + 8 + length]
        at += 12 + length
