"""Validation: Great Expectations suites, row and file verdicts, quarantine."""
