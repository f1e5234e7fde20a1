"""Pseudonymisation: the only stage that ever sees a personnummer."""
