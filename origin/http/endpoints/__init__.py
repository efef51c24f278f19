"""HTTP endpoints: parse → pipeline → response."""
