"""The world behind the ports. Adapters import core and ports, never a module or the host."""
