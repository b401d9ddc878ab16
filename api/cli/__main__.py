"""`python -m api.cli`: the `ledger` command."""

from api.cli import main

main()
