"""The four modules: medcard, polyclinic, hospital, erecipe. Each is a pluggy plugin."""
