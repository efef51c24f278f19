"""Running the origin: metrics, logs, background tasks."""
