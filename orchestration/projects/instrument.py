"""A project's mapping instrument (`kartlaggning:` in the projects configuration): its questions
and, for an inventory, which answers make its figures.

Checked like the rest of the configuration, with a Swedish message naming project and field. A
question's wording is part of its identity: `fingerprint` covers text, type, codes and range, and
the warehouse refuses a changed question under an id that already has answers (projects/load.py),
so answers to different wordings are never pooled.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from orchestration.lib.contract import normalise_code
from orchestration.lib.mapping_contract import (
    ANSWER_TYPES, ANSWERED, CODED_TYPES, INVENTORY_FIGURES, MULTIPLE_CHOICE, NUMBER, SCALE, SINGLE_CHOICE,
    YES_NO, YES_NO_CODES, canonical_mapping_column,
)

Fail = Callable[[str, str], Exception]


@dataclass(frozen=True)
class Category:
    """One answer category a figure is counted for: a code, a scale step or a band of numbers."""
    code: str
    label: str
    lower: float | None = None      # scale step or band: lower bound, inclusive
    upper: float | None = None      # band: upper bound, exclusive (None: open); scale step: = lower


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    domain: str
    type: str
    required: bool
    codes: tuple[tuple[str, str], ...] = ()         # (code, label) of a coded question, in order
    minimum: float | None = None                    # scale or number
    maximum: float | None = None
    scale_labels: tuple[tuple[int, str], ...] = ()  # (step, label) for named scale steps
    bands: tuple[float, ...] = ()                   # number: lower bounds of the figures' bands

    @property
    def code_set(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.codes)

    def categories(self) -> tuple[Category, ...]:
        """What the figures count, in the order they are shown; none for free text."""
        if self.type in CODED_TYPES:
            return tuple(Category(code, label) for code, label in self.codes)
        if self.type == SCALE:
            names = dict(self.scale_labels)
            return tuple(Category(str(step), f"{step} – {names[step]}" if step in names else str(step), step, step)
                         for step in range(int(self.minimum), int(self.maximum) + 1))
        if self.type == NUMBER:
            if not self.bands:
                return (Category(ANSWERED, "Besvarad"),)
            bounds = list(self.bands)
            out = []
            for index, lower in enumerate(bounds):
                upper = bounds[index + 1] if index + 1 < len(bounds) else None
                out.append(Category(_band_code(lower, upper), _band_label(lower, upper), lower, upper))
            return tuple(out)
        return ()

    def fingerprint(self) -> str:
        """What the person answering saw: text, type, codes with labels and range. Domain, whether
        the question is required and the bands are how it is reported, not what was asked."""
        seen = {"text": self.text, "type": self.type, "codes": list(self.codes),
                "min": self.minimum, "max": self.maximum, "scale_labels": list(self.scale_labels)}
        return hashlib.sha256(json.dumps(seen, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Instrument:
    questions: tuple[Question, ...]
    # figure -> ((question id, (codes...)), ...): the person's latest answer to each is one of the codes
    inventory: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)


def parse_instrument(entry: Any, fail: Fail) -> Instrument:
    """The `kartlaggning:` mapping of one project; `fail(field, message)` makes the ConfigError."""
    if not isinstance(entry, dict):
        raise fail("kartlaggning", "ska vara en mappning med 'questions:' (och för en inventering 'inventory:').")
    unknown = sorted(set(entry) - {"questions", "inventory"})
    if unknown:
        raise fail(f"kartlaggning.{unknown[0]}", "är inget känt fält (kända: questions, inventory).")
    raw_questions = entry.get("questions")
    if not isinstance(raw_questions, list) or not raw_questions:
        raise fail("kartlaggning.questions", "ska vara en lista med minst en fråga.")
    questions: list[Question] = []
    for index, raw in enumerate(raw_questions, start=1):
        question = _parse_question(raw, index, fail)
        if any(q.id == question.id for q in questions):
            raise fail(f"kartlaggning.questions[{index}].id", f"'{question.id}' används redan av en annan fråga.")
        questions.append(question)
    inventory = _parse_inventory(entry.get("inventory"), {q.id: q for q in questions}, fail)
    return Instrument(tuple(questions), inventory)


def _parse_question(raw: Any, index: int, fail: Fail) -> Question:
    where = f"kartlaggning.questions[{index}]"
    if not isinstance(raw, dict):
        raise fail(where, "ska vara en mappning med id, text, domain och type.")
    question_id = str(raw.get("id", ""))
    if question_id:
        where = f"kartlaggning.questions[{question_id}]"
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", question_id):
        raise fail(f"{where}.id", "ska börja med a–z och bestå av högst 40 tecken a–z, 0–9 och _ "
                                  "(det är kolumnens namn i kartläggningsfilen).")
    if canonical_mapping_column(question_id) is not None:
        raise fail(f"{where}.id", f"'{question_id}' är redan namnet på en fast kolumn i kartläggningsfilen "
                                  "(t.ex. personnummer, besvarad, kon); välj ett annat id.")
    for required in ("text", "domain", "type"):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise fail(f"{where}.{required}", "saknas eller är tom.")
    answer_type = raw["type"]
    if answer_type not in ANSWER_TYPES:
        raise fail(f"{where}.type", f"'{answer_type}' är ingen svarstyp; välj en av {', '.join(ANSWER_TYPES)}.")
    required_flag = raw.get("required", False)
    if not isinstance(required_flag, bool):
        raise fail(f"{where}.required", "ska vara true eller false.")
    allowed = {"id", "text", "domain", "type", "required"} | {
        SINGLE_CHOICE: {"codes"}, MULTIPLE_CHOICE: {"codes"}, SCALE: {"scale"}, NUMBER: {"range", "bands"},
    }.get(answer_type, set())
    extra = sorted(set(raw) - allowed)
    if extra:
        raise fail(f"{where}.{extra[0]}", f"hör inte till en fråga av typen {answer_type} "
                                          f"(tillåtna fält: {', '.join(sorted(allowed))}).")
    common = dict(id=question_id, text=raw["text"].strip(), domain=raw["domain"].strip(), type=answer_type,
                  required=required_flag)
    if answer_type in (SINGLE_CHOICE, MULTIPLE_CHOICE):
        return Question(**common, codes=_codes(raw.get("codes"), f"{where}.codes", fail))
    if answer_type == YES_NO:
        return Question(**common, codes=tuple(YES_NO_CODES.items()))
    if answer_type == SCALE:
        scale = raw.get("scale")
        low, high = _bounds(scale, f"{where}.scale", fail, integers=True)
        if high - low > 20:
            raise fail(f"{where}.scale", "får ha högst 21 steg.")
        labels = scale.get("labels") or {}
        if not isinstance(labels, dict) or any(not isinstance(k, int) or not low <= k <= high or not isinstance(v, str)
                                               for k, v in labels.items()):
            raise fail(f"{where}.scale.labels", f"ska para ihop steg {low}–{high} med text, t.ex. {{{low}: \"Inte alls\"}}.")
        return Question(**common, minimum=low, maximum=high, scale_labels=tuple(sorted(labels.items())))
    if answer_type == NUMBER:
        low, high = _bounds(raw.get("range"), f"{where}.range", fail, integers=False)
        bands = raw.get("bands") or []
        if (not isinstance(bands, list) or any(not _is_number(b) for b in bands)
                or list(bands) != sorted(set(bands)) or (bands and (bands[0] != low or bands[-1] > high))):
            raise fail(f"{where}.bands", f"ska vara stigande undre gränser som börjar på range.min ({low:g}), "
                                         "t.ex. [0, 1, 3, 6].")
        return Question(**common, minimum=low, maximum=high, bands=tuple(float(b) for b in bands))
    return Question(**common)


def _codes(raw: Any, field_name: str, fail: Fail) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict) or len(raw) < 2:
        raise fail(field_name, "ska vara minst två koder med text, t.ex. {ARBETAR: \"Arbetar\", STUDERAR: \"Studerar\"}.")
    codes = []
    for code, label in raw.items():
        text = str(code)
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9_]{0,39}", text) or normalise_code(text) != text:
            raise fail(field_name, f"koden {text!r} ska skrivas med A–Z, 0–9 och _ (högst 40 tecken), t.ex. ARBETAR.")
        if not isinstance(label, str) or not label.strip():
            raise fail(field_name, f"koden {text} saknar text.")
        codes.append((text, label.strip()))
    return tuple(codes)


def _bounds(raw: Any, field_name: str, fail: Fail, integers: bool) -> tuple[float, float]:
    kind = "heltal" if integers else "tal"
    if not isinstance(raw, dict) or not _is_number(raw.get("min")) or not _is_number(raw.get("max")):
        raise fail(field_name, f"ska vara {{min: <{kind}>, max: <{kind}>}}.")
    low, high = raw["min"], raw["max"]
    if integers and (not isinstance(low, int) or not isinstance(high, int)):
        raise fail(field_name, "min och max ska vara heltal.")
    if high <= low:
        raise fail(field_name, f"max {high} ska vara större än min {low}.")
    return (int(low), int(high)) if integers else (float(low), float(high))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_inventory(raw: Any, questions: dict[str, Question], fail: Fail):
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise fail("kartlaggning.inventory", f"ska para ihop figurerna ({', '.join(INVENTORY_FIGURES)}) med frågor och svar.")
    figures = []
    for figure, conditions in raw.items():
        where = f"kartlaggning.inventory.{figure}"
        if figure not in INVENTORY_FIGURES:
            raise fail(where, f"är ingen inventeringsfigur; välj bland {', '.join(INVENTORY_FIGURES)}.")
        if not isinstance(conditions, dict) or not conditions:
            raise fail(where, "ska para ihop fråge-id med de svar som räknas, t.ex. {sysselsattning: [INAKTIV]}.")
        parsed = []
        for question_id, codes in conditions.items():
            question = questions.get(str(question_id))
            if question is None or question.type not in (SINGLE_CHOICE, YES_NO):
                raise fail(f"{where}.{question_id}", "ska vara id för en fråga av typen single_choice eller yes_no.")
            if not isinstance(codes, list) or not codes or any(c not in question.code_set for c in codes):
                raise fail(f"{where}.{question_id}", f"ska vara en lista med frågans koder ({', '.join(question.code_set)}).")
            parsed.append((question.id, tuple(codes)))
        figures.append((figure, tuple(parsed)))
    return tuple(figures)


def _band_code(lower: float, upper: float | None) -> str:
    return f"{lower:g}-" if upper is None else f"{lower:g}-{upper:g}"


def _band_label(lower: float, upper: float | None) -> str:
    if upper is None:
        return f"{lower:g} eller mer"
    if float(lower).is_integer() and float(upper).is_integer() and upper - lower == 1:
        return f"{lower:g}"
    if float(lower).is_integer() and float(upper).is_integer():
        return f"{lower:g}–{upper - 1:g}"
    return f"{lower:g} till under {upper:g}"
