"""A Great Expectations suite document translated into SQL: which rows break which rule, set-based.

The suite JSON stays the one rule book. Each expectation (type, kwargs, meta) becomes one SQL
predicate, true exactly for the rows GX counts as unexpected on a pandas frame of the same rows:
the row condition as `DataFrame.query` reads it (a null is unequal to anything: `!=` and `NOT_IN`
hold for it), nulls skipped except by `not_be_null`, a pair's rows dropped as `ignore_row_if`
says, and a comparison with a null failing. A type, kwarg, row condition or value the translator
does not know is an error when the suite is loaded (`translate`); a column whose type does not
fit its rule is an error when the SQL is made (`Rules.findings_sql`). GX still runs the suite and
its count per rule is held equal to the SQL's (quality/validate.py), so a translator that went
wrong stops the stage instead of letting rows through.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The kwargs each known expectation type may carry ("mostly" only decides GX's success, never
# which rows fail). Anything else is an error at load time.
_COLUMN = {"column", "row_condition", "mostly"}
_PAIR = {"column_A", "column_B", "ignore_row_if", "row_condition", "mostly"}
KNOWN_KWARGS: dict[str, set[str]] = {
    "expect_column_values_to_not_be_null": _COLUMN,
    "expect_column_values_to_be_in_set": _COLUMN | {"value_set"},
    "expect_column_values_to_not_be_in_set": _COLUMN | {"value_set"},
    "expect_column_values_to_not_match_regex": _COLUMN | {"regex"},
    "expect_column_values_to_be_between": _COLUMN | {"min_value", "max_value", "strict_min", "strict_max"},
    "expect_column_pair_values_a_to_be_greater_than_b": _PAIR | {"or_equal"},
    "expect_column_pair_values_to_be_equal": _PAIR,
}
_REQUIRED = {"column": ("column",), "pair": ("column_A", "column_B")}
_IGNORE_ROW_IF = ("both_values_are_missing", "either_value_is_missing", "neither")
_COMPARISONS = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# DuckDB column types by the kind of literal they are compared with (as pandas compares them).
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_TEMPORAL = ("DATE", "TIMESTAMP")


class SuiteTranslationError(ValueError):
    """The suite holds something the translator cannot turn into SQL exactly as GX reads it."""


@dataclass(frozen=True)
class Parameter:
    """A `{"$PARAMETER": name}` value, filled from the project when the SQL is made."""

    name: str


@dataclass(frozen=True)
class Rule:
    """One expectation of the suite: its place in the document, type and meta, and its SQL."""

    position: int
    expectation_type: str
    meta: dict[str, Any]
    kwargs: dict[str, Any]
    condition: Any            # the row condition as a tree: ("cmp", column, op, value) | ("null", column, bool) | ("and"/"or", [...])

    @property
    def key(self) -> str:
        """What ties a GX result to this rule: its type and meta (unique in a suite)."""
        return rule_key(self.expectation_type, self.meta)

    @property
    def columns(self) -> tuple[str, ...]:
        own = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        return tuple(dict.fromkeys(own + list(_condition_columns(self.condition))))


def rule_key(expectation_type: str, meta: Mapping[str, Any] | None) -> str:
    return json.dumps([expectation_type, meta or {}], sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Rules:
    """A whole suite as SQL."""

    source: str
    rules: tuple[Rule, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the suite reads, in the order first read."""
        return tuple(dict.fromkeys(c for rule in self.rules for c in rule.columns))

    def findings_sql(self, relation: str, column_types: Mapping[str, str], parameters: Mapping[str, Any],
                     carry: tuple[str, ...] = ("delivery_id", "row_number", "notes")) -> str:
        """One query giving `carry` and `rule` (the rule's position) for every row of `relation` that
        breaks a rule, ordered by rule, then by the carried columns. `column_types`: DuckDB's type
        of each column (DESCRIBE), to refuse a rule whose column does not fit it."""
        missing = [c for c in self.columns if c not in column_types]
        if missing:
            raise SuiteTranslationError(f"{self.source}: column(s) {missing} not in the rows validated")
        selects = [f"select {', '.join(_ident(c) for c in carry)}, {rule.position} as rule from {relation} "
                   f"where {_predicate(rule, column_types, parameters, self.source)}" for rule in self.rules]
        if not selects:
            return f"select {', '.join(_ident(c) for c in carry)}, 0 as rule from {relation} where false"
        return " union all ".join(selects) + f" order by rule, {', '.join(_ident(c) for c in carry)}"


