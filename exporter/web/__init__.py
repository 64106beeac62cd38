"""What scrapers talk to, in layers: the application (app.py, a function from a Request to a
Response: the routes, /metrics negotiation from negotiation.py), the security layer around it
(security.py: basic auth from basic_auth.py and the headers the web config in web_config.py
asks for), and the hardened socket server (server.py, with framing.py for a connection's
input and output) that frames requests for them and writes their responses.
"""
