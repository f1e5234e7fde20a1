"""Intake: find deliveries in the inbox, archive them, read them into rows of text."""
