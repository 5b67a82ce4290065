"""Identity adapters. ``local``: accounts, argon2id passwords and opaque bearer tokens."""