def translate(document: Mapping[str, Any], source: str) -> Rules:
    """Every expectation of a suite document as a rule; anything unknown is an error here."""
    rules = []
    keys: set[str] = set()
    for position, entry in enumerate(document.get("expectations") or []):
        where = f"{source}: expectation {position} ({entry.get('type')})"
        kind = entry.get("type")
        if kind not in KNOWN_KWARGS:
            raise SuiteTranslationError(f"{where}: the type is unknown to the SQL translator")
        kwargs = dict(entry.get("kwargs") or {})
        unknown = set(kwargs) - KNOWN_KWARGS[kind]
        if unknown:
            raise SuiteTranslationError(f"{where}: kwarg(s) {sorted(unknown)} unknown to the SQL translator")
        for name in _REQUIRED["pair" if "pair" in kind else "column"]:
            if not isinstance(kwargs.get(name), str) or not kwargs[name]:
                raise SuiteTranslationError(f"{where}: {name} must name a column")
        _check_kwargs(kind, kwargs, where)
        condition = _condition(kwargs.get("row_condition"), where)
        rule = Rule(position, kind, dict(entry.get("meta") or {}), kwargs, condition)
        if rule.key in keys:
            raise SuiteTranslationError(f"{where}: two expectations of the same type with the same meta")
        keys.add(rule.key)
        rules.append(rule)
    return Rules(source, tuple(rules))


# --- load time: what is known ------------------------------------------------------------------

def _value(value: Any, where: str) -> Any:
    """A literal (str, bool, int, finite float) or a $PARAMETER."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"} and isinstance(value["$PARAMETER"], str) and value["$PARAMETER"].isidentifier():
            return Parameter(value["$PARAMETER"])
        raise SuiteTranslationError(f"{where}: only {{'$PARAMETER': <name>}} is known as a value, not {value!r}")
    if isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise SuiteTranslationError(f"{where}: a value of type {type(value).__name__} is unknown to the SQL translator")


def _check_kwargs(kind: str, kwargs: dict[str, Any], where: str) -> None:
    if "mostly" in kwargs and not (isinstance(kwargs["mostly"], (int, float)) and 0 <= kwargs["mostly"] <= 1):
        raise SuiteTranslationError(f"{where}: mostly must be a number from 0 to 1")
    if "value_set" in kwargs:
        values = kwargs["value_set"]
        if isinstance(values, dict):
            kwargs["value_set"] = _value(values, where)
        elif isinstance(values, list):
            kwargs["value_set"] = [_value(v, where) for v in values]
            if any(isinstance(v, Parameter) for v in kwargs["value_set"]):
                raise SuiteTranslationError(f"{where}: a $PARAMETER inside value_set is unknown")
        else:
            raise SuiteTranslationError(f"{where}: value_set must be a list")
    if "regex" in kwargs:
        kwargs["regex"] = _regex(kwargs["regex"], where)
    if kind == "expect_column_values_to_be_between":
        for name in ("min_value", "max_value"):
            if kwargs.get(name) is not None:
                kwargs[name] = _value(kwargs[name], where)
        if kwargs.get("min_value") is None and kwargs.get("max_value") is None:
            raise SuiteTranslationError(f"{where}: min_value and max_value cannot both be missing")
    for name in ("strict_min", "strict_max", "or_equal"):
        if name in kwargs and not isinstance(kwargs[name], (bool, type(None))):
            raise SuiteTranslationError(f"{where}: {name} must be true, false or null")
    if "pair" in kind and kwargs.setdefault("ignore_row_if", "both_values_are_missing") not in _IGNORE_ROW_IF:
        raise SuiteTranslationError(f"{where}: ignore_row_if {kwargs['ignore_row_if']!r} is unknown")


# Escapes whose meaning differs between Python's re (Unicode) and DuckDB's RE2 (ASCII), and inline
# flags: a pattern using them is refused rather than translated approximately.
_UNSAFE_REGEX = re.compile(r"\\[dDwWsSbBAZ]|\(\?[^:]")


def _regex(pattern: Any, where: str) -> str:
    """Python's pattern as RE2 reads it the same way: `str.contains` searches, as regexp_matches
    does; Python's `$` at the end also matches before a final newline, RE2's only at the end."""
    if not isinstance(pattern, str):
        raise SuiteTranslationError(f"{where}: regex must be a string")
    try:
        re.compile(pattern)
    except re.error as error:
        raise SuiteTranslationError(f"{where}: regex does not compile: {error}") from None
    if _UNSAFE_REGEX.search(pattern):
        raise SuiteTranslationError(f"{where}: regex uses an escape or flag that RE2 reads otherwise than Python")
    body = pattern
    backslashes = len(body[:-1]) - len(body[:-1].rstrip("\\"))   # before a final $: escaped if odd
    ends_anchored = body.endswith("$") and backslashes % 2 == 0
    if ends_anchored:
        body = body[:-1]
    if "$" in body.replace("\\$", ""):
        raise SuiteTranslationError(f"{where}: regex may use $ only at its very end")
    return body + ("\\n?$" if ends_anchored else "")


def _condition(value: Any, where: str) -> Any:
    """GX's row condition (the dict form) as a tree; None when there is none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SuiteTranslationError(f"{where}: a row_condition must be a condition dict, not {type(value).__name__}")
    kind = value.get("type")
    if kind == "comparison" and set(value) <= {"type", "column", "operator", "parameter"}:
        column, operator, parameter = _column_name(value.get("column"), where), value.get("operator"), value.get("parameter")
        if operator in _COMPARISONS:
            if parameter is None:
                raise SuiteTranslationError(f"{where}: a comparison with null")
            return ("cmp", column, operator, _value(parameter, where))
        if operator in ("IN", "NOT_IN") and isinstance(parameter, list):
            return ("in", column, operator == "IN", [_value(v, where) for v in parameter])
        raise SuiteTranslationError(f"{where}: row condition operator {operator!r} is unknown")
    if kind == "nullity" and set(value) <= {"type", "column", "is_null"} and isinstance(value.get("is_null"), bool):
        return ("null", _column_name(value.get("column"), where), value["is_null"])
    if kind in ("and", "or") and set(value) <= {"type", "conditions"} and value.get("conditions"):
        return (kind, [_condition(c, where) for c in value["conditions"]])
    raise SuiteTranslationError(f"{where}: row condition {value!r} is unknown to the SQL translator")


