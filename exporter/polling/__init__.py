"""The loop: a target's poller (fetch, apply, save, publish), the resource kinds it polls
(``resources``: how each is fetched, applied and rendered), each list of jobs it counts
(``counted``: its ledger and where it is saved), the wait after throttling
(``backoff``), its health, the schedule, sharding and giving freed heap back.
"""
