"""hipercow_cli: the `hipercow` command; it renders what hipercow_core decides."""
