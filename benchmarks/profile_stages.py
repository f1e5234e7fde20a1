"""Where the time goes: each pipeline stage as its plain function, timed, without Dagster.

    python -m benchmarks.profile_stages --home /tmp/x/home --config /tmp/x/projects.yaml \
        [--stages intake,pseudonymise,validate,dbt,export] [--cprofile validate]

The home must hold an inbox (benchmarks/generate.py writes one). --cprofile STAGE writes
<home>/profile-STAGE.prof and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

from benchmarks.generate import BENCH_KEY
from benchmarks.measure import load_average

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--stages", default="intake,pseudonymise,validate,dbt,export")
    parser.add_argument("--cprofile", default="")
    args = parser.parse_args(argv)
    os.environ.setdefault("FOLLOWUP_PSEUDONYM_KEY", BENCH_KEY)
    from orchestration.lib.home import DataHome
    from orchestration.lib.warehouse import ensure_schema
    from orchestration.projects.config import load_projects
    from orchestration.projects.load import write_config_tables

    home = DataHome.resolve(args.home).create()
    config = load_projects(args.config)
    ensure_schema(home.warehouse)
    write_config_tables(home.warehouse, config)

    def intake():
        from orchestration.ingest.intake import run_intake
        return len(run_intake(home, config).new)

    def pseudonymise():
        from orchestration.privacy.stage import pseudonymise_pending
        return pseudonymise_pending(home, BENCH_KEY.encode()).rows

    def validate():
        from orchestration.quality.stage import validate_pending
        return validate_pending(home, config).quarantined_rows

    def dbt():
        from orchestration.transform import dbt_build
        from orchestration.transform.assets import DBT_THREADS, UNIT_TESTS
        built = dbt_build.build(["build", "--threads", str(DBT_THREADS), "--exclude", UNIT_TESTS, "--quiet"],
                                home.warehouse, home.root / "dbt-target" / "profile")
        return 0 if built.success else [n for n in built.nodes if n.status in ("error", "fail")] or built.error

    def export():
        from orchestration.reporting.export import export_all
        return len(export_all(home.warehouse, config, home.root / "profile-exports"))

    stages = {"intake": intake, "pseudonymise": pseudonymise, "validate": validate, "dbt": dbt, "export": export}
    for name in args.stages.split(","):
        load = load_average()
        began, cpu = time.perf_counter(), time.process_time()
        if name == args.cprofile:
            profiler = cProfile.Profile()
            result = profiler.runcall(stages[name])
            path = home.root / f"profile-{name}.prof"
            profiler.dump_stats(path)
            pstats.Stats(str(path)).sort_stats("tottime").print_stats(20)
        else:
            result = stages[name]()
        children = os.times()
        print(f"{name}: {time.perf_counter() - began:.1f} s wall, {time.process_time() - cpu:.1f} s CPU (this process), "
              f"result {result}, load {load} (children CPU so far {children.children_user + children.children_system:.1f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
