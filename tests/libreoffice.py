"""LibreOffice (headless) for the tests that look at the funder workbooks as a reader would.

Where `soffice` (or a tool a test names) is missing the tests skip, except when
FOLLOWUP_REQUIRE_LIBREOFFICE is set (CI sets it, .ci/run installs them), where it is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def require(*tools: str, install: str = "libreoffice-calc-nogui") -> None:
    """Skip (or in CI fail) unless LibreOffice and the named tools are installed."""
    missing = [name for name, found in (("soffice", SOFFICE), *((t, shutil.which(t)) for t in tools)) if not found]
    if not missing:
        return
    if os.environ.get("FOLLOWUP_REQUIRE_LIBREOFFICE"):
        pytest.fail(f"{', '.join(missing)} required here but not installed: apt-get install {install}")
    pytest.skip(f"{', '.join(missing)} not installed")


def convert_workbooks(exported, work: Path, target: str, outdir: str) -> tuple[dict[str, Path], subprocess.CompletedProcess]:
    """Copy each exported kpi.xlsx to `work/<project>.xlsx` and convert them all in one LibreOffice
    call (`--convert-to target`) into `work/outdir`; project id → the copy, and the call's result."""
    books = {}
    for workbook in exported:
        copy = work / f"{workbook.project_id}.xlsx"
        shutil.copyfile(workbook.workbook, copy)
        books[workbook.project_id] = copy
    result = subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{work / 'profile'}", "--headless", "--convert-to", target,
         "--outdir", str(work / outdir), *map(str, books.values())],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return books, result
