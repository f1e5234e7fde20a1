"""Dagster's PostgreSQL storage as the data home's dagster.yaml names it (lib/dagster_instance.py):
dagster-postgres' own, with two corrections for Dagster 1.13.27.

The driver. dagster-postgres is written for psycopg2 and installs only it, but SQLAlchemy 2.1 (our
lock) reads a bare `postgresql://` URL with psycopg 3, which is not installed (ModuleNotFoundError:
psycopg) and would not do: dagster-postgres' connection hook for the webserver (`with conn:`)
closes a psycopg 3 connection. So the URL's driver is said, `postgresql+psycopg2`, and the operator
writes the plain libpq URL that psql and pg_dump read as well.

The pool slots. The `warehouse` pool has one slot, so that one step at a time writes the warehouse.
Dagster claims a slot in separate autocommit statements (is a slot unassigned? queue the step as
assigned; SELECT a free slot FOR UPDATE SKIP LOCKED, whose lock ends with that statement; UPDATE it
without checking it is still free), so two processes asking at the same moment can both get the one
slot; and the first use of a pool inserts its limit, catches the unique violation of a concurrent
insert and goes on in a transaction PostgreSQL has already aborted, failing the step. Here claims,
frees and that first insert take turns under one PostgreSQL advisory lock per database (one
database per data home), and a pool whose limit is already set is not set again.

Every Dagster process of the home (a run, the webserver, the daemon, their run workers) loads this
storage by module and class name from the home's dagster.yaml.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import sqlalchemy
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

PSYCOPG2 = "postgresql+psycopg2"
POOL_LOCK = 0x666F6C6C6F777570        # "followup": the advisory lock key of the pools' bookkeeping
_holding = threading.local()


def with_psycopg2(url: str) -> str:
    """`url` with SQLAlchemy's psycopg2 driver named (`postgresql://` or `postgres://` → `postgresql+psycopg2://`)."""
    scheme, separator, rest = url.partition("://")
    return f"{PSYCOPG2}://{rest}" if separator and scheme in ("postgresql", "postgres") else url


class PoolSafeEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage whose pool bookkeeping takes turns across processes (module docstring)."""

    @contextlib.contextmanager
    def _pools_in_turn(self) -> Iterator[None]:
        if getattr(_holding, "lock", False):              # already ours in this thread
            yield
            return
        with self._engine.connect() as connection:
            connection = connection.execution_options(isolation_level="READ COMMITTED")
            with connection.begin():                       # the lock ends with this transaction
                connection.execute(sqlalchemy.text("select pg_advisory_xact_lock(:key)"), {"key": POOL_LOCK})
                _holding.lock = True
                try:
                    yield
                finally:
                    _holding.lock = False

    def claim_concurrency_slot(self, concurrency_key, run_id, step_key, priority=None):
        with self._pools_in_turn():
            return super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)

    def free_concurrency_slots_for_run(self, run_id):
        with self._pools_in_turn():
            return super().free_concurrency_slots_for_run(run_id)

    def free_concurrency_slot_for_step(self, run_id, step_key):
        with self._pools_in_turn():
            return super().free_concurrency_slot_for_step(run_id, step_key)

    def initialize_concurrency_limit_to_default(self, concurrency_key):
        with self._pools_in_turn():
            default = self._instance.global_op_concurrency_default_limit if self.has_instance else None
            if default is not None and any(pool.name == concurrency_key and pool.limit == default
                                           for pool in self.get_pool_limits()):
                return True                                # another process set it while this one waited
            return super().initialize_concurrency_limit_to_default(concurrency_key)


class PostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage reading its URL with psycopg2, its pools kept by PoolSafeEventLogStorage."""

    def __init__(self, postgres_url, should_autocreate_tables=True, inst_data=None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._event_log_storage.dispose()
        self._event_log_storage = PoolSafeEventLogStorage(postgres_url, should_autocreate_tables,
                                                          token_provider=token_provider)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PostgresStorage:  # ty: ignore[invalid-method-override]
        return cls(
            inst_data=inst_data,
            postgres_url=with_psycopg2(pg_url_from_config(config_value)),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
