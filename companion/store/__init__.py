"""Storage: the journal (SQLite, optional encryption) and the data folder's privacy rules."""
