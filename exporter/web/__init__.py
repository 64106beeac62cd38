"""What scrapers talk to: the hardened HTTP server, content negotiation, the web config
(TLS, basic auth, headers) and the basic-auth check.
"""
