"""gunicorn settings for the API, used by the Procfile, the Dockerfile and bench/pipeline.py."""

import os

bind = os.environ.get("IMPORTER_BIND", "127.0.0.1:8000")
# A worker per core; threads overlap the requests' waits on PostgreSQL and Redis.
workers = int(os.environ.get("IMPORTER_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("IMPORTER_WEB_THREADS", "4"))
logger_class = "importer.logging_setup.GunicornLogger"
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections evenly:
# with one shared socket one worker could hold most of 50 keep-alive connections (GET p99 at
# 50 connections, 3 interleaved runs: 214/255/238 ms shared, 131/169/121 ms with this).
reuse_port = True
