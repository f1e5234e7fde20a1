"""The vocabulary of the mapping extract (kartläggning): what a municipality delivers for a project
that maps or inventories its target group instead of (or besides) enrolling participants.

A mapping file lies in `inbox/<project>/<kommunkod>/kartlaggning/` (the folder name matched like
a header: `Kartläggning` is the same folder), holds one row per person and occasion (the date the
questions were answered) and a column per question id of the project's instrument
(`kartlaggning:` in the projects configuration, projects/instrument.py). The month in its name is
the month the answers were collected; a later file for the same month replaces the earlier one,
as for enrolment extracts. Kept in one place so routing, reader, pseudonymisation, validation,
generator and template agree.
"""

from __future__ import annotations

import functools

from orchestration.lib.contract import normalise_name

# landing.deliveries.extract_kind: which contract a delivery follows.
ENROLMENT = "INSKRIVNING"
MAPPING = "KARTLAGGNING"
EXTRACT_KINDS = (ENROLMENT, MAPPING)

MAPPING_FOLDER = "kartlaggning"         # inbox/<project>/<kommunkod>/kartlaggning/ (normalise_name)


def is_mapping_folder(name: str) -> bool:
    """`kartlaggning`, `Kartläggning`, ` KARTLÄGGNING ` all name the mapping folder."""
    return normalise_name(name) == MAPPING_FOLDER


# Answer types of a question (projects configuration, kartlaggning.questions[].type).
SINGLE_CHOICE = "single_choice"         # one code of the question's `codes`
MULTIPLE_CHOICE = "multiple_choice"     # codes of the question's `codes`, separated by MULTIPLE_SEPARATORS
SCALE = "scale"                         # an integer in scale.min..scale.max
YES_NO = "yes_no"                       # JA or NEJ
NUMBER = "number"                       # a number in range.min..range.max (optionally banded for figures)
FREE_TEXT = "free_text"                 # scrubbed like anteckning, stored, never in a figure or an export
ANSWER_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE, SCALE, YES_NO, NUMBER, FREE_TEXT)
CODED_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE, YES_NO)
YES_NO_CODES = {"JA": "Ja", "NEJ": "Nej"}
MULTIPLE_SEPARATORS = (",", ";", "|", "/")
ANSWERED = "BESVARAD"                   # the one category of a number question without bands

# landing.mapping_pseudonymised_answers.answer_status: what the pseudonymise stage made of a cell.
ANSWER_OK = "OK"
ANSWER_MISSING = "SAKNAS"               # blank
ANSWER_UNKNOWN_CODE = "KOD_OKAND"       # not a code of the question (the value itself is never stored)
ANSWER_NOT_A_NUMBER = "INTE_TAL"        # a scale or number question answered with something else
ANSWER_STATUSES = (ANSWER_OK, ANSWER_MISSING, ANSWER_UNKNOWN_CODE, ANSWER_NOT_A_NUMBER)

# Inventory figures (kartlaggning.inventory in the configuration): a person counts for a figure
# when their latest answer to each question the figure names is one of the codes given for it.
OUTSIDE = "utanfor_arbete_studier"      # identified outside work and studies
UNREACHED = "varken_af_eller_fs"        # neither registered at Arbetsförmedlingen nor on försörjningsstöd
INVENTORY_FIGURES = (OUTSIDE, UNREACHED)

# The fixed columns of a mapping file; every other header is a question id of the instrument
# (matched with normalise_name) or unknown. Canonical name -> aliases (normalised form).
MAPPING_COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "personnummer": ("pnr", "personnr", "person_nr"),
    "anonym_id": (),
    "besvarad": ("svarsdatum", "datum", "kartlaggningsdatum", "intervjudatum"),
    "kon": (),
    "kommunkod": (),
    "rapportmanad": (),
    # direct identifiers: read only to be dropped (and to scrub free-text answers of the row's names)
    "fornamn": ("namn",),
    "efternamn": (),
    "telefon": ("mobil",),
    "epost": ("e_post",),
    "adress": ("gatuadress",),
}
MAPPING_REQUIRED_COLUMNS = ("personnummer", "besvarad")
MAPPING_DATE_COLUMNS = ("besvarad",)

_ALIAS_TO_MAPPING_COLUMN = {
    alias: column for column, aliases in MAPPING_COLUMN_ALIASES.items() for alias in (column, *aliases)
}


@functools.lru_cache(maxsize=8192)
def canonical_mapping_column(header: str) -> str | None:
    """The fixed mapping column a header names, or None (a question id or an unknown column)."""
    return _ALIAS_TO_MAPPING_COLUMN.get(normalise_name(header))
