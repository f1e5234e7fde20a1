"""A record: one row of a delivered file as its format reader gives it, before the header is known.

csv_records.py and xlsx_records.py yield records; reader.py looks for the header among the first
HEADER_SEARCH_ROWS non-blank ones (and a CSV's separator is looked for there too) and keeps the
data rows under it. On its own so that neither format reader imports the other or reader.py.
"""

HEADER_SEARCH_ROWS = 10          # a title row or two above the header is tolerated

# A record: (its row number in the file, its cells as text). CSV: the line the record starts on;
# XLSX: the worksheet row. The municipality finds the row by that number.
Record = tuple[int, list[str]]
