"""The loop: a target's poller (fetch, apply, save, publish), the resource kinds it polls
(``resources``: how each is fetched, applied and rendered), the wait after throttling
(``backoff``), its health, the schedule, sharding and giving freed heap back.
"""
