"""The state file: the SQLite database and its checks, the ledger's saved form checked
field by field, and the target identity counts are kept under.
"""
