"""`followup`: demo, run, export, status, template, doctor, backup, restore, serve, create-key, rotate-key, purge-raw.

Exit codes: 0 the command did its work (rejected deliveries included), 1 the run itself failed
(a full disk among the reasons, said as such), 2 a usage or configuration error, 3 another run
holds the data home or its warehouse and the command did not wait for it (`--wait MINUTES`).

Messages are for people; no exception trace is the interface. An unexpected failure is appended
to <home>/logs/followup-error.log. What a command prints that comes from delivered files (file
names, messages about them, failures that quote them) passes through `safe_text.console`: no
escape sequence in a municipality's file name reaches the operator's terminal. A closed stdout
(`followup status | head`) ends the command quietly.

One writer at a time: `run`, `demo`, `rotate-key` and `purge-raw` hold the data home's run lock
(lib/runlock.py) for the whole command. `status` and `export` take no lock: while a run holds
the warehouse they read the copy the last successful run left (lib/warehouse_copy.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestration.lib.contract import REJECTED
from orchestration.lib.delivery_state import STATE_LABELS, VERDICT_LABELS
from orchestration.lib.home import DataHome
from orchestration.lib.safe_text import console
from orchestration.lib.swedish_argparse import SwedishArgumentParser
from orchestration.lib.telemetry import disable_telemetry
from orchestration.lib.thresholds import DEADLINE_DAY

DEMO_HOME = Path(".followup-demo")

EXIT_DONE, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3
# How long `status` and `export` wait for a warehouse held by a run when there is no read copy
# yet (the first run of a data home) and no --wait was given.
READ_WAIT_MINUTES = 5.0

EXIT_CODES_HELP = ("Slutkoder: 0 klart (även om leveranser avvisades), 1 körningen misslyckades (en full disk sägs "
                   "som sådan), 2 fel i kommandot eller konfigurationen, 3 en annan körning håller datahemmet (vänta "
                   "på den med --wait MINUTER).")


class UsageError(Exception):
    """A usage or configuration problem: exit code 2."""


class Busy(Exception):
    """Another run holds the data home or the warehouse: exit code 3."""


def main(argv: list[str] | None = None) -> int:
    disable_telemetry()
    for stream in (sys.stdout, sys.stderr):  # a terminal without UTF-8 still gets å, ä, ö or '?'
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    status = None
    try:
        status = _dispatch(args, argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _stdout_gone()
        return EXIT_DONE if status is None else status


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    from orchestration.lib.dagster_instance import DagsterStorageError
    from orchestration.lib.layout import HomeLayoutError, refuse_newer
    from orchestration.lib.settings import SettingsError

    try:
        if args.command != "restore":       # restore's --home is a new home; restore checks the backup's version
            refuse_newer(_home_of(args))    # a home a newer release wrote: refused before anything is touched
        return args.handler(args)
    except BrokenPipeError:
        raise
    except (UsageError, HomeLayoutError, DagsterStorageError, SettingsError) as error:   # DagsterStorageError: a wrong PostgreSQL URL
        _error(str(error))
        return EXIT_USAGE
    except Busy as error:
        _error(str(error))
        return EXIT_BUSY
    except KeyboardInterrupt:
        _error("avbrutet.")
        return EXIT_FAILED
    except Exception as error:  # noqa: BLE001 - the last line of defence: a message, not a trace
        from orchestration.lib.diskspace import is_disk_full
        from orchestration.lib.runlock import RunLockBusy, WarehouseBusy, warehouse_lock_holder

        home = _home_of(args)
        if isinstance(error, (RunLockBusy, WarehouseBusy)):
            _error(_busy_message(error, args.command))
            return EXIT_BUSY
        if is_disk_full(error, home.root):
            _error(_disk_full_message(home, args.command, error))
            return EXIT_FAILED
        holder = warehouse_lock_holder(error)
        if holder is not None:
            _error(_warehouse_held_message(home.warehouse, holder.describe(), args.command))
            return EXIT_BUSY
        log, written = _write_crash_log(home, argv)
        where = f"Detaljer i {log}." if written else f"Detaljerna kunde inte skrivas till {log}."
        _error(f"oväntat fel ({type(error).__name__}: {error}). {where}")
        return EXIT_FAILED


def _error(text: str) -> None:
    print(console(f"followup: {text}"), file=sys.stderr, flush=True)


def _stdout_gone() -> None:
    """The reader of our stdout went away (`| head`): nothing more to say, and nothing for the
    interpreter to fail on when it flushes stdout at exit (Python's documentation on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _home_of(args: argparse.Namespace) -> DataHome:
    default = DEMO_HOME if getattr(args, "command", None) == "demo" else None
    return DataHome.resolve(getattr(args, "home", None) or default)


def _parser() -> argparse.ArgumentParser:
    parser = SwedishArgumentParser(prog="followup", description="Uppföljning av projekt för unga som varken arbetar "
                                                                  "eller studerar.")
    commands = parser.add_subparsers(dest="command")

    def command(name: str, handler, help_text: str, writes: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  epilog=(WRITER_HELP + " " + EXIT_CODES_HELP) if writes else None)
        sub.add_argument("--home", help="datahemmet (standard: $FOLLOWUP_HOME, annars ./.followup)")
        if writes:
            sub.add_argument("--wait", type=_minutes, default=0.0, metavar="MINUTER",
                             help="när en annan körning håller datahemmet: vänta högst MINUTER på att den blir klar "
                                  "(standard: vänta inte; slutkod 3)")
        sub.set_defaults(handler=handler)
        return sub

    def reader_wait(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--wait", type=_minutes, default=None, metavar="MINUTER",
                         help="medan en körning håller lagret läses den senaste lyckade körningens läsfil "
                              "(serving/followup.duckdb); finns ingen ännu, vänta högst MINUTER på lagret "
                              f"(standard {READ_WAIT_MINUTES:g}; sedan slutkod 3)")

    config_help = "projektkonfigurationen (standard: $FOLLOWUP_CONFIG, annars exemplet som följer med)"
    command("demo", _demo, "skapa syntetiska leveranser för exempelprojekten och kör allt", writes=True)
    run = command("run", _run, "läs in nya leveranser och bygg alla tabeller och filer", writes=True)
    run.add_argument("--config", help=config_help)
    run.add_argument("--project", help="bara det här projektets inkorg")
    export = command("export", _export, "skriv tabellerna till finansiärer (kpi.csv, kpi.xlsx) per projekt")
    export.add_argument("--out", required=True, help="mappen att skriva till")
    export.add_argument("--project", help="bara det här projektet")
    export.add_argument("--period", help="ÅÅÅÅ-MM (standard: den senaste månaden med leveranser)")
    export.add_argument("--unsuppressed", action="store_true",
                        help="exakta tal utan röjandeskydd, bara för regionens egna samordnare")
    export.add_argument("--config", help=config_help)
    reader_wait(export)
    status = command("status", _status, "vilken kommun som levererat vilken månad, utfall, vad som saknas och "
                                        "vad som behöver åtgärdas")
    status.add_argument("--project", help="bara det här projektet")
    status.add_argument("--config", help=config_help)
    status.add_argument("--deadline-day", type=int, default=DEADLINE_DAY, metavar="N",
                        help=f"en månads leverans är sen när den kommer efter dag N i månaden efter (1–28, standard {DEADLINE_DAY})")
    reader_wait(status)
    template = command("template", _template, "skriv en leveransmall för kommunernas månadsleveranser "
                                              "(leveransmall.xlsx med rullgardinslistor och instruktioner, "
                                              "leveransmall.csv med rubrikraden)")
    template.add_argument("--project", required=True, help="projektet mallen gäller")
    template.add_argument("--kommun", metavar="KOMMUNKOD",
                          help="kommunen mallen gäller (fyra siffror, en av projektets kommuner): kommer med i "
                               "instruktionerna och förslaget på filnamn")
    template.add_argument("--out", required=True, help="mappen att skriva till")
    template.add_argument("--config", help=config_help)
    doctor = command("doctor", _doctor, "kontrollera datahemmet: nyckel, konfiguration, lager, läsfil, diskutrymme "
                                        "och Dagsters lagring, en rad per kontroll; slutkod 0 bara när allt håller")
    doctor.add_argument("--config", help=config_help)
    backup = command("backup", _backup, "säkerhetskopiera datahemmet (allt utom nyckeln) till en ny mapp, med "
                                         "kontrollsummor", writes=True)
    backup.add_argument("--to", required=True, help="den nya mappen för säkerhetskopian")
    restore = command("restore", _restore, "återställ en säkerhetskopia till ett nytt datahem, efter att varje "
                                           "fils kontrollsumma stämt")
    restore.add_argument("--from", dest="source", required=True, help="mappen med säkerhetskopian")
    serve = command("serve", _serve, "kör Dagsters användargränssnitt och demon (schemat, inkorgssensorn, körkön) "
                                     "för datahemmet tills Ctrl-C eller SIGTERM")
    serve.add_argument("--config", help=config_help)
    serve.add_argument("--host", default="127.0.0.1",
                       help="adressen gränssnittet lyssnar på (standard 127.0.0.1: bara den här datorn; gränssnittet "
                            "har ingen inloggning, sätt en omvänd proxy med inloggning framför, se deploy/)")
    serve.add_argument("--port", type=int, default=3000, help="porten (standard 3000)")
    serve.add_argument("--only", choices=("webserver", "daemon"),
                       help="starta bara den ena processen (systemd-enheterna i deploy/ kör en var)")
    command("create-key", _create_key, "skapa nyckelfilen för pseudonymisering (rättigheter 0600) i datahemmet")
    rotate = command("rotate-key", _rotate_key,
                     "byt pseudonymiseringsnyckel och pseudonymisera alla leveranser igen från arkivet",
                     writes=True)
    rotate.add_argument("--config", help=config_help)
    purge = command("purge-raw", _purge_raw, "radera arkiverade råfiler äldre än lagringstiden, och säg vad som raderades",
                    writes=True)
    purge.add_argument("--older-than", required=True, type=int, metavar="DAGAR",
                       help="radera råfiler mottagna för mer än DAGAR dagar sedan (bara färdigbehandlade)")
    purge.add_argument("--dry-run", action="store_true", help="visa bara vad som skulle raderas")
    return parser


WRITER_HELP = ("Ett kommando i taget skriver i ett datahem: medan en annan run, demo, rotate-key eller purge-raw "
               "håller det slutar det här direkt med slutkod 3, eller väntar med --wait.")


def _minutes(text: str) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' är inget antal minuter")
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"'{text}': ange 0 minuter eller fler")
    return value


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
    with _holding(home, "run", args.wait) as deadline:
        return _run_and_report(home, args.config or _env_config(), args.project, deadline=deadline)


