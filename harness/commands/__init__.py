"""The commands: what each ``alexbench`` subcommand does, from its checked options to what it prints. Uses
every layer below; harness.cli declares the flags and dispatches here."""
