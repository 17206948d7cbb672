"""gatewayctl: one service catalog for Kong Gateway and the Kuma service mesh."""

__version__ = "0.1.0"
