"""Subcommands of the `fieldlab` command line, one module each with `add_parser` and `run`."""
