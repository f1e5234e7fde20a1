"""Write the projects configuration into the warehouse, where dbt reads it as a source."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.layout import upgrade_home
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.projects.config import ProjectsConfig, load_kommuner


def write_config_tables(warehouse: Path, config: ProjectsConfig) -> dict[str, int]:
    """Replace the landing.project* tables with this configuration, in one transaction.

    The first step of every run, whoever starts it (followup run, the schedule, the sensor, the UI),
    so the home is checked here: a newer one refused, an older one upgraded (lib/layout.py; the
    warehouse lies at the home's root)."""
    upgrade_home(warehouse.parent)
    ensure_schema(warehouse)
    kommuner = load_kommuner()
    projects = [
        (p.id, p.name, p.owner, p.funder, p.period_start, p.period_end, p.age_min, p.age_max,
         p.target_population, p.min_count)
        for p in config.projects
    ]
    municipalities = [(p.id, code, kommuner[code]) for p in config.projects for code in p.municipalities]
    outcomes = [(p.id, code) for p in config.projects for code in p.activity_outcomes]
    targets = [(p.id, kpi, value) for p in config.projects for kpi, value in p.targets.items()]
    with connect(warehouse) as db:
        db.execute("begin transaction")
        for table in ("projects", "project_municipalities", "project_activity_outcomes", "project_targets"):
            db.execute(f"delete from landing.{table}")
        db.executemany("insert into landing.projects values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", projects)
        if municipalities:
            db.executemany("insert into landing.project_municipalities values (?, ?, ?)", municipalities)
        db.executemany("insert into landing.project_activity_outcomes values (?, ?)", outcomes)
        if targets:
            db.executemany("insert into landing.project_targets values (?, ?, ?)", targets)
        db.execute("commit")
    return {"projects": len(projects), "municipalities": len(municipalities), "targets": len(targets)}
