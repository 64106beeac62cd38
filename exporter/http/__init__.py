"""Talking to backends: the transport with one deadline per poll, bodies read within their
cap, backend TLS, the API client every backend uses, and backend text made safe to show.
"""
