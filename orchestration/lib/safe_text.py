"""Delivered text made safe to store and show: file names in any bytes, terminal and Markdown.

A file name is whatever bytes the municipality's system wrote. On Linux Python hands them over
with undecodable bytes as lone surrogates, which DuckDB, JSON and a terminal all refuse or
misread. `display_name` turns any name into the text a person would recognise (UTF-8, else
Windows-1252, which is what Windows file shares write), with control characters visible as `?`.
`console` and `markdown_cell` then make such text harmless where it is shown: no escape sequence
reaches the operator's terminal, no `|` or `*` bends a table in the Dagster event log.
"""

from __future__ import annotations

import os
import re

# C0 and C1 controls, DEL, and the Unicode marks that reorder or hide text (bidirectional
# overrides and isolates, zero-width characters, the byte order mark): none belongs in a file
# name or a one-line message, and each can make what is shown differ from what is there.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_CONTROL_KEEP_NEWLINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# What makes Markdown inside a table cell: emphasis, code, links and images (the brackets), HTML,
# the cell separator, strike-through. Parentheses, `#` and `+` mean nothing without them.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def display_name(name: str) -> str:
    """A file or folder name as text: its bytes read as UTF-8, else as Windows-1252; control
    characters shown as `?`. Deterministic, so the same name always gives the same text."""
    if _SURROGATE.search(name):
        raw = os.fsencode(name)
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = raw.decode("cp1252", errors="replace")
        name = _SURROGATE.sub("?", name)
    return _CONTROL.sub("?", name)


def display_path(relative: str) -> str:
    """A relative path (parts separated by `/`) with every part made displayable."""
    return "/".join(display_name(part) for part in relative.split("/"))


def console(text: object, keep_newlines: bool = True) -> str:
    """Text for a terminal: no escape sequence or other control character gets through."""
    value = _SURROGATE.sub("?", str(text))
    return (_CONTROL_KEEP_NEWLINES if keep_newlines else _CONTROL).sub("?", value)


def markdown_cell(text: object) -> str:
    """Text for one cell of a Markdown table (Dagster's event log renders Markdown): on one
    line, control characters removed, every character with a Markdown meaning escaped."""
    value = console(text, keep_newlines=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", value).replace("&", "&amp;")


def code_block(text: object) -> str:
    """Text as a fenced Markdown code block that nothing in it can close: the fence is longer
    than any run of backticks inside, and control characters are removed."""
    value = console(text)
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{value}\n{fence}"