@contextlib.contextmanager
def _holding(home: DataHome, command: str, wait_minutes: float) -> Iterator[float]:
    """The data home's run lock for the whole command; yields the moment (time.monotonic) until
    which --wait allows waiting, for the warehouse as well."""
    from orchestration.lib.runlock import acquire

    deadline = time.monotonic() + 60 * wait_minutes

    def waiting(holder) -> None:
        _error(f"en annan körning pågår i {home.root} ({holder.describe()}); väntar upp till "
               f"{_in_minutes(wait_minutes)} på att den blir klar …")

    with acquire(home.root, command, 60 * wait_minutes, on_wait=waiting):
        yield deadline


def _run_and_report(home: DataHome, config_path: str | None, project_id: str | None = None,
                    compact: bool = False, deadline: float | None = None) -> int:
    """The run, under the caller's run lock: free space first, then the pipeline, then one line
    per delivery it processed (or a summary with `compact`)."""
    from orchestration.lib.diskspace import is_disk_full
    from orchestration.lib.runlock import warehouse_lock_holder
    from orchestration.runner import WAREHOUSE_GRACE_SECONDS, run_pipeline, space_for_run

    space = space_for_run(home)
    if not space.enough:
        _error(_short_of_space_message(space))
        return EXIT_FAILED
    wait = max(deadline - time.monotonic(), WAREHOUSE_GRACE_SECONDS) if deadline else WAREHOUSE_GRACE_SECONDS

    def waiting(holder) -> None:
        _error(f"lagret {home.warehouse} används av en annan process ({holder.describe()}); "
               f"väntar upp till {_in_minutes(wait / 60)} på att det blir ledigt …")

    outcome = run_pipeline(home, config_path, project_id, wait_seconds=wait, on_wait=waiting)
    if outcome.deliveries and compact:
        _print_summary(outcome.deliveries)
    elif outcome.deliveries:
        print(f"{'projekt':<18} {'kommun':<6} {'månad':<8} {'godkända':>8} {'avvisade':>8}  utfall")
        for d in outcome.deliveries:
            reason = f" ({d.reason})" if d.reason else ""
            kind = " (kartläggning)" if d.extract_kind == "KARTLAGGNING" else ""
            print(console(f"{d.project_id:<18} {d.kommunkod:<6} {d.reporting_month:<8} {d.rows_accepted:>8} "
                          f"{d.rows_rejected:>8}  {_verdict(d.verdict)}{reason}; {STATE_LABELS[d.state].lower()}{kind}"))
    elif outcome.nothing_new_since:
        since = outcome.nothing_new_since
        print(f"Inga nya leveranser. Inget har ändrats sedan körningen {since.finished_at.replace('T', ' ')} "
              f"({since.run_id}): inkorgen, konfigurationen och lagret är som den lämnade dem, så inget behövde göras.")
    elif outcome.success:
        print("Inga nya leveranser.")
    for path, message in outcome.not_ingested:
        print(console(f"Inte inläst: {console(path, False)}: {message}"))
    if not outcome.success:
        if is_disk_full(outcome.failure, home.root):
            _error(_disk_full_message(home, "run"))
            return EXIT_FAILED
        holder = warehouse_lock_holder(outcome.failure)
        if holder is not None:
            _error(_warehouse_held_message(home.warehouse, holder.describe(), "run"))
            return EXIT_BUSY
        _error(f"körningen misslyckades: {outcome.failure}")
        print(f"Se körning {outcome.run_id} i Dagster (DAGSTER_HOME={home.dagster}) och loggen {outcome.log_path}.",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_DONE


def _in_minutes(minutes: float) -> str:
    """`30 sekunder`, `1 minut`, `2,5 minuter`."""
    if minutes < 1:
        return f"{round(minutes * 60)} sekunder"
    text = f"{minutes:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text} minut" if text == "1" else f"{text} minuter"


def _short_of_space_message(space) -> str:
    from orchestration.lib.diskspace import FIXED_NEED, PER_NEW_BYTE, format_bytes

    return (f"för lite ledigt utrymme för en körning: datahemmet {space.path} ligger på filsystemet "
            f"{space.filesystem}, som har {format_bytes(space.free)} ledigt; körningen behöver ungefär "
            f"{format_bytes(space.needed)} ({PER_NEW_BYTE} × {format_bytes(space.new_inbox_bytes)} nya filer i inkorgen, "
            f"halva lagret {format_bytes(space.warehouse_bytes)} och {format_bytes(FIXED_NEED)} för dbt, Dagster och "
            f"loggar). Inget har ändrats. Frigör utrymme på {space.filesystem} (t.ex. gamla råfiler med "
            "`followup purge-raw`) eller flytta datahemmet, och kör igen.")


def _disk_full_message(home: DataHome, command: str, error: BaseException | None = None) -> str:
    from orchestration.lib.diskspace import filesystem_of, format_bytes, free_bytes, path_in_error

    path = path_in_error(error) or home.root
    try:
        filesystem, free = filesystem_of(path), format_bytes(free_bytes(path))
    except OSError:
        filesystem, free = path, "okänt hur mycket"
    again = "`followup run`" if command in ("run", "demo", "rotate-key") else f"`followup {command}`"
    return (f"disken är full: {path} ligger på filsystemet {filesystem}, som har {free} ledigt. Inget har gått "
            "förlorat: filerna ligger kvar i inkorgen och arkivet, och det som inte hann skrivas klart skrivs "
            f"om nästa gång. Frigör utrymme på {filesystem} och kör {again} igen.")


def _warehouse_held_message(warehouse: Path, holder: str, command: str) -> str:
    return (f"lagret {warehouse} används av en annan process ({holder}), troligen en körning som Dagster har "
            "startat (schemat, sensorn eller Materialize i UI:t). Kör igen när den är klar, eller med --wait MINUTER "
            f"för att vänta på den (`followup {command} --wait 30`).")


def _busy_message(error: Exception, command: str) -> str:
    from orchestration.lib.runlock import RunLockBusy

    if isinstance(error, RunLockBusy):
        if error.waited_seconds > 2:
            return (f"den andra körningen i {error.root} ({error.holder.describe()}) pågick fortfarande efter "
                    f"{_in_minutes(error.waited_seconds / 60)}. Försök igen när den är klar, eller med en längre --wait.")
        return (f"en annan körning pågår redan i {error.root} ({error.holder.describe()}). Kör igen när den är "
                f"klar, eller med --wait MINUTER för att vänta på den (`followup {command} --wait 30`).")
    return _warehouse_held_message(error.path, error.holder.describe(), command)


def _verdict(verdict: str) -> str:
    return VERDICT_LABELS.get(verdict, verdict)


def _print_summary(deliveries) -> None:
    """Per project: how many deliveries got which verdict; then those that need action, then those
    a later file took care of."""
    by_project: dict[str, dict[str, int]] = {}
    for d in deliveries:
        counts = by_project.setdefault(d.project_id, {})
        counts[d.verdict] = counts.get(d.verdict, 0) + 1
    for project_id, counts in by_project.items():
        print(f"{project_id:<18} " + ", ".join(f"{n} {_verdict(verdict).lower()}" for verdict, n in sorted(counts.items())))
    shown = [d for d in deliveries if d.needs_action] + [d for d in deliveries if d.verdict == REJECTED and not d.needs_action]
    for d in shown:
        reason = f" ({d.reason})" if d.reason else ""
        print(console(f"  {'att åtgärda' if d.needs_action else 'för kännedom'}: {d.project_id} {d.kommunkod} "
                      f"{d.reporting_month} {console(d.file_name, False)}: {d.rows_accepted} godkända, "
                      f"{d.rows_rejected} avvisade rader, {_verdict(d.verdict)}{reason}; {STATE_LABELS[d.state].lower()}"))


def _demo(args: argparse.Namespace) -> int:
    home = DataHome.resolve(args.home or DEMO_HOME).create()
    config = _config(None)
    with _holding(home, "demo", args.wait) as deadline:
        return _demo_in(home, config, deadline)


def _demo_in(home: DataHome, config, deadline: float) -> int:
    from orchestration.generator import generate_deliveries
    from orchestration.privacy.keys import create_key, key_path
    from orchestration.reporting.export import export_all, figures_built_by
    from orchestration.reporting.headline import format_headlines, headlines

    if not key_path(home.root).exists():
        create_key(home.root)
        print(f"Skapade en pseudonymiseringsnyckel för demon: {key_path(home.root)} (rättigheter 0600).")
    simulation = generate_deliveries(config, home.inbox)
    mapping = f" och {len(simulation.mapping.files)} kartläggningsfiler" if simulation.mapping.files else ""
    print(f"Genererade {len(simulation.files)} syntetiska deltagarlistor{mapping} för {len(config.projects)} projekt "
          f"i {home.inbox}.")
    status = _run_and_report(home, None, compact=True, deadline=deadline)
    if status != 0:
        return status
    exported = export_all(home.warehouse, config, home.exports, built_by=figures_built_by(home.dagster, home.warehouse),
                          reuse=home.exports)            # the run wrote them: kept, not written again
    print()
    print(format_headlines(headlines(home.warehouse, config)))
    print()
    print(f"Tabeller till finansiärer (kpi.csv, kpi.xlsx): {', '.join(str(e.path.parent) for e in exported)}")
    mapped = [str(e.mapping) for e in exported if e.mapping]
    if mapped:
        print(f"Kartläggningarnas siffror (kartlaggning.csv, bladet Kartläggning i kpi.xlsx): {', '.join(mapped)}")
    print(f"Enkelsidiga rapporter: {home.exports}/<projekt>/rapport.html (skrivna av körningen)")
    print(f"Leveransrapporter, det som behöver åtgärdas först: {home.reports / 'index.html'}")
    print(f"Översikt i Dagster: make dashboard   (eller: .venv/bin/followup serve --home {home.root})")
    print(f"Leveransstatus: .venv/bin/followup status --home {home.root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from orchestration.reporting.export import export_all, figures_built_by

    home, config = _existing_warehouse(args)
    _require_key(home, required=False)   # export needs no key, but another one means a misconfigured home
    if args.period and not _is_month(args.period):
        raise UsageError(f"--period '{args.period}' ska ha formen ÅÅÅÅ-MM.")

    def export(source: Path):
        # Files the run already wrote of the same figures are copied, not worked out again.
        return export_all(source, config, Path(args.out), args.project, args.period, args.unsuppressed,
                          built_by=figures_built_by(home.dagster, source), reuse=home.exports)

    exported = _reading(home, args.wait, "export", export)
    for e in exported:
        copied = " (kopierade från körningens export)" if e.path.name in e.reused and e.workbook.name in e.reused else ""
        print(f"{e.project_id}: {e.period}: {e.rows} rader → {e.path} och {e.workbook}{copied}")
    if not exported:
        print("Inget att exportera: inga godkända leveranser ännu.")
    return 0


def _is_month(text: str) -> bool:
    import re

    return bool(re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text))


def _template(args: argparse.Namespace) -> int:
    from orchestration.reporting.template import TemplateError, template_for, write_template

    config = _config(args.config)
    _check_project(args.project, config)
    try:
        template = template_for(config.project(args.project), args.kommun)
    except TemplateError as error:
        raise UsageError(str(error))
    try:
        workbook, csv_file = write_template(template, Path(args.out))
    except OSError as error:
        raise UsageError(f"kan inte skriva mallen till {args.out} ({error.strerror or error}).")
    print(f"Leveransmall för {template.project.id}: {workbook} och {csv_file}. Filnamn att använda vid "
          f"leverans: {template.file_name_suggestion} (rapportmånaden som ÅÅÅÅ-MM).")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from orchestration.lib.doctor import examine, report

    home = _home_of(args)
    if not home.root.exists():
        raise UsageError(f"datahemmet {home.root} finns inte")
    text, healthy = report(examine(home, args.config))
    print(console(text))
    return 0 if healthy else EXIT_FAILED


def _backup(args: argparse.Namespace) -> int:
    from orchestration.lib.backup import BackupError, backup
    from orchestration.lib.diskspace import format_bytes

    home = _home_of(args)
    if not home.root.exists():
        raise UsageError(f"datahemmet {home.root} finns inte")
    try:
        with _holding(home, "backup", args.wait):
            summary = backup(home, Path(args.to))
    except BackupError as error:
        raise UsageError(str(error))
    print(f"Säkerhetskopia i {summary.target}: {summary.files} filer, {format_bytes(summary.bytes)}, med "
          f"kontrollsummor i manifest.json. Nyckeln är inte med: förvara den för sig (PRIVACY.md).")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from orchestration.lib.backup import BackupError, restore
    from orchestration.privacy.keys import key_path

    home = _home_of(args)
    try:
        summary = restore(Path(args.source), home)
    except BackupError as error:
        raise UsageError(str(error))
    print(f"Återställde {summary.files} filer till {home.root}; varje kontrollsumma stämde. Lägg tillbaka "
          f"nyckeln i {key_path(home.root)} (rättigheter 0600) eller i FOLLOWUP_PSEUDONYM_KEY: samma nyckel "
          "som förut, det kontrolleras mot datahemmets fingeravtryck vid nästa körning.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from orchestration.automation.service import PROCESSES, ServiceError, ServiceFailed, serve
    from orchestration.runner import prepare_environment

    home = _home_of(args)
    if not home.root.exists():
        raise UsageError(f"datahemmet {home.root} finns inte: skapa det med `followup create-key --home {home.root}`")
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: ange en port mellan 1 och 65535")
    config_path = args.config or _env_config()
    _config(config_path)
    _require_key(home)
    settings = prepare_environment(home, config_path)
    from orchestration.automation.definitions import definitions

    definitions(settings)      # a schedule the code location could not load is refused here, in Swedish
    try:
        return serve(home, args.host, args.port, (args.only,) if args.only else PROCESSES,
                     say=lambda text: print(console(text), flush=True))
    except ServiceError as error:
        raise UsageError(str(error))
    except ServiceFailed as error:
        _error(str(error))
        return EXIT_FAILED


def _status(args: argparse.Namespace) -> int:
    from orchestration.reporting.status import format_status

    home, config = _existing_warehouse(args)
    if not 1 <= args.deadline_day <= 28:
        raise UsageError(f"--deadline-day {args.deadline_day}: ange en dag 1–28.")
    text = _reading(home, args.wait, "status", lambda source: format_status(
        source, config, args.project, deadline_day=args.deadline_day, inbox=home.inbox))
    print(console(text))
    if (home.reports / "index.html").exists():
        print(f"Leveransrapporter per fil: {home.reports / 'index.html'}")
    return 0


def _reading(home: DataHome, wait_minutes: float | None, command: str, read: Callable[[Path], object]):
    """`read(source)` on the warehouse, or on the read copy while another process holds the
    warehouse (a run, in its dbt step for minutes): the state after the last successful run,
    said on one line. Without a copy (no run has finished yet) wait for the warehouse, at most
    `wait_minutes` (default READ_WAIT_MINUTES), then exit code 3."""
    from orchestration.lib.runlock import WarehouseBusy, current_holder, warehouse_lock_holder, when_warehouse_free
    from orchestration.lib.warehouse import connect
    from orchestration.lib.warehouse_copy import copy_path

    copy = copy_path(home.root)
    if current_holder(home.root) is not None and copy.exists():
        return _from_copy(copy, read)       # a run is going: reading the warehouse would only stall it
    try:
        return read(home.warehouse)
    except Exception as error:  # noqa: BLE001 - only DuckDB's lock error is handled here
        if warehouse_lock_holder(error) is None:
            raise
    if copy.exists():
        return _from_copy(copy, read)
    minutes = READ_WAIT_MINUTES if wait_minutes is None else wait_minutes

    def waiting(holder) -> None:
        _error(f"lagret {home.warehouse} används av en annan process ({holder.describe()}) och det finns ingen "
               f"läskopia ännu (den skrivs när en körning är klar); väntar upp till {_in_minutes(minutes)} …")

    def opened() -> None:
        with connect(home.warehouse, read_only=True):
            pass

    try:
        when_warehouse_free(opened, home.warehouse, 60 * minutes, on_wait=waiting)
    except WarehouseBusy as busy:
        raise Busy(f"lagret {home.warehouse} var fortfarande upptaget efter {_in_minutes(minutes)} "
                   f"({busy.holder.describe()}), och det finns ingen läskopia ännu. Kör `followup {command}` igen "
                   "när körningen är klar, eller med en längre --wait.") from None
    return read(home.warehouse)


def _from_copy(copy: Path, read: Callable[[Path], object]):
    from orchestration.lib.warehouse_copy import written_at

    when = written_at(copy)
    ended = f"{when:%Y-%m-%d %H:%M}" if when else "okänd tid"
    _error(f"en körning pågår; visar läget efter körningen som slutade {ended}.")
    return read(copy)


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
    home = DataHome.resolve(args.home)
    if not home.warehouse.exists():
        raise UsageError(f"inget lager i {home.root}: inget att pseudonymisera om. Skapa en nyckel med "
                         f"`followup create-key --home {home.root}`.")
    _config(args.config)
    with _holding(home, "rotate-key", args.wait) as deadline:
        return _rotate_key_in(home, args, deadline)


def _rotate_key_in(home: DataHome, args: argparse.Namespace, deadline: float) -> int:
    from orchestration.privacy.keys import PseudonymKeyError, load_key
    from orchestration.privacy.rotation import NEW_KEY_ENV_VAR, rotate_key

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
    return _run_and_report(home, args.config or _env_config(), deadline=deadline)


def _purge_raw(args: argparse.Namespace) -> int:
    from orchestration.privacy.retention import PurgeError, purge_raw

    home = DataHome.resolve(args.home)
    if args.older_than < 0:
        raise UsageError(f"--older-than {args.older_than}: ange ett antal dagar, 0 eller mer.")
    if not home.warehouse.exists():
        raise UsageError(f"inget lager i {home.root}. Kör `followup run --home {home.root}` först.")
    try:
        with _holding(home, "purge-raw", args.wait):
            report = purge_raw(home, args.older_than, dry_run=args.dry_run)
    except PurgeError as error:
        _error(str(error))
        return EXIT_FAILED
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
        _error(f"kunde inte radera {file.path} ({error}). Kontrollera rättigheterna och kör igen.")
    return 1 if report.failed else 0


def _write_crash_log(home: DataHome, argv: list[str]) -> tuple[Path, bool]:
    """Append the trace of the failure being handled; (the log, whether it was written)."""
    from orchestration.lib.crashlog import append_crash, crash_log_path

    log = crash_log_path(home.root)
    try:
        append_crash(log, argv, traceback.format_exc())
    except OSError:
        return log, False
    return log, True


if __name__ == "__main__":
    sys.exit(main())
