"""Dagster's PostgreSQL storage as the data home's dagster.yaml names it (lib/dagster_instance.py).

dagster-postgres is written for psycopg2 and installs only it, but SQLAlchemy 2.1 (our lock) reads a
bare `postgresql://` URL with psycopg 3, which is not installed (ModuleNotFoundError: psycopg) and
would not do: dagster-postgres' connection hook for the webserver (`with conn:`) closes a psycopg 3
connection. This storage is dagster-postgres' own with the URL's driver said: `postgresql+psycopg2`.
So the operator writes the plain libpq URL that psql and pg_dump read as well. Every Dagster process
of the home (a run, the webserver, the daemon, their run workers) loads it by module and class name.
"""

from __future__ import annotations

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

PSYCOPG2 = "postgresql+psycopg2"


def with_psycopg2(url: str) -> str:
    """`url` with SQLAlchemy's psycopg2 driver named (`postgresql://` or `postgres://` → `postgresql+psycopg2://`)."""
    scheme, separator, rest = url.partition("://")
    return f"{PSYCOPG2}://{rest}" if separator and scheme in ("postgresql", "postgres") else url


class PostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage, reading its URL with psycopg2 (see the module's docstring)."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PostgresStorage:  # ty: ignore[invalid-method-override]
        return cls(
            inst_data=inst_data,
            postgres_url=with_psycopg2(pg_url_from_config(config_value)),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
