"""An example EDS adapter package for Shifo (``signature.example``)."""
