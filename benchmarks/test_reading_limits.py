"""The costliest files within every reading limit: how long they take and how much memory the
reader uses, and a file at the default row limit (BENCHMARKS.md, "Reading limits"). Timed
measurements, so not part of `make test` (which tests the limits' boundaries at small limits):
`make benchmark-reading` runs them (about two and a half minutes)."""

from __future__ import annotations

import pytest

from orchestration.ingest.limits import MAX_XLSX_OBJECT_ELEMENTS, ReadLimits
from tests.bad_inputs import hostile
from tests.ingest.test_reader_limits import BUILDERS, MB, persons, read_in_child, uncompressed, write


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_the_costliest_file_within_every_limit_is_read_in_about_two_minutes_within_the_readers_memory(tmp_path, kind):
    limits = ReadLimits()
    people = persons(5)
    if kind == "xlsx":
        content = hostile.xlsx_within_every_limit(people, limits.max_xlsx_uncompressed_bytes,
                                                  limits.max_xlsx_held_bytes, formats=MAX_XLSX_OBJECT_ELEMENTS - 1000)
        assert limits.max_xlsx_uncompressed_bytes - 1024 < uncompressed(content) <= limits.max_xlsx_uncompressed_bytes
        last = 6
    else:
        content = hostile.csv_with_blank_lines(people, limits.max_file_bytes - 400)
        assert limits.max_file_bytes - 1024 < len(content) <= limits.max_file_bytes
        last = limits.max_file_bytes - 400 + 6
    answer = read_in_child(write(tmp_path, f"2016-03.{kind}", content), limits, timeout=300)
    assert (answer.get("rows"), answer.get("last_row")) == (5, last), answer
    # BENCHMARKS.md, "Reading limits": ~60 s and ~390 MB for the XLSX, ~16 s for the CSV on a quiet machine
    assert answer["seconds"] < 180 and answer["memory"] < 0.75 * limits.reader_memory_bytes, answer


@pytest.mark.parametrize("kind", BUILDERS)
def test_a_file_at_the_default_row_limit_is_read_in_memory_proportional_to_its_rows(tmp_path, kind):
    build, name = BUILDERS[kind]
    people = persons(200_000, birth_year=1990)
    answer = read_in_child(write(tmp_path, name, build(people)), timeout=120)
    assert (answer.get("rows"), answer.get("last_row")) == (200_000, 200_001), answer
    # BENCHMARKS.md, "Reading limits": ~55 MB over the imports for either (five contract columns)
    assert answer["memory"] < 150 * MB and answer["seconds"] < 60, answer
