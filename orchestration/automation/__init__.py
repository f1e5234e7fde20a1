"""Automation: the monthly schedule and the inbox sensor."""
