"""The benchmark: `python -m benchmarks.run` (see BENCHMARKS.md).

Cases (each timed from process start to finished exports: `followup run`, then
`followup export`, as separate processes, the way a coordinator runs them):

  a  UVAS size: 8 municipalities × 37 months, mixed formats (CSV in four dialects, XLSX)
  b  one new month on top of a finished (a): 8 new files, the 38th month
  c  national: 290 municipalities × 36 months, full snapshots, UTF-8 CSV (~5 M rows, ~10 000 files)
  n  `followup run` again after (b), with nothing new: its time, and that it wrote no file

and the floor (benchmarks/floor.py: the core KPIs in plain DuckDB SQL) over the same rows, with
the pipeline/floor ratio. The pipeline's participants, moved_to_activity and activity_share
(breakdown total) are compared with the floor's, area by area and month by month.

Generated data lives under --workdir (default /tmp/followup-bench), never in the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from benchmarks.generate import BENCH_KEY, generate, month_list
from benchmarks.measure import load_average, run_measured

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
# `followup` is the console script for orchestration.cli:main; running the module works with or
# without the project installed into the environment.
FOLLOWUP = [sys.executable, "-m", "orchestration.cli"]
# Issue 19's targets: (a) UVAS size cold, (b) one new month, (c) national, each from process start
# to finished exports; (n) `followup run` with nothing new (after (b)), which must also write nothing.
TARGETS = {"a": 25.0, "b": 10.0, "c": 300.0, "n": 5.0}
FLOOR_RATIO_TARGET = 5.0            # (c): the goal beyond issue 19; the ratio is reported for every case
RSS_TARGET_MIB = 1536.0             # every process, every case


def _env(home: Path, config: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FOLLOWUP_PSEUDONYM_KEY": BENCH_KEY, "FOLLOWUP_HOME": str(home), "FOLLOWUP_CONFIG": str(config),
        "DAGSTER_HOME": str(home / "dagster"), "PATH": f"{BIN}:{env.get('PATH', '')}",
        "DAGSTER_DISABLE_TELEMETRY": "true", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    })
    return env


def pipeline(label: str, home: Path, config: Path, log: Path) -> dict:
    """`followup run` then `followup export`, each measured; the sum is the case's figure."""
    env = _env(home, config)
    run = run_measured(f"{label}: followup run", [*FOLLOWUP, "run", "--home", str(home),
                                                   "--config", str(config)], env, log)
    export = run_measured(f"{label}: followup export", [*FOLLOWUP, "export", "--home", str(home),
                                                         "--config", str(config), "--out", str(home / "bench-exports")],
                          env, log)
    return {
        "run": run.as_dict(), "export": export.as_dict(),
        "wall_s": run.wall_s + export.wall_s, "cpu_s": run.cpu_s + export.cpu_s,
        "peak_rss_mib": max(run.peak_rss_mib, export.peak_rss_mib),
        "ok": run.returncode == 0 and export.returncode == 0,
        "steps": step_durations(home),
        "dbt_models": dbt_model_timings(home),
    }


def nothing_new(label: str, home: Path, config: Path, log: Path) -> dict:
    """`followup run` again with nothing new: its time, and every file of the home it wrote (none
    may change: the warehouse, the exports, the reports; compared by content and modification time)."""
    def files() -> dict[str, tuple[int, int]]:
        return {str(p.relative_to(home)): (p.stat().st_mtime_ns, p.stat().st_size) for p in home.rglob("*")
                if p.is_file() and not p.relative_to(home).parts[0] in ("logs", "dagster") and p.name != "followup.lock"}
    before, builds = files(), len(list((home / "dbt-target").glob("*")))
    run = run_measured(f"{label}: followup run (nothing new)", [*FOLLOWUP, "run", "--home", str(home), "--config", str(config)],
                       _env(home, config), log)
    after = files()
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    return {**run.as_dict(), "changed_files": changed, "dbt_builds": len(list((home / "dbt-target").glob("*"))) - builds,
            "ok": run.returncode == 0}


def floor(label: str, csv_dir: Path, log: Path) -> dict:
    measured = run_measured(f"{label}: floor", [sys.executable, "-m", "benchmarks.floor", str(csv_dir),
                                                "--out", str(csv_dir.parent / "floor_kpis.csv")],
                            dict(os.environ), log)
    return measured.as_dict()


