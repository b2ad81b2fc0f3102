"""The paper's main table: compact by default (<= 10 columns), chosen by --columns / table: {columns},
empty columns left out with a note, the full table in results_full.tex; both compile with pdflatex;
the headline says one sentence per comparison."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import missing
from test_report_tables import ROWS, SPEC, make_row, records

from yololab.config import ConfigError
from yololab.experiments.results.columns import COMPACT_COLUMNS, table_columns
from yololab.experiments.report.headline import comparison_sentence, headline
from yololab.experiments.results.records_io import summary_from_flat
from yololab.experiments.report.writer import data_set_name, write_report
from yololab.experiments.plan.spec import TableSpec, spec_from_mapping
from yololab.experiments.report.tables import markdown_table

SIGNIFICANT = {"row_type": "mean", "model": "yolov5n", "backbone": "timm:x", "reference": "cspdarknet",
               "is_reference": False, "seeds": [0, 1, 2], "paired_seeds": 3, "delta_map50_95": 0.095,
               "delta_map50_95_ci95": [0.062, 0.131], "p_holm": 0.004, "significant": True}


def sentence(**flat):
    """The headline of a summary row given in its flat form (results.json)."""
    return comparison_sentence(summary_from_flat({**SIGNIFICANT, **flat}))


def _report(tmp_path, spec=SPEC, rows=ROWS, **kw):
    return write_report(spec_from_mapping(spec), tmp_path, records(rows), **kw)


def _header(md: str, section: str) -> list[str]:
    table = md.split(section)[1].split("\n\n")[1]
    return [h.strip() for h in table.splitlines()[0].strip("|").split("|")]


def test_main_table_is_compact_and_full_table_has_every_column(tmp_path):
    paths = _report(tmp_path)
    md = paths["md"].read_text()
    main = _header(md, "## Main table")
    assert len(main) <= 10 and main == ["Model", "Backbone", "Init", "Seeds", "Params (M)", "GFLOPs", "ORT CPU (ms)",
                                        "mAP50-95", "mAP50", "Δ mAP50-95 vs ref [95% CI]"]
    assert len(COMPACT_COLUMNS) <= 10
    main_tex = paths["tex"].read_text()
    header_tex = main_tex.split(r"\toprule")[1].split(r"\midrule")[0]
    assert header_tex.count(" & ") == len(main) - 1 and r"\si{\milli\second}" in header_tex
    full = paths["tex_full"].read_text()
    assert full.count(r"\begin{longtable}") == 4 and "PyTorch CPU" in full and "Peak mem" in full  # accuracy, cost


def test_columns_choose_the_main_table(tmp_path):
    paths = _report(tmp_path, chosen=["model", "backbone", "map50_95", "p", "latency_torch_cpu_ms", "map_small"])
    md = paths["md"].read_text()
    assert _header(md, "## Main table") == ["Model", "Backbone", "mAP50-95", "PyTorch CPU (ms)"]
    assert "Left out for having no value in any row: p (Holm), APs." in md.split("## Full tables")[0]
    spec_cols = _report(tmp_path / "spec", {**SPEC, "table": {"columns": ["backbone", "gflops"]}}) \
        if (tmp_path / "spec").mkdir() is None else None
    assert _header(spec_cols["md"].read_text(), "## Main table") == ["Backbone", "GFLOPs"]
    with pytest.raises(ValueError, match="unknown column 'mAP'.*valid: model"):
        table_columns(records(ROWS), columns=["model", "mAP"])


def test_spec_and_cli_columns_are_checked():
    base = {"data": "d.yaml", "models": ["yolov5n"], "backbones": ["native"], "seeds": [0]}
    assert spec_from_mapping({**base, "table": {"columns": ["model", "delta"]}}).table.columns == ("model", "delta")
    with pytest.raises(ConfigError, match=r"^experiment: table\.columns: unknown column 'gflop' \(did you mean 'gflops'"):
        spec_from_mapping({**base, "table": {"columns": ["gflop"]}})
    with pytest.raises(ConfigError, match=r"^exp\.yaml: table\.columns must be a list of column names"):
        spec_from_mapping({**base, "table": TableSpec(columns=("model", 3))}, "exp.yaml")  # a spec built in Python
    with pytest.raises(ConfigError, match="'colums'"):
        spec_from_mapping({**base, "table": {"colums": ["model"]}})
    from yololab.cli import build_parser
    from yololab.experiments.cli import command_line, spec_values, COMPARE_ORDER

    args = build_parser().parse_args(["compare", "--out", "o", "--data", "d.yaml", "--columns", "model,map50"])
    assert spec_values(args)["table"] == {"columns": ["model", "map50"]}
    assert "--columns model,map50" in command_line(args, COMPARE_ORDER)


def test_empty_column_is_dropped_everywhere():
    rows = records([make_row("yolov5n", "a", 0, 0.3, 0.2, 5.0), make_row("yolov5n", "b", 0, 0.4, 0.3, 6.0)])
    assert "APs" not in markdown_table(rows) and "APm" in markdown_table(rows)
    shown, dropped = table_columns(rows)
    assert [c.key for c in dropped] == ["map_small"] and "map_small" not in [c.key for c in shown]


def test_both_tables_compile_with_pdflatex(tmp_path):
    if shutil.which("pdflatex") is None:
        missing("pdflatex is not installed (apt-get install -y --no-install-recommends texlive-latex-base "
                "texlive-latex-recommended texlive-science; .ci/run installs it)")
    paths = _report(tmp_path)
    (tmp_path / "paper.tex").write_text(
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs,siunitx,longtable,pdflscape}\n"
        "\\setlength{\\textwidth}{6.875in}\n"  # a two-column paper's table* width (CVPR, ICCV)
        "\\begin{document}\n\\input{results.tex}\n\\clearpage\n\\input{results_full.tex}\n\\end{document}\n")
    assert paths["tex"].parent == tmp_path
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in result.stdout  # the main table fits a table*, each full table a landscape page


def test_headline_one_sentence_per_comparison():
    assert sentence() == ("yolov5n timm:x vs cspdarknet: +9.5 points [+6.2, +13.1], "
                          "significant after Holm (p_Holm 0.004).")
    unclear = {"delta_map50_95": 0.004, "delta_map50_95_ci95": [-0.01, 0.018], "p_holm": 0.62,
               "significant": False, "seeds_needed": 12}
    assert sentence(**unclear) == ("yolov5n timm:x vs cspdarknet: no detectable difference (+0.4 points "
                                   "[-1.0, +1.8] (p_Holm 0.620)); about 12 seeds would be needed to detect "
                                   "a 1-point difference.")
    assert "more seeds cannot help" in sentence(**{**unclear, "seeds_needed": None, "more_seeds_cannot_help": True})
    one_seed = sentence(seeds=[0], paired_seeds=1, significant=None)
    assert one_seed.endswith("over the test images; one seed: no test.")
    significant = summary_from_flat(SIGNIFICANT)
    reference = summary_from_flat({**SIGNIFICANT, "is_reference": True})
    assert headline([reference, significant]) == [sentence()]


def test_title_names_the_data_set(tmp_path):
    (tmp_path / "shapes").mkdir()
    named = tmp_path / "shapes" / "data.yaml"
    named.write_text(yaml.safe_dump({"name": "Shapes v2", "train": "a", "val": "b"}))
    plain = tmp_path / "data" / "coco128.yaml"
    assert data_set_name(str(named)) == "Shapes v2"
    assert data_set_name(str(plain)) == "coco128"
    assert data_set_name("/x/shapes/data.yaml") == "shapes"
    assert data_set_name("/x/voc/annotations/instances_val.json") == "voc"
    paths = _report(tmp_path / "r" if (tmp_path / "r").mkdir() is None else None)
    assert paths["md"].read_text().startswith("# Backbone comparison on shapes (val split)")


def test_headline_of_an_untested_comparison_says_why_once():
    row = {"significant": None, "delta_map50_95_ci95": [0.0, 0.0], "delta_map50_95": 0.0,
           "delta_method": "difference of seed means (no spread over seeds or images: no test)"}
    assert sentence(**row) == ("yolov5n timm:x vs cspdarknet: +0.0 points [+0.0, +0.0]; difference of seed "
                               "means (no spread over seeds or images: no test).")
    assert sentence(**{**row, "delta_method": None}).endswith(
        "; no test (no saved detections or too few paired seeds).")
