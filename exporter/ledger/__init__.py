"""The counting rules: a target's job ledger (what was counted, once), departed runs,
and the attribution slots that bound label values.
"""
