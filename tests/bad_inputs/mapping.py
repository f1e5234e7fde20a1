"""Mapping files (kartläggning) for the tests: the bundled example's Våga Välja Väg instrument,
rows of synthetic persons, and a delivery of such a file put straight into a data home (the file
in the archive by its sha256, its row in landing.deliveries with extract_kind KARTLAGGNING) so
the privacy and quality stages can be tested without the inbox's routing.

Every personnummer is synthetic (builders.Person); names and phone numbers are invented here.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from orchestration.lib.home import DataHome
from orchestration.lib.mapping_contract import MAPPING
from orchestration.lib.warehouse import connect, ensure_schema
from orchestration.projects.config import ProjectsConfig, load_projects
from orchestration.projects.load import write_config_tables
from tests.bad_inputs.builders import Person

PROJECT = "vaga_valja_vag"            # Flen 0482, 2009-08-01..2009-12-31, ages 16-29
KOMMUNKOD = "0482"
MONTH = "2009-10"
QUESTIONS = ("paverka_vardag", "delaktig_samhalle", "boende", "nagon_att_prata_med", "fysiskt_aktiv_dagar",
             "paverkar_halsan", "gymnasiet", "forening", "ovrigt")
HEADER = ["personnummer", "besvarad", *QUESTIONS]
# A complete, valid set of answers, in QUESTIONS order.
GOOD_ANSWERS = ("4", "3", "FORALDRAR", "Ja", "5", "KOST, NAT", "AVBRUTIT", "Nej", "Vill ha hjälp med körkort")


def answers(**changed: str) -> list[str]:
    """GOOD_ANSWERS with some questions answered otherwise (by question id)."""
    unknown = set(changed) - set(QUESTIONS)
    assert not unknown, unknown
    return [changed.get(question, good) for question, good in zip(QUESTIONS, GOOD_ANSWERS)]


def mapping_row(person: Person, besvarad: str = f"{MONTH}-12", **changed: str) -> list[str]:
    return [person.ten, besvarad, *answers(**changed)]


def prepared_home(home: DataHome, config: ProjectsConfig | None = None) -> ProjectsConfig:
    """The configuration (with its instruments) written into the home's warehouse, as intake does."""
    config = config or load_projects()
    ensure_schema(home.warehouse)
    write_config_tables(home.warehouse, config)
    return config


def deliver_mapping(home: DataHome, content: bytes, file_name: str = f"{MONTH}.csv", project_id: str = PROJECT,
                    kommunkod: str = KOMMUNKOD, month: str | None = None, received_at: dt.datetime | None = None) -> str:
    """The file archived under its sha256 and recorded as a RECEIVED mapping delivery; its delivery_id."""
    month = month or file_name[:7]
    sha256 = hashlib.sha256(content).hexdigest()
    suffix = "." + file_name.rsplit(".", 1)[-1].lower()
    path = home.archive / sha256[:2] / f"{sha256}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    delivery_id = hashlib.sha256(f"{project_id}|{kommunkod}|{month}|{sha256}|{MAPPING}".encode()).hexdigest()[:20]
    received_at = received_at or dt.datetime(2009, 11, 2, 8, 0)
    with connect(home.warehouse) as db:
        seq = db.execute("select coalesce(max(arrival_seq), 0) + 1 from landing.deliveries").fetchone()[0]
        db.execute(
            "insert into landing.deliveries (delivery_id, project_id, kommunkod, reporting_month, file_name, "
            "archive_path, sha256, size_bytes, received_at, status, arrival_seq, ingested_at, extract_kind) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'RECEIVED', ?, ?, ?)",
            [delivery_id, project_id, kommunkod, month, file_name, str(path.relative_to(home.root)), sha256,
             len(content), received_at, seq, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), MAPPING])
    return delivery_id
