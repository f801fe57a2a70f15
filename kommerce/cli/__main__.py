"""`python -m kommerce.cli` runs the same CLI as `.venv/bin/kommerce`."""

from kommerce.cli.main import main

main()
