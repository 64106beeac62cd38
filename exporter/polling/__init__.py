"""The loop: a target's poller (poll, save, publish), its health, the schedule, sharding
and giving freed heap back.
"""
