"""The data home: where deliveries, archive, warehouse, reports, exports, key and Dagster live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path(".followup")
WAREHOUSE_FILE = "warehouse.duckdb"      # at the home's root; dbt/profiles.yml names it the same by default


@dataclass(frozen=True)
class DataHome:
    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> "DataHome":
        """--home, else FOLLOWUP_HOME, else ./.followup (cli.md)."""
        chosen = home or os.environ.get("FOLLOWUP_HOME") or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def warehouse(self) -> Path:
        return self.root / WAREHOUSE_FILE

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def dagster(self) -> Path:
        return self.root / "dagster"

    def create(self) -> "DataHome":
        for folder in (self.inbox, self.archive, self.reports, self.exports, self.dagster):
            folder.mkdir(parents=True, exist_ok=True)
        return self
