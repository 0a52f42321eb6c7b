"""The `ambience` command: setup, build, test, demo and bench for this repository."""