def _column_name(value: Any, where: str) -> str:
    if isinstance(value, dict) and set(value) == {"name"} and isinstance(value["name"], str) and value["name"]:
        return value["name"]
    raise SuiteTranslationError(f"{where}: a row condition's column must be {{'name': <column>}}")


def _condition_columns(condition: Any):
    if condition is None:
        return
    if condition[0] in ("and", "or"):
        for part in condition[1]:
            yield from _condition_columns(part)
    else:
        yield condition[1]


# --- query time: the SQL ----------------------------------------------------------------------

def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _family(duckdb_type: str) -> str:
    upper = duckdb_type.upper().strip('"')
    if upper == "VARCHAR":
        return "str"
    if upper == "BOOLEAN":
        return "bool"
    if upper.startswith(_NUMERIC):
        return "number"
    if upper.startswith(_TEMPORAL):
        return "time"
    return upper


def _literal_family(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str"


def _literal(value: Any, column: str, column_types: Mapping[str, str], parameters: Mapping[str, Any],
             source: str) -> str:
    """A value as SQL, refused unless pandas would compare it with the column the same way."""
    if isinstance(value, Parameter):
        if value.name not in parameters:
            raise SuiteTranslationError(f"{source}: no value for $PARAMETER {value.name}")
        value = _value(parameters[value.name], f"{source}: $PARAMETER {value.name}")
    family = _family(column_types[column])
    if _literal_family(value) != family and family != "NULL":      # "NULL": a column of nulls only
        raise SuiteTranslationError(f"{source}: column {column} ({column_types[column]}) compared with "
                                    f"{type(value).__name__} value; the translator only compares like with like")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def _in_list(column: str, values: list[Any], column_types, parameters, source) -> str:
    if not values:
        return "false"
    return f"{_ident(column)} in ({', '.join(_literal(v, column, column_types, parameters, source) for v in values)})"


def _condition_sql(condition: Any, column_types, parameters, source) -> str:
    """True or false for every row (never null), as pandas' query decides it."""
    if condition is None:
        return "true"
    kind = condition[0]
    if kind in ("and", "or"):
        return "(" + f" {kind} ".join(_condition_sql(c, column_types, parameters, source) for c in condition[1]) + ")"
    column = condition[1]
    if kind == "null":
        return f"({_ident(column)} is {'' if condition[2] else 'not '}null)"
    if kind == "in":
        _, _, inside, values = condition
        test = _in_list(column, values, column_types, parameters, source)
        return f"coalesce({test}, false)" if inside else f"coalesce(not ({test}), true)"
    _, _, operator, value = condition
    test = f"{_ident(column)} {_COMPARISONS[operator]} {_literal(value, column, column_types, parameters, source)}"
    return f"coalesce({test}, {'true' if operator == '!=' else 'false'})"


def _predicate(rule: Rule, column_types: Mapping[str, str], parameters: Mapping[str, Any], source: str) -> str:
    """True exactly for the rows GX counts as unexpected for this rule."""
    kind, kw = rule.expectation_type, rule.kwargs
    where = f"{source}: rule {rule.meta.get('reason_code', rule.position)}"
    condition = _condition_sql(rule.condition, column_types, parameters, where)
    if "pair" in kind:
        a, b = _ident(kw["column_A"]), _ident(kw["column_B"])
        families = {_family(column_types[kw["column_A"]]), _family(column_types[kw["column_B"]])}
        families.discard("NULL")                                        # a column of nulls only
        if len(families) > 1 or not families <= {"str", "number", "time", "bool"}:
            raise SuiteTranslationError(f"{where}: columns {kw['column_A']} and {kw['column_B']} are not of one kind")
        ignored = {"both_values_are_missing": f"not ({a} is null and {b} is null)",
                   "either_value_is_missing": f"({a} is not null and {b} is not null)",
                   "neither": "true"}[kw["ignore_row_if"]]
        holds = f"{a} = {b}" if kind == "expect_column_pair_values_to_be_equal" else \
            f"{a} {'>=' if kw.get('or_equal') else '>'} {b}"
        return f"{condition} and {ignored} and not coalesce({holds}, false)"
    column = kw["column"]
    c = _ident(column)
    if kind == "expect_column_values_to_not_be_null":
        return f"{condition} and {c} is null"
    if kind in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = kw["value_set"]
        if isinstance(values, Parameter):
            given = parameters.get(values.name)
            if not isinstance(given, list):
                raise SuiteTranslationError(f"{where}: $PARAMETER {values.name} must be a list")
            values = [_value(v, where) for v in given]
        inside = _in_list(column, values, column_types, parameters, where)
        breaks = f"not ({inside})" if kind == "expect_column_values_to_be_in_set" else f"({inside})"
        return f"{condition} and {c} is not null and {breaks}"
    if kind == "expect_column_values_to_not_match_regex":
        if _family(column_types[column]) not in ("str", "NULL"):
            raise SuiteTranslationError(f"{where}: a regex on column {column} of type {column_types[column]}")
        return f"{condition} and {c} is not null and regexp_matches({c}, {_literal(kw['regex'], column, column_types, {}, where)})"
    if kind == "expect_column_values_to_be_between":
        low, high = kw.get("min_value"), kw.get("max_value")
        resolved = [None if v is None else parameters.get(v.name) if isinstance(v, Parameter) else v for v in (low, high)]
        if None not in resolved and resolved[0] > resolved[1]:
            raise SuiteTranslationError(f"{where}: min_value is greater than max_value")
        inside = []
        if low is not None:
            inside.append(f"{c} {'>' if kw.get('strict_min') else '>='} {_literal(low, column, column_types, parameters, where)}")
        if high is not None:
            inside.append(f"{c} {'<' if kw.get('strict_max') else '<='} {_literal(high, column, column_types, parameters, where)}")
        return f"{condition} and {c} is not null and not ({' and '.join(inside)})"
    raise SuiteTranslationError(f"{where}: type {kind} has no SQL")  # translate() lets no other type through
