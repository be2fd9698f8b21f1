"""BroadcastJob: fit.py (node fitness, pure) · plan.py (every decision, pure) · reconcile.py (I/O)."""