def step_durations(home: Path) -> dict[str, float]:
    """Seconds per Dagster step of the newest run, from the run's event log."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        starts: dict[str, float] = {}
        durations: dict[str, float] = {}
        for record in instance.all_logs(runs[0].run_id):
            event = record.dagster_event
            if event is None or not record.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[record.step_key] = record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                durations[record.step_key] = round(record.timestamp - starts.get(record.step_key, record.timestamp), 2)
        stats = instance.get_run_stats(runs[0].run_id)
        if stats.start_time and stats.end_time:
            durations["(whole Dagster run)"] = round(stats.end_time - stats.start_time, 2)
        return durations


def dbt_model_timings(home: Path, top: int = 12) -> dict[str, float]:
    """Seconds per dbt node (models and tests) from the newest run_results.json."""
    target = home / "dbt-target"
    results = sorted(target.glob("*/run_results.json"), key=lambda p: p.stat().st_mtime)
    if not results:
        return {}
    document = json.loads(results[-1].read_text(encoding="utf-8"))
    timings = {r["unique_id"].split(".", 2)[-1]: round(r.get("execution_time", 0.0), 2) for r in document["results"]}
    ranked = dict(sorted(timings.items(), key=lambda kv: -kv[1])[:top])
    ranked["(all nodes)"] = round(sum(timings.values()), 2)
    ranked["(nodes)"] = len(timings)
    return ranked


def compare_with_floor(home: Path, floor_csv: Path, project_id: str) -> dict:
    """Pipeline KPIs (breakdown total) against the floor's: how many cells differ."""
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as db:
        row = db.execute(f"""
            with pipeline as (
                select area, period,
                       max(value) filter (where kpi = 'participants') as participants,
                       max(value) filter (where kpi = 'moved_to_activity') as moved_to_activity,
                       max(value) filter (where kpi = 'activity_share') as activity_share
                from marts.kpi_values
                where project_id = ? and breakdown = 'total'
                group by area, period
            ),
            floor as (select * from read_csv('{floor_csv}', header = true, types = {{'area': 'VARCHAR', 'period': 'VARCHAR'}}))
            select count(*) as cells,
                   count(*) filter (where p.participants is distinct from f.participants
                                       or p.moved_to_activity is distinct from f.moved_to_activity
                                       or abs(coalesce(p.activity_share, -1) - coalesce(f.activity_share, -1)) > 1e-9) as differing,
                   count(*) filter (where p.area is null) as only_in_floor,
                   count(*) filter (where f.area is null) as only_in_pipeline
            from pipeline p full outer join floor f on p.area = f.area and p.period = f.period
        """, [project_id]).fetchone()
    return dict(zip(("cells", "differing", "only_in_floor", "only_in_pipeline"), row))


def case_a_and_b(work: Path, log: Path, cases: set[str], results: dict) -> None:
    home, config, floor_dir = work / "a" / "home", work / "a" / "projects.yaml", work / "a" / "floor-csv"
    _fresh(work / "a")
    months = month_list("2021-01", 38)
    began = time.perf_counter()
    generated = generate(home / "inbox", config, project_id="uvas_bench", municipalities=8, months=months,
                         new_per_month=1.5, presentation="mixed", floor_dir=floor_dir, write_months=months[:37])
    _generated(results, "a", generated, time.perf_counter() - began)
    results["a"] = pipeline("a", home, config, log)
    results["a"]["floor"] = floor("a", floor_dir, log)
    results["a"]["check"] = compare_with_floor(home, floor_dir.parent / "floor_kpis.csv", "uvas_bench")
    _report(results, "a")
    if "b" in cases:
        began = time.perf_counter()
        generated = generate(home / "inbox", config, project_id="uvas_bench", municipalities=8, months=months,
                             new_per_month=1.5, presentation="mixed", floor_dir=floor_dir, write_months=months[37:])
        _generated(results, "b", generated, time.perf_counter() - began)
        results["b"] = pipeline("b", home, config, log)
        results["b"]["floor"] = floor("b", floor_dir, log)
        results["b"]["check"] = compare_with_floor(home, floor_dir.parent / "floor_kpis.csv", "uvas_bench")
        _report(results, "b")
        results["n"] = nothing_new("n", home, config, log)
        print(f"[n] nothing new: {results['n']['wall_s']:.1f} s wall, peak RSS {results['n']['peak_rss_mib']:.0f} MiB, "
              f"files changed: {len(results['n']['changed_files'])} {results['n']['changed_files'][:5]}, "
              f"dbt builds: {results['n']['dbt_builds']}", flush=True)


def case_c(work: Path, log: Path, results: dict, municipalities: int, months: int, new_per_month: float) -> None:
    home, config = work / "c" / "home", work / "c" / "projects.yaml"
    _fresh(work / "c")
    began = time.perf_counter()
    generated = generate(home / "inbox", config, project_id="national", municipalities=municipalities,
                         months=month_list("2021-01", months), new_per_month=new_per_month, presentation="utf8")
    _generated(results, "c", generated, time.perf_counter() - began)
    results["c"] = pipeline("c", home, config, log)
    # the inbox holds plain UTF-8 CSV: the floor reads the very same files
    results["c"]["floor"] = floor("c", home / "inbox", log)
    shutil.move(str(home / "floor_kpis.csv"), work / "c" / "floor_kpis.csv")
    results["c"]["check"] = compare_with_floor(home, work / "c" / "floor_kpis.csv", "national")
    _report(results, "c")


