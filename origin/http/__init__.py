"""The HTTP surface: errors, body reading, validation, endpoints."""
