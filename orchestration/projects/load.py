"""Write the projects configuration into the warehouse, where dbt reads it as a source."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.layout import upgrade_home
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.projects.config import ConfigError, ProjectsConfig, load_kommuner


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
    questions, categories, rules = _mapping_rows(config)
    with connect(warehouse) as db:
        _refuse_changed_questions(db, config, questions)
        db.execute("begin transaction")
        for table in ("projects", "project_municipalities", "project_activity_outcomes", "project_targets",
                      "mapping_questions", "mapping_categories", "mapping_inventory_rules"):
            db.execute(f"delete from landing.{table}")
        db.executemany("insert into landing.projects values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", projects)
        if municipalities:
            db.executemany("insert into landing.project_municipalities values (?, ?, ?)", municipalities)
        db.executemany("insert into landing.project_activity_outcomes values (?, ?)", outcomes)
        if targets:
            db.executemany("insert into landing.project_targets values (?, ?, ?)", targets)
        if questions:
            db.executemany("insert into landing.mapping_questions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", questions)
        if categories:
            db.executemany("insert into landing.mapping_categories values (?, ?, ?, ?, ?, ?, ?)", categories)
        if rules:
            db.executemany("insert into landing.mapping_inventory_rules values (?, ?, ?, ?)", rules)
        db.execute("commit")
    return {"projects": len(projects), "municipalities": len(municipalities), "targets": len(targets),
            "mapping_questions": len(questions)}


def _mapping_rows(config: ProjectsConfig) -> tuple[list[tuple], list[tuple], list[tuple]]:
    questions, categories, rules = [], [], []
    for project in config.projects:
        if project.mapping is None:
            continue
        for order, question in enumerate(project.mapping.questions, start=1):
            questions.append((project.id, question.id, order, question.domain, question.text, question.type,
                              question.required, question.minimum, question.maximum, question.fingerprint()))
            for position, category in enumerate(question.categories(), start=1):
                categories.append((project.id, question.id, category.code, category.label, position,
                                   category.lower, category.upper))
        for figure, conditions in project.mapping.inventory:
            rules += [(project.id, figure, question_id, code) for question_id, codes in conditions for code in codes]
    return questions, categories, rules


def _refuse_changed_questions(db, config: ProjectsConfig, questions: list[tuple]) -> None:
    """A question whose wording changed under an id that already has answers in the warehouse is
    refused: answers to two wordings would be pooled in one figure. A new wording takes a new id."""
    new = {(row[0], row[1]): row[9] for row in questions}
    stored = db.execute(
        "select q.project_id, q.question_id, q.fingerprint from landing.mapping_questions q "
        "where exists (select 1 from landing.mapping_pseudonymised_answers a "
        "              join landing.deliveries d using (delivery_id) "
        "              where d.project_id = q.project_id and a.question_id = q.question_id)").fetchall()
    for project_id, question_id, fingerprint in stored:
        if (project_id, question_id) in new and new[(project_id, question_id)] != fingerprint:
            raise ConfigError(
                f"{config.source}: projekt '{project_id}', fält kartlaggning.questions[{question_id}]: frågan har "
                "ändrats (text, svarstyp, koder eller skala) men det finns redan svar på den. Svar på olika "
                f"formuleringar får inte räknas ihop: ge den ändrade frågan ett nytt id, t.ex. '{question_id}_2', "
                "och låt den gamla stå kvar eller tas bort.")
