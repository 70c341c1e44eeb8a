"""vnet: a virtual honeynet that answers for many hosts on one interface."""

__version__ = "0.1.0"
