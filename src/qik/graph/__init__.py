"""The runnable graph: expansion of commands into runnables, the DAG, selection."""
