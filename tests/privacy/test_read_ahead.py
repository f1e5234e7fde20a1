"""Reading ahead (privacy/reading.ReadAhead): the same answers in the same order as reading one
file at a time, never more rows waiting than allowed, and a caller that stops leaves nothing
running. Real files read by the real child process."""

from __future__ import annotations

import os
import threading
import time

import pytest

from orchestration.ingest.limits import ReadLimits
from orchestration.privacy.extract.schema import ENROLMENT_SCHEMA
from orchestration.privacy.reading import IsolatedReader, ReadAhead, ReadFailure
from tests.bad_inputs.builders import HEADER, PersonFactory, csv_bytes, rows_for

BIG_ROWS = 150_000


def files(folder, sizes: list[int]):
    factory = PersonFactory()
    paths = []
    for number, size in enumerate(sizes):
        path = folder / f"2016-{number + 1:02d}.csv"
        path.write_bytes(csv_bytes(HEADER, rows_for(factory.take(1995, size), "2016-01-01")))
        paths.append(path)
    return paths


def test_answers_come_in_order_equal_to_reading_one_at_a_time_a_file_over_its_limit_included(tmp_path):
    paths = files(tmp_path, [3, 40, BIG_ROWS, 1, 25])
    (tmp_path / "2016-04.csv").write_bytes(b"\x00\x01 not a delivery")
    limits = ReadLimits(read_seconds=0.3)        # the big file takes longer
    with IsolatedReader(limits) as reader:
        one_at_a_time = [reader.read(path) for path in paths]
    with IsolatedReader(limits) as reader, ReadAhead(reader, [(p, ENROLMENT_SCHEMA) for p in paths], 50) as ahead:
        answers = list(ahead)
    assert [type(a) for a in answers] == [type(a) for a in one_at_a_time]
    assert [a.code for a in answers if isinstance(a, ReadFailure)] == ["LASNING_FOR_LANGSAM", "FIL_OLASBAR"]
    for ours, theirs in zip(answers, one_at_a_time):
        if isinstance(theirs, ReadFailure):
            assert ours == theirs
        else:
            assert ours.rows.equals(theirs.rows) and ours.unknown_columns == theirs.unknown_columns


def test_reading_stops_while_the_allowed_rows_wait(tmp_path):
    paths = files(tmp_path, [30, 30, 30, 30, 30, 30])
    waiting = []
    with IsolatedReader(ReadLimits()) as reader, ReadAhead(reader, [(p, ENROLMENT_SCHEMA) for p in paths], 70) as ahead:
        for answer in ahead:
            time.sleep(0.5)                          # a slow caller: the reader gets ahead as far as it may
            waiting.append(sum(len(a.rows) for a in list(ahead._answers)))
            assert len(answer.rows) == 30
    # 70 rows allowed: with 60 waiting one more file is read, with 90 none (the reader cannot know a
    # file's rows before reading it, so the bound is the allowance plus one file)
    assert max(waiting) == 90
    assert waiting[-1] == 0


def test_a_caller_that_stops_in_the_middle_stops_the_reading_child_at_once(tmp_path):
    paths = files(tmp_path, [3, BIG_ROWS])
    reader = IsolatedReader(ReadLimits())
    with pytest.raises(RuntimeError, match="the caller failed"):
        with reader, ReadAhead(reader, [(p, ENROLMENT_SCHEMA) for p in paths], 10 * BIG_ROWS) as ahead:
            for _ in ahead:
                child = reader.pid
                stopped = time.monotonic()
                raise RuntimeError("the caller failed")     # while the child reads the first big file
    assert time.monotonic() - stopped < 2       # reading a big file takes longer: it was not waited for
    assert not [t for t in threading.enumerate() if t.name == "followup-read-ahead"]
    assert reader.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
