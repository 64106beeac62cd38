"""The state file: its entries by target (``database.StateFile``); opening, locking, migrating
and setting aside the SQLite file (``opening``, with the checks made before it in ``checks``);
its layout and the JSON files of earlier versions (``schema``); a target's rows (``rows``);
a ledger's saved form and back (``ledger_form``), checked field by field (``saved_ledger``);
the target identity counts are kept under (``identity``).
"""
