"""The documentation: the README stays a front page, every relative link in it and in docs/ lands on a file
and heading that exist, and the MkDocs site builds with ``--strict`` (broken links, anchors, pages left out
of the nav and docstrings that cannot render all fail it)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import REPO, missing

README = REPO / "README.md"
DOCS = REPO / "docs"
MAX_README_LINES = 250
#: the quickstart's two commands, as a reader copies them from a fresh clone
QUICKSTART = ('pip install -e . && yololab demo --out runs/demo',
              'pip install -e ".[test]" && python -m pytest -q')

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"(`+).*?\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
EXPLICIT_ID = re.compile(r"\{[^}]*#([\w-]+)[^}]*\}\s*$")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (their brackets are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slugify(heading: str) -> str:
    """The anchor Python-Markdown's toc extension (MkDocs) gives a heading; for plain headings GitHub agrees."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*_]", "", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        explicit = EXPLICIT_ID.search(heading)
        found.add(explicit.group(1) if explicit else slugify(heading))
    return found


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """Each relative link of ``path`` whose file or heading does not exist, as 'file: target (why)'."""
    bad = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: {target}"
        if not dest.exists():
            bad.append(f"{where} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{where} (no heading with anchor #{anchor})")
    return bad


def test_readme_is_a_front_page_with_the_quickstart():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    text = "\n".join(lines)
    for command in QUICKSTART:
        assert command in text, f"the quickstart command {command!r} is gone from README.md"
    assert "docs/index.md" in text


def test_every_relative_link_resolves():
    files = markdown_files()
    assert len(files) > 10, "docs/ holds the documentation pages"
    bad = [problem for path in files for problem in broken_links(path)]
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_link_checker_catches_a_missing_file_and_a_missing_anchor(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Image cache\n")
    page.write_text("[ok](other.md#image-cache) [gone](nothing.md) [anchor](other.md#nope) `[code](x.md)`\n"
                    "```\n[fenced](y.md)\n```\n[web](https://example.org/x.md)\n")
    bad = broken_links(page, root=tmp_path)
    assert bad == ["page.md: nothing.md (no such file)", "page.md: other.md#nope (no heading with anchor #nope)"]


def test_slugs_match_mkdocs():
    assert slugify("Is a difference real?") == "is-a-difference-real"
    assert slugify("The `tune:` section") == "the-tune-section"
    assert slugify("Export, predict, bench and serve") == "export-predict-bench-and-serve"


def test_site_builds_strict(tmp_path):
    """``mkdocs build --strict``: what CI runs; needs the ``[docs]`` extras (skipped without, failed under CI)."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing(f"{module} is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(REPO / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert (site / "index.html").is_file() and (site / "api" / "experiments" / "index.html").is_file()
    assert "paired_test" in (site / "api" / "experiments" / "index.html").read_text(encoding="utf-8")
