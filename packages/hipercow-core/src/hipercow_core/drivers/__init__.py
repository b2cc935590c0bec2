"""Drivers: the protocol every cluster driver follows, and the registry that finds them."""
