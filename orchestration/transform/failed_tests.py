"""What a failed dbt test found, said in the step's failure: dbt itself says only "Got 3 results"
of a test that checks every rule of a model (dbt/tests/generic/rules.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.lib.warehouse import connect

# Rules whose offending values are codes (a phase, a month, a share), never a key or a pseudonym,
# and so may be shown in the message.
RULES_WITH_SHOWN_VALUES = ("accepted_values", "patterns", "between")
SHOWN_PER_TEST = 10


@dataclass(frozen=True)
class FailedTest:
    name: str
    failures: int
    broken: list[str]          # one line per broken rule of a `rules` test, empty for another test


def failed_tests(nodes, warehouse: Path) -> list[FailedTest]:
    """The data tests that failed among a dbt invocation's node results (dbt_build.NodeResult),
    with the rules each broke (read again from the warehouse with the test's compiled query)."""
    failed = []
    for node in nodes:
        if node.status != "fail" or not node.unique_id.startswith("test."):
            continue
        name = node.unique_id.split(".")[2]
        failed.append(FailedTest(name, int(node.failures or 0), _broken_rules(name, node.compiled_code, warehouse)))
    return failed


def _broken_rules(name: str, code: str | None, warehouse: Path) -> list[str]:
    if not name.startswith("rules_") or not code:
        return []
    try:
        with connect(warehouse, read_only=True) as db:
            rows = db.execute(f"select rule, column_names, value, row_count from ({code}) "
                              f"order by rule, column_names, row_count desc limit {SHOWN_PER_TEST + 1}").fetchall()
    except duckdb.Error:
        return []               # the warehouse is held or changed since: the test's name still says where
    lines = [f"{rule} {columns}" + (f" = {value!r}" if value is not None and rule.startswith(RULES_WITH_SHOWN_VALUES) else "")
             + f" ({count} {'rad' if count == 1 else 'rader'})" for rule, columns, value, count in rows[:SHOWN_PER_TEST]]
    if len(rows) > SHOWN_PER_TEST:
        lines.append("…")
    return lines


def describe(failed: list[FailedTest], target: Path) -> str:
    """The failure as the Dagster UI shows it, in Swedish."""
    lines = ["dbt-testerna hittade fel, så det som bygger på de testade tabellerna byggdes inte och exporterna skrevs inte om:"]
    for test in failed:
        lines.append(f"- {test.name}: {test.failures} fel")
        lines += [f"    {line}" for line in test.broken]
    lines.append("Samma data ger samma fel vid ett nytt försök, så steget försöker inte igen. Testernas frågor "
                 f"och dbt:s logg finns i {target}.")
    return "\n".join(lines)
