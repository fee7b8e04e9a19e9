"""Eventee: table specs (`tables.py`), the plain dlt source (`source.py`), the change poll
(`poll.py`), all without Dagster, and their Dagster definitions (`defs.py`)."""
