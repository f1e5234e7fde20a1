"""`followup`: demo, run, export, status, create-key, purge-raw (shared/spec/cli.md).

Exit codes: 0 the command did its work (rejected deliveries included), 1 the run itself failed,
2 a usage or configuration error. Messages are for people; no exception trace is the interface.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from orchestration.lib.home import DataHome
from orchestration.lib.telemetry import disable_telemetry

DEMO_HOME = Path(".followup-demo")


class UsageError(Exception):
    """A usage or configuration problem: exit code 2."""


def main(argv: list[str] | None = None) -> int:
    disable_telemetry()
    for stream in (sys.stdout, sys.stderr):  # a terminal without UTF-8 still gets å, ä, ö or '?'
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"followup: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("followup: avbrutet.", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the last line of defence: a message, not a trace
        log = _write_crash_log(args)
        print(f"followup: oväntat fel ({type(error).__name__}: {error}). Detaljer i {log}.", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="followup", description="Uppföljning av projekt för unga som varken arbetar eller studerar.")
    commands = parser.add_subparsers(dest="command")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--home", help="data home (default: $FOLLOWUP_HOME, else ./.followup)")
        sub.set_defaults(handler=handler)
        return sub

    demo = command("demo", _demo, "generate synthetic deliveries for the example projects and run everything")
    run = command("run", _run, "ingest new deliveries and bring every table up to date")
    run.add_argument("--config", help="projects configuration (default: $FOLLOWUP_CONFIG, else the bundled example)")
    run.add_argument("--project", help="only this project's inbox")
    export = command("export", _export, "write the funder tables (kpi.csv) per project")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--project")
    export.add_argument("--period", help="YYYY-MM (default: the newest month with deliveries)")
    export.add_argument("--unsuppressed", action="store_true", help="exact figures for the region's own coordinators")
    export.add_argument("--config")
    status = command("status", _status, "which municipality delivered which month, verdicts, what is missing")
    status.add_argument("--project")
    status.add_argument("--config")
    status.add_argument("--deadline-day", type=int, default=10, metavar="N",
                        help="a month's delivery is late when received after day N of the following month (1–28, default 10)")
    command("create-key", _create_key, "create the pseudonymisation key file (mode 0600) in the data home")
    rotate = command("rotate-key", _rotate_key,
                     "replace the pseudonymisation key and pseudonymise every delivery again from the archive")
    rotate.add_argument("--config", help="projects configuration (default: $FOLLOWUP_CONFIG, else the bundled example)")
    purge = command("purge-raw", _purge_raw, "delete archived raw files past the retention time, and say what was deleted")
    purge.add_argument("--older-than", required=True, type=int, metavar="DAYS",
                       help="delete raw files received more than DAYS days ago (already processed ones only)")
    purge.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    return parser


def _config(path: str | None):
    from orchestration.projects.config import ConfigError, load_projects

    try:
        return load_projects(path or _env_config())
    except ConfigError as error:
        raise UsageError(str(error))


def _env_config() -> str | None:
    import os

    return os.environ.get("FOLLOWUP_CONFIG") or None


def _require_key(home: DataHome, required: bool = True) -> None:
    """The key must be the one that built the home (checked before anything is read); a key file
    others can read is warned about. `required=False`: only a key that is there is checked."""
    from orchestration.privacy.keys import PseudonymKeyError, check_key, key_file_warning, key_path, load_key

    if not required and not os.environ.get("FOLLOWUP_PSEUDONYM_KEY") and not key_path(home.root).exists():
        return
    try:
        check_key(home.root, load_key(home.root))
    except PseudonymKeyError as error:
        raise UsageError(str(error))
    warning = key_file_warning(home.root)
    if warning:
        print(f"followup: {warning}", file=sys.stderr)


def _existing_warehouse(args: argparse.Namespace):
    """Home and configuration for the commands that read a warehouse a run has built."""
    home = DataHome.resolve(args.home)
    if not home.warehouse.exists():
        raise UsageError(f"inget lager i {home.root}. Kör `followup run --home {home.root}` först.")
    config = _config(args.config)
    _check_project(args.project, config)
    return home, config


def _check_project(project_id: str | None, config) -> None:
    if project_id and not any(p.id == project_id for p in config.projects):
        raise UsageError(f"okänt projekt '{project_id}'. Konfigurerade: {', '.join(p.id for p in config.projects)}.")


def _run(args: argparse.Namespace) -> int:
    home = DataHome.resolve(args.home)
    _check_project(args.project, _config(args.config))
    _require_key(home)
    return _run_and_report(home, args.config or _env_config(), args.project)


def _run_and_report(home: DataHome, config_path: str | None, project_id: str | None = None,
                    compact: bool = False) -> int:
    from orchestration.runner import run_pipeline

    outcome = run_pipeline(home, config_path, project_id)
    if outcome.deliveries and compact:
        _print_summary(outcome.deliveries)
    elif outcome.deliveries:
        print(f"{'projekt':<18} {'kommun':<6} {'månad':<8} {'godkända':>8} {'avvisade':>8}  utfall")
        for d in outcome.deliveries:
            reason = f" ({d.reason})" if d.reason else ""
            print(f"{d.project_id:<18} {d.kommunkod:<6} {d.reporting_month:<8} {d.rows_accepted:>8} {d.rows_rejected:>8}  {d.verdict}{reason}")
    else:
        print("Inga nya leveranser.")
    for path, message in outcome.not_ingested:
        print(f"Inte inläst: {path}: {message}")
    if not outcome.success:
        print(f"followup: körningen misslyckades: {outcome.failure}", file=sys.stderr)
        print(f"Se körning {outcome.run_id} i Dagster (DAGSTER_HOME={home.dagster}) och loggen {outcome.log_path}.",
              file=sys.stderr)
        return 1
    return 0


def _print_summary(deliveries) -> None:
    """Per project: how many deliveries got which verdict; then every one that needs attention."""
    by_project: dict[str, dict[str, int]] = {}
    for d in deliveries:
        counts = by_project.setdefault(d.project_id, {})
        counts[d.verdict] = counts.get(d.verdict, 0) + 1
    for project_id, counts in by_project.items():
        print(f"{project_id:<18} " + ", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())))
    for d in deliveries:
        if d.verdict != "ACCEPTED":
            reason = f" ({d.reason})" if d.reason else ""
            print(f"  att åtgärda: {d.project_id} {d.kommunkod} {d.reporting_month} {d.file_name}: "
                  f"{d.rows_accepted} godkända, {d.rows_rejected} avvisade rader, {d.verdict}{reason}")


def _demo(args: argparse.Namespace) -> int:
    from orchestration.generator import generate_deliveries
    from orchestration.privacy.keys import create_key, key_path
    from orchestration.reporting.export import export_all, figures_built_by
    from orchestration.reporting.headline import format_headlines, headlines

    home = DataHome.resolve(args.home or DEMO_HOME).create()
    config = _config(None)
    if not key_path(home.root).exists():
        create_key(home.root)
        print(f"Skapade en pseudonymiseringsnyckel för demon: {key_path(home.root)} (rättigheter 0600).")
    simulation = generate_deliveries(config, home.inbox)
    print(f"Genererade {len(simulation.files)} syntetiska leveranser för {len(config.projects)} projekt i {home.inbox}.")
    status = _run_and_report(home, None, compact=True)
    if status != 0:
        return status
    exported = export_all(home.warehouse, config, home.exports, built_by=figures_built_by(home.dagster, home.warehouse))
    print()
    print(format_headlines(headlines(home.warehouse, config)))
    print()
    print(f"Funder tables (kpi.csv, kpi.xlsx): {', '.join(str(e.path.parent) for e in exported)}")
    print(f"One-page reports: {home.exports}/<project>/rapport.html (written by the run)")
    print("Dashboards: make dashboard   (or: DAGSTER_HOME=" f"{home.dagster} FOLLOWUP_HOME={home.root} .venv/bin/dagster dev)")
    print(f"Leveransstatus: .venv/bin/followup status --home {home.root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from orchestration.reporting.export import export_all, figures_built_by

    home, config = _existing_warehouse(args)
    _require_key(home, required=False)   # export needs no key, but another one means a misconfigured home
    if args.period and not _is_month(args.period):
        raise UsageError(f"--period '{args.period}' ska ha formen ÅÅÅÅ-MM.")
    exported = export_all(home.warehouse, config, Path(args.out), args.project, args.period, args.unsuppressed,
                          built_by=figures_built_by(home.dagster, home.warehouse))
    for e in exported:
        print(f"{e.project_id}: {e.period}: {e.rows} rader → {e.path} och {e.workbook}")
    if not exported:
        print("Inget att exportera: inga godkända leveranser ännu.")
    return 0


def _is_month(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text))


def _status(args: argparse.Namespace) -> int:
    from orchestration.reporting.status import format_status

    home, config = _existing_warehouse(args)
    if not 1 <= args.deadline_day <= 28:
        raise UsageError(f"--deadline-day {args.deadline_day}: ange en dag 1–28.")
    print(format_status(home.warehouse, config, args.project, deadline_day=args.deadline_day, inbox=home.inbox))
    if (home.reports / "index.html").exists():
        print(f"Leveransrapporter per fil: {home.reports / 'index.html'}")
    return 0


def _create_key(args: argparse.Namespace) -> int:
    from orchestration.privacy.keys import PseudonymKeyError, create_key

    home = DataHome.resolve(args.home)
    try:
        path = create_key(home.root)
    except PseudonymKeyError as error:
        raise UsageError(str(error))
    print(f"Nyckeln skrevs till {path} (rättigheter 0600). Förvara en kopia säkert: utan den kan nya "
          "leveranser inte kopplas till tidigare pseudonymer.")
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    """A new key; every delivery is put back to waiting and the run pseudonymises it again."""
    from orchestration.privacy.keys import PseudonymKeyError, load_key
    from orchestration.privacy.rotation import NEW_KEY_ENV_VAR, rotate_key

    home = DataHome.resolve(args.home)
    if not home.warehouse.exists():
        raise UsageError(f"inget lager i {home.root}: inget att pseudonymisera om. Skapa en nyckel med "
                         f"`followup create-key --home {home.root}`.")
    _config(args.config)
    try:
        report = rotate_key(home, load_key(home.root))
    except PseudonymKeyError as error:
        raise UsageError(str(error))
    if report.resumed:
        print("Ett avbrutet nyckelbyte slutfördes.")
    else:
        print(f"Ny nyckel. {report.deliveries_reset} leveranser pseudonymiseras om från arkivet.")
    if report.new_key_file:
        print(f"Den nya nyckeln ligger i {report.new_key_file} (rättigheter 0600); den gamla är raderad. "
              "Byt ut säkerhetskopian av nyckeln och förstör den gamla.")
    else:
        os.environ["FOLLOWUP_PSEUDONYM_KEY"] = os.environ[NEW_KEY_ENV_VAR]
        print(f"Flytta nu den nya nyckeln från {NEW_KEY_ENV_VAR} till FOLLOWUP_PSEUDONYM_KEY i er "
              "hemlighetshantering och förstör den gamla.")
    return _run_and_report(home, args.config or _env_config())


def _purge_raw(args: argparse.Namespace) -> int:
    from orchestration.privacy.retention import PurgeError, purge_raw

    home = DataHome.resolve(args.home)
    if args.older_than < 0:
        raise UsageError(f"--older-than {args.older_than}: ange ett antal dagar, 0 eller mer.")
    if not home.warehouse.exists():
        raise UsageError(f"inget lager i {home.root}. Kör `followup run --home {home.root}` först.")
    try:
        report = purge_raw(home, args.older_than, dry_run=args.dry_run)
    except PurgeError as error:
        print(f"followup: {error}", file=sys.stderr)
        return 1
    verb = "skulle raderas" if args.dry_run else "raderad"
    for file, copies in report.deleted:
        inbox = f", {copies} kopia(or) i inkorgen" if copies else ""
        print(f"{verb}: {file.sha256} ({file.kind}, mottagen {file.received_at:%Y-%m-%d}, "
              f"{file.size_bytes} byte, {file.deliveries} leverans(er){inbox})")
    cutoff = f"{report.cutoff:%Y-%m-%d %H:%M} UTC"
    if not report.deleted:
        print(f"Inga arkiverade råfiler mottagna före {cutoff} att radera.")
    elif args.dry_run:
        print(f"{len(report.deleted)} filer mottagna före {cutoff} skulle raderas (inget raderades: --dry-run).")
    else:
        print(f"{len(report.deleted)} råfiler mottagna före {cutoff} raderade; loggade i landing.raw_purges "
              f"({sum(f.size_bytes for f, _ in report.deleted)} byte).")
    if report.kept_pending:
        print(f"{report.kept_pending} filer behölls: deras leveranser är inte färdigbehandlade. Kör `followup run` först.")
    for file, error in report.failed:
        print(f"followup: kunde inte radera {file.path} ({error}). Kontrollera rättigheterna och kör igen.",
              file=sys.stderr)
    return 1 if report.failed else 0


def _write_crash_log(args: argparse.Namespace) -> Path:
    home = DataHome.resolve(getattr(args, "home", None) or None)
    log = home.root / "logs" / "followup-error.log"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        pass
    return log


if __name__ == "__main__":
    sys.exit(main())
