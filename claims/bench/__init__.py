"""The benchmark's own pieces (``manage.py bench``); never part of the served API."""
