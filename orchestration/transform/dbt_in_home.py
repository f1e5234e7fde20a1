"""`followup-dbt`: dbt, started in the directory of the warehouse it builds.

The profile names the warehouse by a path relative to that directory, so dbt's saved parse
(`partial_parse.msgpack`, whose validity depends on every connection setting, the path among
them) fits every data home: the parse made at install time is reused by a new home's first run
and by a copied or restored home, instead of a full parse of the project.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestration.lib.home import WAREHOUSE_FILE

WAREHOUSE_ENV = "FOLLOWUP_WAREHOUSE"          # read by dbt/profiles.yml


def main() -> None:
    warehouse = Path(os.environ.get(WAREHOUSE_ENV, WAREHOUSE_FILE)).resolve()
    os.chdir(warehouse.parent)
    os.environ[WAREHOUSE_ENV] = warehouse.name     # a data home's is always WAREHOUSE_FILE
    from dbt.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
