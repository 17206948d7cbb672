"""Clients for the remote APIs gatewayctl plans against and applies to (I/O lives here, nowhere else)."""
