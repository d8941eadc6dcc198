"""Self-hosting on one machine with the local engine: `make serve` runs gunicorn on this app.

The same routes, static files and vercel.json headers as `make dev` (one DevServer, without
reloading). gunicorn (`dev/gunicorn_conf.py`) loads this module once in its master before it
forks the workers, so the local engine's admission gate — at most IMGMEND_LOCAL_JOBS jobs at
once, a bounded queue, `503 busy` with Retry-After beyond — is one gate shared by all of them.
"""

from dev.server import create_app
from lib.engines import local

local.share_admission()
app = create_app(reload=False)
