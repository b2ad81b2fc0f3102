"""``TableFacts``: what the captions and notes say about a whole table (how it was tested, what warns).

``summarise`` makes it; the report's sentences read its fields; ``results.json`` keeps its flat form
(``dataclasses.asdict``) as the ``statistics`` section, with the key names it has always had.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BootstrapInfo:
    """The image bootstrap shared by every row: the scoring split, its image count, the resamples."""

    split: str
    images: int
    resamples: int


@dataclass(frozen=True)
class IdenticalSeeds:
    """Seeds of one entry that gave identical metrics (the seed is not reaching training)."""

    model: str
    backbone: str
    seeds: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class VarianceComponents:
    """One comparison's two variance components of Δ and the seeds needed to detect the power delta."""

    model: str
    backbone: str
    reference: str | None
    paired_seeds: int | None
    delta_seed_sd: float | None
    delta_image_sd: float | None
    seeds_needed: int | None
    more_seeds_cannot_help: bool | None


@dataclass(frozen=True)
class TableFacts:
    """Table-wide facts for captions, notes and warnings (field order = results.json's ``statistics``)."""

    bootstrap: BootstrapInfo | None = None
    bootstrap_seed: int = 0
    alpha: float = 0.05
    identical_seeds: tuple[IdenticalSeeds, ...] = ()
    comparisons: int = 0                      # rows with a test (the Holm family)
    untested: int = 0                         # rows with a Δ but no test (one seed)
    n_seeds: int = 0
    method: str = ""
    method_reference: str = ""
    power_delta: float = 0.01
    power: float = 0.8
    variance_components: tuple[VarianceComponents, ...] = field(default_factory=tuple)
