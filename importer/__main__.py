"""`python -m importer` runs the same CLI as the `plausible-logs` script."""

from importer.cli import main

main()
