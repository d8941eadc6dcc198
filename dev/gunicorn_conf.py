"""gunicorn settings for `make serve` (command-line flags such as --bind or --workers override them)."""

bind = "127.0.0.1:8000"
workers = 2
worker_class = "gthread"
threads = 8  # a request waiting in the engine's queue holds a thread, not a process
preload_app = True  # load dev.selfhost once, before the fork: the admission gate is shared
timeout = 300  # a long queue of 12 MP jobs on a small machine; gunicorn must not kill the worker
graceful_timeout = 30
accesslog = None  # dev.server writes one line per request itself
errorlog = "-"
