"""Reading a municipality's file (CSV or XLSX) into rows, within the reading limits. Only the
pseudonymise stage calls it, in a child process (privacy/reading.py): the rows it returns still hold
personnummer, so nothing outside the privacy stage may read an archived file."""
