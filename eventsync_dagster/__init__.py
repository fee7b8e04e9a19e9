"""Luma and Eventee synced into a warehouse with Dagster and dlt.

dlt settings the project runs with, unless the environment says otherwise: no anonymous
telemetry (nothing of ours leaves the machine but requests to the vendors), and uncompressed
load files (gzip was a sixth of a sync's time, for files deleted after the load).
"""

import os

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")
