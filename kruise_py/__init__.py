"""kruise-py: OpenKruise workload controllers in Python."""

__version__ = "0.1.0"
