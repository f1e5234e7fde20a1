"""The names of Dagster and dagster-dbt that are not public API are in lib/dagster_internals.py only,
and still there, with the shape the product uses, in the installed versions."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

ORCHESTRATION = Path(__file__).resolve().parents[2] / "orchestration"
INTERNAL_IMPORT = re.compile(r"^\s*(from|import)\s+(dagster\._|dagster_dbt\.(?!\s*import))", re.MULTILINE)


def test_only_lib_dagster_internals_imports_what_dagster_does_not_make_public():
    importing = sorted(str(path.relative_to(ORCHESTRATION)) for path in ORCHESTRATION.rglob("*.py")
                       if INTERNAL_IMPORT.search(path.read_text(encoding="utf-8")))
    assert importing == ["lib/dagster_internals.py"]


def test_the_internal_names_have_the_shape_the_product_uses():
    from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
    from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

    from orchestration.lib.dagster_internals import DATA_VERSION_TAG, AssetCheckEvaluationTargetMaterializationData

    assert DATA_VERSION_TAG == "dagster/data_version"
    target = AssetCheckEvaluationTargetMaterializationData(storage_id=7, run_id="r", timestamp=1.0)
    assert (target.storage_id, target.run_id) == (7, "r")
    selection = inspect.signature(get_updated_cli_invocation_params_for_context).parameters
    assert {"context", "manifest", "dagster_dbt_translator", "runtime_excludes"} <= set(selection)
    events = inspect.signature(DbtCoreCliEventMessage.to_default_asset_events).parameters
    assert {"manifest", "dagster_dbt_translator", "context", "target_path", "project"} <= set(events)
    message = DbtCoreCliEventMessage(raw_event={"info": {"name": "MainReportVersion"}, "data": {}},
                                     event_history_metadata={})
    assert not message.is_result_event
