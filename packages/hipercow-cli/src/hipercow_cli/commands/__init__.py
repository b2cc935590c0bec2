"""The `hipercow` sub-commands, one module per group."""
