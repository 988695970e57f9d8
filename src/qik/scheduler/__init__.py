"""Dispatch of runnables: the scheduler (main process) and the pool worker."""
