"""The watch-facing WebSocket gateway: accepts turns, publishes them, returns replies."""
