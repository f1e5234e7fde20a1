"""Every name of Dagster or dagster-dbt that is not public API, in one place: what the product needs
and no public API offers. tests/lib/test_dagster_internals.py imports and calls each, so an upgrade that
moves or changes one fails there, naming it, instead of in the middle of a run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

# The tag Dagster keeps an event's data version under; `event_log_status` asks the event log for it per
# partition (public API reads it one partition at a time).
from dagster._core.definitions.data_version import DATA_VERSION_TAG  # noqa: F401 - re-exported
# What makes a check result point at the materialization of its partition (the UI's partition grid
# shows a check only for the partition's latest materialization).
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # noqa: F401 - re-exported
    AssetCheckEvaluationTargetMaterializationData,
)


def dbt_selection(context: dg.AssetExecutionContext, translator: Any, excludes: Sequence[str]) -> Any:
    """The dbt selection of the assets this step materialises, as dagster-dbt's own `dbt build` would
    select them (dbt runs in the run's process, not through dagster-dbt's CLI resource)."""
    from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context

    return get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=translator, runtime_excludes=list(excludes))


def dbt_asset_events(raw: dict, context: dg.AssetExecutionContext, selection: Any, target: Path,
                     project: Any) -> Iterator[Any]:
    """dagster-dbt's materialisations and asset-check results of one raw dbt result event."""
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    message = DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={})
    yield from message.to_default_asset_events(manifest=selection.manifest, dagster_dbt_translator=selection.dagster_dbt_translator,
                                               context=context, target_path=target, project=project)
