"""What makes a run have something to do (lib/last_run.py): every input a run reads changes the
digest, and nothing else does; what a run leaves is recognised until anyone writes to it. The
run that does nothing is tested through the pipeline in tests/end_to_end/test_intake_pipeline.py."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import duckdb
import pytest

from orchestration.ingest.normalise import month_end
from orchestration.lib import last_run
from orchestration.lib.home import DataHome
from orchestration.reporting.status import MonthStatus, calendar_phase, deadline_for

MONTHS = [f"{year}-{month:02d}" for year in (2012, 2013, 2014, 2015) for month in range(1, 13)]


def what_the_date_decides(today: dt.date) -> tuple:
    """Every answer that depends on the date: the months the status shows (ended), which of them
    are missing when nothing came, and which months intake refuses as not yet begun."""
    shown = tuple(m for m in MONTHS if month_end(m) < today)
    missing = tuple(m for m in shown if MonthStatus("0136", m, deadline_for(m)).is_missing(today))
    future = tuple(m for m in MONTHS if (int(m[:4]), int(m[5:7])) > (today.year, today.month))
    return shown, missing, future


def test_two_days_share_a_calendar_phase_exactly_when_every_date_rule_answers_the_same():
    answers: dict[str, set] = {}
    day = dt.date(2013, 1, 1)
    while day < dt.date(2015, 1, 1):
        answers.setdefault(calendar_phase(day), set()).add(what_the_date_decides(day))
        day += dt.timedelta(days=1)
    assert all(len(found) == 1 for found in answers.values())              # same phase: same answers
    assert len({next(iter(found)) for found in answers.values()}) == len(answers) == 48   # and no phase twice


@pytest.fixture
def home(tmp_path, monkeypatch) -> DataHome:
    home = DataHome(tmp_path / "home").create()
    for relative, text in (("uvas/2380/2024-01.csv", "a;b\n1;2\n"), ("uvas/2380/2024-02.csv", "a;b\n3;4\n"),
                           ("vvv/0482/2009-12.csv", "x\n")):
        (home.inbox / relative).parent.mkdir(parents=True, exist_ok=True)
        (home.inbox / relative).write_text(text, encoding="utf-8")
    config = tmp_path / "projects.yaml"
    config.write_text("projects: []\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWUP_CONFIG", str(config))
    for name in [k for k in os.environ if k.startswith("FOLLOWUP_") and k not in last_run.NOT_SETTINGS]:
        monkeypatch.delenv(name)
    return home


TODAY = dt.date(2024, 3, 5)


def inputs(home: DataHome, today: dt.date = TODAY) -> str:
    return last_run.inputs_digest(home, os.environ["FOLLOWUP_CONFIG"], today)


def test_every_input_a_run_reads_changes_the_digest_and_nothing_else_does(home, monkeypatch, tmp_path):
    base = inputs(home)
    assert inputs(home) == base
    january = home.inbox / "uvas/2380/2024-01.csv"
    changes = {}

    # Things that change nothing a run reads.
    january.read_bytes()                                                # read, as intake does
    monkeypatch.setenv("FOLLOWUP_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("FOLLOWUP_PSEUDONYM_KEY", "k" * 40)
    changes["unrelated"] = inputs(home, TODAY + dt.timedelta(days=2))  # same phase: before the deadline
    assert changes["unrelated"] == base

    stamp = january.stat()
    time.sleep(0.05)            # the kernel's change time moves in ticks of a few ms: not within one
    january.write_text("a;b\n1;9\n", encoding="utf-8")                 # same size, time put back: a new file
    os.utime(january, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    changes["replaced in place"] = inputs(home)
    os.chmod(january, 0o600)
    changes["permissions"] = inputs(home)
    os.utime(january)
    changes["touched"] = inputs(home)
    (home.inbox / "uvas/2380/2024-03.csv").write_text("a;b\n", encoding="utf-8")
    changes["new file"] = inputs(home)
    shutil.move(home.inbox / "vvv/0482/2009-12.csv", home.inbox / "vvv/0482/2009-11.csv")
    changes["renamed"] = inputs(home)
    (home.inbox / "vvv/0482/2009-11.csv").unlink()
    changes["removed"] = inputs(home)
    os.mkfifo(home.inbox / "uvas/2380/pipe")
    changes["a fifo"] = inputs(home)
    with open(os.environ["FOLLOWUP_CONFIG"], "a", encoding="utf-8") as config:
        config.write("# a comment\n")
    changes["configuration"] = inputs(home)
    monkeypatch.setenv("FOLLOWUP_MAX_ROWS", "5000")
    changes["a setting"] = inputs(home)
    changes["the deadline passed"] = inputs(home, dt.date(2024, 3, 11))
    changes["a new month"] = inputs(home, dt.date(2024, 4, 1))
    digests = [base, *(digest for name, digest in changes.items() if name != "unrelated")]
    assert len(set(digests)) == len(digests), changes


def test_what_a_run_left_is_recognised_until_anyone_writes_to_the_home(home):
    with duckdb.connect(str(home.warehouse)) as db:
        db.execute("create table t as select 1 as x")
    (home.exports / "uvas").mkdir()
    (home.exports / "uvas" / "kpi.csv").write_text("kpi;value\n", encoding="utf-8")
    digest = inputs(home)
    assert last_run.nothing_new(home, digest) is None                  # no clean run yet
    last_run.record(home, digest, "run-1")
    assert last_run.nothing_new(home, digest) == last_run.LastRun("run-1", last_run.nothing_new(home, digest).finished_at)
    assert last_run.nothing_new(home, inputs(home, dt.date(2024, 3, 20))) is None   # the date moved on

    with duckdb.connect(str(home.warehouse), read_only=True) as db:     # a reader: status, export, a BI tool
        assert db.execute("select x from t").fetchone() == (1,)
    assert last_run.nothing_new(home, digest) is not None

    written = {
        "warehouse": lambda: duckdb.connect(str(home.warehouse)).execute("insert into t values (2)").close(),
        "an export removed": lambda: (home.exports / "uvas" / "kpi.csv").unlink(),
        "a report added": lambda: (home.reports / "index.html").write_text("<p>", encoding="utf-8"),
        "the serving copy": lambda: (home.root / "serving").mkdir() or (home.root / "serving" / "followup.duckdb").write_bytes(b""),
    }
    for name, write in written.items():
        last_run.record(home, digest, "run-1")
        write()
        assert last_run.nothing_new(home, digest) is None, name

    last_run.record(home, digest, "run-1")
    last_run.forget(home)                                                # a run that starts working
    assert last_run.nothing_new(home, digest) is None
    (home.root / last_run.RECORD_NAME).write_text("{not json", encoding="utf-8")
    assert last_run.nothing_new(home, digest) is None
