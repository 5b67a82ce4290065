"""The HTTP face of the host: the app factory, the guard, problem details, health."""
