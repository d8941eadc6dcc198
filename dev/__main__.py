"""`python -m dev`: the site and API on http://127.0.0.1:3000."""

from dev.server import main

main()
