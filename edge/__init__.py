"""The edge Worker: entry.py imports the runtime; the rest is plain Python."""
