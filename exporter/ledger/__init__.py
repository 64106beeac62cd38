"""The counting rules, free of any store: a target's job ledger (``job_ledger``: what was
counted, once) over the runs it remembers (``runs``, ``memory``) and the departed runs it
keeps (``departed``); the attribution slots that bound label values (``attribution``); what
renderers read (``view.LedgerView``); the changes since the last save (``journal``); the
plain counts a ledger resumes from (``counts``).
"""
