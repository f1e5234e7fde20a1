"""Intake: find deliveries in the inbox, archive them and record them, within the reading limits
(limits.py). Reading a file's rows is the privacy stage's (privacy/extract/): they hold personnummer."""
