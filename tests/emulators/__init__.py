"""Emulators of the remote APIs gatewayctl talks to, for tests and manual trials."""
