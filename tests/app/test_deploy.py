"""deploy/: the systemd units start what `followup serve` accepts, the UI stays on loopback behind
the proxy's login, and the environment file names only variables followup reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from orchestration.cli import _parser

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))


def unit_setting(unit: Path, name: str) -> str:
    values = [line.split("=", 1)[1] for line in unit.read_text(encoding="utf-8").splitlines()
              if line.startswith(f"{name}=")]
    assert len(values) == 1, (unit.name, name, values)
    return values[0]


def test_there_is_a_unit_for_the_webserver_and_one_for_the_daemon():
    assert [u.name for u in UNITS] == ["followup-daemon.service", "followup-webserver.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_each_unit_runs_one_followup_serve_process_as_its_own_user(unit):
    program, *arguments = shlex.split(unit_setting(unit, "ExecStart"))
    assert program.endswith("/.venv/bin/followup")
    args = _parser().parse_args(arguments)
    assert args.command == "serve" and args.home and args.only == unit.stem.removeprefix("followup-")
    assert unit_setting(unit, "User") == "followup" and unit_setting(unit, "KillSignal") == "SIGTERM"
    # followup serve waits up to 30 s for its processes; systemd must not kill it before that.
    assert int(unit_setting(unit, "TimeoutStopSec")) > 30


def test_the_ui_listens_on_loopback_only_and_the_proxy_asks_for_a_login_over_https():
    arguments = shlex.split(unit_setting(DEPLOY / "followup-webserver.service", "ExecStart"))[1:]
    args = _parser().parse_args(arguments)
    assert args.host == "127.0.0.1"
    proxy = (DEPLOY / "nginx-followup.conf").read_text(encoding="utf-8")
    assert f"proxy_pass http://127.0.0.1:{args.port};" in proxy
    tls_server = proxy[proxy.index("listen 443 ssl"):]
    assert re.search(r"^\s*auth_basic \"followup\";", tls_server, re.M)           # for every location
    assert "auth_basic off" not in proxy
    assert "return 301 https://" in proxy[:proxy.index("listen 443 ssl")]          # plain HTTP only redirects


def test_the_environment_example_names_only_variables_followup_reads():
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "followup.env.example").read_text(encoding="utf-8"), re.M)
    assert "FOLLOWUP_CONFIG" in names and "FOLLOWUP_DAGSTER_POSTGRES_URL" in names
    code = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "orchestration").rglob("*.py"))
    assert [n for n in names if f'"{n}"' not in code] == []
