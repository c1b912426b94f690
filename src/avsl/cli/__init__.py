"""The `avsl` command line: one small module per subcommand."""
