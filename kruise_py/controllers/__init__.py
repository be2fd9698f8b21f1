"""The three controllers, each the same shape: plan.py (pure decisions), reconcile.py (I/O), status.py."""
