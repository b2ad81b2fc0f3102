"""report.html is self-contained and renders in a real browser: headless Chromium loads it, the table rows
are in the DOM and every figure decodes (naturalWidth > 0); a screenshot is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import missing

from yololab.experiments.results.records_io import cell_from_flat
from yololab.experiments.report.writer import write_report
from yololab.experiments.plan.spec import spec_from_mapping

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(n)),
                None)
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = document.querySelectorAll('#results tbody tr').length;
  const probe = document.createElement('div');
  probe.id = 'probe';
  probe.textContent = `images=${imgs.length} decoded=${ok} rows=${rows}`;
  document.body.appendChild(probe);
});
</script></body>"""


def _row(backbone, seed, ap, gflops, status="done"):
    cell_id = f"yolov5n_{backbone}_s{seed}"
    row = {"row_type": "cell", "cell_id": cell_id, "model": "yolov5n", "backbone": backbone, "seed": seed,
           "init": "scratch", "status": status, "cell_dir": f"cells/{cell_id}"}
    if status == "done":
        row.update(params=2e6, backbone_params=1e6, gflops=gflops, map50_95=ap, map50=ap + 0.2, map75=ap,
                   map_small=ap, map_medium=ap, map_large=ap, latency_torch_cpu_ms=10 * gflops,
                   latency_torch_cpu_device="Test CPU", train_seconds=60.0, peak_memory_mb=800.0,
                   per_class={"circle": {"ap50_95": ap}, "square": {"ap50_95": ap / 2}})
    else:
        row["error"] = "RuntimeError: injected"
    return row


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    spec = spec_from_mapping({"name": "browser", "data": "/d/shapes/data.yaml", "imgsz": 128, "epochs": 3,
                              "seeds": [0]})
    rows = [_row("cspdarknet", 0, 0.4, 0.17), _row("resnet18", 0, 0.5, 1.2), _row("hgnetv2_b0", 0, 0.45, 0.3),
            _row("broken", 0, 0, 0, status="failed")]
    for i, row in enumerate(rows[:3]):  # training curves come from each cell's results.csv
        (out / row["cell_dir"]).mkdir(parents=True)
        lines = ["epoch,train/box_loss,train/obj_loss,train/cls_loss,metrics/map50_95"]
        lines += [f"{e},{0.1 - 0.01 * e},{0.02},{0.03},{0.1 * e + 0.02 * i}" for e in range(4)]
        (out / row["cell_dir"] / "results.csv").write_text("\n".join(lines) + "\n")
    paths = write_report(spec, out, [cell_from_flat(r) for r in rows])
    return out, paths["html"]


def test_html_is_self_contained(report):
    out, html_path = report
    text = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.IGNORECASE)  # nothing fetched from anywhere
    assert "<link" not in text and "<script" not in text
    # mAP vs GFLOPs, mAP vs PyTorch latency, training curves, per-class heatmap: all inline
    assert text.count("data:image/png;base64,") == len(list((out / "plots").glob("*.png"))) == 4
    for needle in ("id='command'", "id='config'", "torch", "timm", "RuntimeError: injected"):
        assert needle in text


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        missing("chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", *args], capture_output=True, text=True, timeout=timeout)


def test_chromium_renders_table_rows_and_images(report, tmp_path):
    out, html_path = report
    probe = out / "report_probe.html"  # the report plus a test-only script that reports what rendered
    probe.write_text(html_path.read_text().replace("</body>", PROBE))
    result = _chromium(f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
                       probe.as_uri())
    dom = result.stdout
    match = re.search(r'id="probe">images=(\d+) decoded=(\d+) rows=(\d+)<', dom)
    assert match, f"probe missing from the DOM; chromium stderr:\n{result.stderr[-2000:]}"
    images, decoded, rows = map(int, match.groups())
    assert images == 4 and decoded == images and rows == 4
    assert "yolov5n_resnet18_s0" in dom and "<b>" in dom and "50.0" in dom


def test_chromium_screenshot_is_not_blank(report, tmp_path):
    import cv2

    out, html_path = report
    shot = tmp_path / "shot.png"
    result = _chromium(f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                       "--window-size=1280,4000", "--hide-scrollbars", f"--screenshot={shot}", html_path.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (4000, 1280)  # tall enough for the figures below both tables
    assert float(image.std()) > 10  # text, table shading and plots, not a blank page
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 100).mean() > 0.002  # the coloured plot markers/heatmap were painted


WIDTH_PROBE = """<script>
window.addEventListener('load', () => {
  const main = document.getElementById('results-main');
  const head = document.getElementById('headline');
  const probe = document.createElement('div');
  probe.id = 'probe';
  probe.textContent = `inner=${window.innerWidth} scroll=${document.documentElement.scrollWidth} ` +
    `main_right=${Math.ceil(main.getBoundingClientRect().right)} main_box=${main.parentElement.clientWidth} ` +
    `headline_top=${Math.round(head.getBoundingClientRect().top)} main_top=${Math.round(main.getBoundingClientRect().top)} ` +
    `sentences=${head.querySelectorAll('li').length}`;
  document.body.appendChild(probe);
});
</script></body>"""


def test_headline_and_main_table_fit_a_1366px_laptop(report, tmp_path):
    """At 1366 px the page has no sideways scroll, the main table is inside its box, and the headline comes
    first; the screenshot of the first screen shows it (not blank)."""
    import cv2

    out, html_path = report
    probe = out / "report_width.html"
    probe.write_text(html_path.read_text().replace("</body>", WIDTH_PROBE))
    result = _chromium(f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                       "--window-size=1366,768", "--dump-dom", probe.as_uri())
    match = re.search(r'id="probe">inner=(\d+) scroll=(\d+) main_right=(\d+) main_box=(\d+) headline_top=(-?\d+) '
                      r'main_top=(-?\d+) sentences=(\d+)<', result.stdout)
    assert match, f"probe missing from the DOM; chromium stderr:\n{result.stderr[-2000:]}"
    inner, scroll, right, box, head_top, main_top, sentences = map(int, match.groups())
    assert inner == 1366 and scroll <= inner, (inner, scroll)
    assert right <= inner and box <= inner
    assert head_top < main_top < 768 and sentences == 2  # two comparisons with the native backbone, above the fold
    shot = tmp_path / "laptop.png"
    _chromium(f"--user-data-dir={tmp_path / 'profile2'}", "--virtual-time-budget=10000", "--window-size=1366,768",
              "--hide-scrollbars", f"--screenshot={shot}", html_path.as_uri())
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (768, 1366) and float(image.std()) > 10
    text = html_path.read_text()
    assert "one seed: no test" in text and text.index('id="headline"') < text.index('id="results-main"') < \
        text.index('id="results"')
