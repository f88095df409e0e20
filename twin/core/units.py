"""Time units. Time inside the twin is in hours from the scenario's start date at 00:00."""

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 168.0
HOURS_PER_YEAR = 8760.0
"""A year of 365 days (the twin's calendar has no leap days)."""
