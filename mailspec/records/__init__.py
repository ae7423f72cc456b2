"""Pure parsers of what the survey saw: no I/O here."""
