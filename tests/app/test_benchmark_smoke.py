"""The benchmark's generator and floor on a tiny case (the benchmark itself: `python -m benchmarks.run`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from benchmarks.floor import compute_floor
from benchmarks.generate import generate, month_list
from orchestration.privacy.extract.reader import read_extract
from orchestration.privacy import personnummer
from orchestration.projects.config import load_projects

MONTHS = month_list("2021-01", 5)
NEW_PER_MONTH = 200          # ~3 000 persons: a birth number 000 among them would be drawn (the seed is fixed)


def test_generated_snapshots_are_readable_full_snapshots_and_the_floor_agrees_across_formats(tmp_path: Path) -> None:
    plain = generate(tmp_path / "plain" / "inbox", tmp_path / "plain" / "projects.yaml", project_id="smoke",
                     municipalities=3, months=MONTHS, new_per_month=NEW_PER_MONTH, presentation="utf8", invalid_share=0)
    mixed = generate(tmp_path / "mixed" / "inbox", tmp_path / "mixed" / "projects.yaml", project_id="smoke",
                     municipalities=3, months=MONTHS, new_per_month=NEW_PER_MONTH, presentation="mixed", invalid_share=0,
                     floor_dir=tmp_path / "mixed" / "floor")
    assert len(plain.files) == len(mixed.files) == 15 and plain.rows == mixed.rows
    assert load_projects(plain.config_path).project("smoke").municipalities == tuple(plain.kommunkoder)

    sizes: dict[str, list[int]] = {}
    for path in sorted(plain.files):
        extract = read_extract(path)
        sizes.setdefault(path.parent.name, []).append(len(extract.rows))
        month_end = dt.date(int(path.stem[:4]), int(path.stem[5:7]), 28)
        for value in extract.rows["personnummer"]:
            personnummer.parse(value, month_end)          # raises for an invalid number, or birth number 000
    assert all(counts == sorted(counts) for counts in sizes.values()), "a snapshot holds every earlier enrolment"
    for path in mixed.files:
        assert len(read_extract(path).rows) > 0           # every dialect and XLSX reads

    plain_kpis, _ = compute_floor(tmp_path / "plain" / "inbox")
    mixed_kpis, _ = compute_floor(tmp_path / "mixed" / "floor")
    assert plain_kpis == mixed_kpis
    by_area: dict[str, list[tuple]] = {}
    for area, period, participants, moved, share in plain_kpis:
        by_area.setdefault(area, []).append((period, participants, moved, share))
        assert 0 <= moved <= participants and (share is None or 0 <= share <= 1)
    assert set(by_area) == {"ALL", *plain.kommunkoder}
    for series in by_area.values():
        assert [p for p, *_ in series] == MONTHS
        assert [n for _, n, *_ in series] == sorted(n for _, n, *_ in series)   # cumulative
    assert by_area["ALL"][-1][1] <= sum(series[-1][1] for area, series in by_area.items() if area != "ALL")
