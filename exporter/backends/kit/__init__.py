"""The backend kit: what every backend builds on instead of writing again.

Listing strategies (walks over pages by number or by token, an incremental time-window list,
a whole-list reader that skips unchanged items), field maps (how an API's record becomes a
``Job``) and the extras a backend declares beside the shared records. A backend package holds
only what is its own: its target model, its API's requests, its field map and its declaration.
"""
