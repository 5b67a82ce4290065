"""Messaging adapters: in-process (the embedded default) and broker-backed."""
