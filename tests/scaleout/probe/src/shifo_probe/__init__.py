"""The probe module (`probe`) of the scale-out tests: see :mod:`shifo_probe.plugin`."""
