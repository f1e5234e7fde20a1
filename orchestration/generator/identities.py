"""Invented Swedish-sounding names and contact details.

Small fixed lists keep the output deterministic for a seed. Names are uncommon and at least
four letters long so that a leak scan for them does not fire on ordinary words or codes; the
surnames are made up. Phone numbers and e-mail addresses are random and use example.se.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FEMALE_NAMES = (
    "Alvina", "Tindra", "Majken", "Sigrun", "Lovisa", "Hedvig", "Elvira", "Rakel", "Dagny",
    "Ingeborg", "Solveig", "Vendela", "Märta", "Linnéa", "Hilma", "Alfhild", "Greta", "Ylvali",
    "Agnetha", "Ronja", "Siri", "Edith", "Tyra", "Meja",
)
MALE_NAMES = (
    "Vilgot", "Sixten", "Torvald", "Edvin", "Alvar", "Ragnar", "Birger", "Folke", "Gunnar",
    "Einar", "Halvar", "Arvid", "Melker", "Viggo", "Holger", "Valter", "Osvald", "Algot",
    "Ludvig", "Ebbe", "Hjalmar", "Ossian", "Torsten", "Gösta",
)
SURNAMES = (
    "Granvik", "Lindebrand", "Storfjäll", "Ekebjörk", "Tallqvist", "Myrebacke", "Sjöbacka",
    "Fjällgård", "Åkerlind", "Vinterbo", "Ljungdal", "Strandmark", "Blomgård", "Forsvik",
    "Älvdal", "Tjärnberg", "Kärrström", "Lövängen", "Norrbacke", "Rimfrost", "Hällmark",
    "Grankvist", "Bäcklid", "Videberg", "Snårbo", "Myrtorp", "Hedlinder", "Ripström",
)
STREETS = (
    "Granstigen", "Myrvägen", "Tallbacken", "Älvgatan", "Fjällvägen", "Björkallén", "Rönnstigen",
    "Kvarnbacken", "Lingonvägen", "Tjärnstigen", "Hjortronvägen", "Forsgränd", "Ljungbacken",
)
MOBILE_PREFIXES = ("070", "072", "073", "076")

_EMAIL_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "Å": "a", "Ä": "a", "Ö": "o"})


@dataclass(frozen=True)
class Contact:
    fornamn: str
    efternamn: str
    telefon: str
    epost: str
    adress: str


def random_contact(rng: random.Random, kon: str, used_emails: set[str]) -> Contact:
    """A name matching the reported sex (either list for X), a mobile number and an address."""
    if kon == "K":
        fornamn = rng.choice(FEMALE_NAMES)
    elif kon == "M":
        fornamn = rng.choice(MALE_NAMES)
    else:
        fornamn = rng.choice(FEMALE_NAMES + MALE_NAMES)
    efternamn = rng.choice(SURNAMES)
    number = f"{rng.randrange(1000000):07d}"
    telefon = f"{rng.choice(MOBILE_PREFIXES)}-{number[:3]} {number[3:5]} {number[5:]}"
    adress = f"{rng.choice(STREETS)} {rng.randint(1, 64)}"
    return Contact(fornamn, efternamn, telefon, _unique_email(fornamn, efternamn, used_emails), adress)


def _unique_email(fornamn: str, efternamn: str, used: set[str]) -> str:
    local = f"{fornamn}.{efternamn}".lower().translate(_EMAIL_FOLD)
    candidate, suffix = f"{local}@example.se", 2
    while candidate in used:
        candidate, suffix = f"{local}{suffix}@example.se", suffix + 1
    used.add(candidate)
    return candidate


def phone_forms(telefon: str) -> set[str]:
    """The written number and the digit strings a scan would normalise it to."""
    digits = "".join(ch for ch in telefon if ch.isdigit())
    return {telefon, digits, "+46" + digits[1:], "46" + digits[1:]}
