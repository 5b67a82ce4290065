"""The shared language of Shifo: value types, events and errors. Pure Python and msgspec, no I/O."""