def _fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def _generated(results: dict, case: str, generated, seconds: float) -> None:
    results.setdefault("generated", {})[case] = {
        "files": len(generated.files), "rows": generated.rows, "enrolments": generated.enrolments,
        "municipalities": len(generated.kommunkoder), "seconds": round(seconds, 1)}
    print(f"[{case}] generated {len(generated.files)} files, {generated.rows} rows in {seconds:.1f} s", flush=True)


def _report(results: dict, case: str) -> None:
    r = results[case]
    ratio = r["wall_s"] / r["floor"]["wall_s"] if r["floor"]["wall_s"] else float("nan")
    r["floor_ratio"] = ratio
    print(f"[{case}] pipeline {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, peak RSS {r['peak_rss_mib']:.0f} MiB, "
          f"ok={r['ok']}; floor {r['floor']['wall_s']:.1f} s; ratio {ratio:.1f} (goal {FLOOR_RATIO_TARGET:.0f}); check {r['check']}; "
          f"load {r['run']['load_before']} → {r['export']['load_after']}", flush=True)
    print(f"[{case}] steps: {r['steps']}", flush=True)


def table(results: dict) -> str:
    lines = ["| case | files | rows | wall s | CPU s | peak RSS MiB: tree / largest process | floor s | pipeline/floor | target | met | load (1-min, before→after) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case in ("a", "b", "c"):
        if case not in results:
            continue
        r, g = results[case], results["generated"][case]
        largest = max(r["run"]["peak_single_rss_mib"], r["export"]["peak_single_rss_mib"])
        met = r["ok"] and r["wall_s"] <= TARGETS[case] and r["check"]["differing"] == 0 and largest <= RSS_TARGET_MIB
        lines.append(f"| {case} | {g['files']} | {g['rows']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mib']:.0f} / {largest:.0f} | "
                     f"{r['floor']['wall_s']:.1f} | {r['floor_ratio']:.1f} | ≤ {TARGETS[case]:.0f} s, ≤ {RSS_TARGET_MIB:.0f} MiB | {'yes' if met else 'NO'} | "
                     f"{r['run']['load_before'].split()[0]} → {r['export']['load_after'].split()[0]} |")
    if "n" in results:
        r = results["n"]
        met = r["ok"] and r["wall_s"] <= TARGETS["n"] and not r["changed_files"] and r["dbt_builds"] == 0
        lines.append(f"| n (nothing new) | 0 | 0 | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_rss_mib']:.0f} / {r['peak_single_rss_mib']:.0f} | – | – | "
                     f"≤ {TARGETS['n']:.0f} s, nothing written | {'yes' if met else 'NO'} | "
                     f"{r['load_before'].split()[0]} → {r['load_after'].split()[0]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="a,b,c", help="comma-separated: a, b, c (b needs a)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/followup-bench"))
    parser.add_argument("--national-municipalities", type=int, default=290)
    parser.add_argument("--national-months", type=int, default=36)
    parser.add_argument("--national-new-per-month", type=float, default=26.0,
                        help="mean new enrolments per municipality-month (26 gives ~5 M snapshot rows at 290×36)")
    args = parser.parse_args(argv)
    cases = set(args.cases.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = args.workdir / f"bench-{stamp}.log"
    results: dict = {"started": stamp, "machine": machine(), "load_at_start": load_average(), "args": vars(args) | {"workdir": str(args.workdir)}}
    # Set-up, untimed, as `make` does at install: the dbt manifest the code location is built from.
    # (Without it the first `followup run` of a fresh checkout parses the dbt project: a minute
    # under load, once.)
    import subprocess
    subprocess.run([sys.executable, "-c", "from orchestration.transform.assets import ensure_manifest; ensure_manifest()"],
                   check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    if cases & {"a", "b"}:
        case_a_and_b(args.workdir, log, cases, results)
    if "c" in cases:
        case_c(args.workdir, log, results, args.national_municipalities, args.national_months, args.national_new_per_month)
    out = args.workdir / f"results-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print()
    print(table(results))
    print(f"\nresults: {out}\ncommand output: {log}")
    return 0


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().split("\n")[0].split()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": round(int(meminfo[1]) / 2 ** 20, 1),
            "python": platform.python_version(), "kernel": platform.release()}


if __name__ == "__main__":
    raise SystemExit(main())
