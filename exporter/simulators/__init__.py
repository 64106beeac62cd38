"""Simulators of the backend APIs, shared by the tests and --demo."""
