"""Reporting: funder exports and headline tables."""
