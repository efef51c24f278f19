"""``make bench``: Prism's added latency and throughput, against the fake provider called directly."""
