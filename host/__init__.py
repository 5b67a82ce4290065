"""The small host: hook specifications, settings, plugin and adapter loading, the web app, the
outbox relay and the CLI. Plugins may import only :mod:`host.pluginapi` from here."""
