"""argparse in Swedish: the headings, the help flag and the errors of `followup`'s command line.

argparse writes its own words in English ("usage:", "options", "unrecognized arguments"); a
coordinator reads the rest of `followup` in Swedish. Set per parser, not by replacing argparse's
gettext for the whole process (pytest, for one, shares that process in the tests).
"""

from __future__ import annotations

import argparse
import re
import sys

# argparse's error messages (Python 3.11), each with its Swedish wording.
_ERRORS = (
    (re.compile(r"unrecognized arguments: (.*)", re.S), r"okända argument: \1"),
    (re.compile(r"the following arguments are required: (.*)", re.S), r"de här argumenten behövs: \1"),
    (re.compile(r"argument (.+?): invalid choice: (.*) \(choose from (.*)\)", re.S), r"argument \1: ogiltigt val \2 (välj bland \3)"),
    (re.compile(r"argument (.+?): invalid \w+ value: (.*)", re.S), r"argument \1: ogiltigt värde \2"),
    (re.compile(r"argument (.+?): expected one argument", re.S), r"argument \1: ett värde behövs"),
    (re.compile(r"argument (.+?): expected at least one argument", re.S), r"argument \1: minst ett värde behövs"),
    (re.compile(r"argument (.+?): not allowed with argument (.*)", re.S), r"argument \1: kan inte kombineras med \2"),
    (re.compile(r"ambiguous option: (.*?) could match (.*)", re.S), r"tvetydig flagga \1: kan betyda \2"),
)


def in_swedish(message: str) -> str:
    for pattern, swedish in _ERRORS:
        if pattern.fullmatch(message):
            return pattern.sub(swedish, message)
    return message


class SwedishHelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, "användning: " if prefix is None else prefix)


class SwedishArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose headings, help flag and errors are Swedish; its subcommands'
    parsers are of the same class (argparse's default for add_subparsers)."""

    def __init__(self, *args, **kwargs) -> None:
        add_help = kwargs.pop("add_help", True)
        kwargs.setdefault("formatter_class", SwedishHelpFormatter)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "kommandon och argument"
        self._optionals.title = "flaggor"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help="visa den här hjälpen och avsluta")

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: fel: {in_swedish(message)}\n")
