"""Makes the repository root importable (``tests.*`` helpers) however pytest is started: ``pytest`` or
``python -m pytest``."""
