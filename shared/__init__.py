"""Code every Uhrwerk service shares: contracts, topology, settings, logging, the worker runtime."""
