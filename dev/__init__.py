"""The local server that behaves like Vercel for this project (never deployed: not under lib/ or api/).

- `dev.vercel_config`: vercel.json's cleanUrls/trailingSlash redirects and `headers`, as Vercel applies them;
- `dev.reload`: api/NAME.py loaded by path as Vercel's bridge does, reloaded when api/ or lib/ changes;
- `dev.server`: the WSGI app and `python -m dev [--host H] [--port P]`.
"""
