"""`python -m importer` runs the same CLI as the `plausible-logs` script."""

from importer.launch import main

main()
