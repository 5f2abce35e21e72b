"""livegate: a real-time gateway for live sports events."""

__version__ = "0.1.0"
__all__ = ["__version__"]
