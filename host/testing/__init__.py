"""Test kits for module authors: what every Shifo module must satisfy (:mod:`host.testing.module_kit`).

Shipped inside the ``shifo`` package so an external module package can run them in its own tests,
but never imported by the runtime (a test holds ``host.web.app`` and ``host.cli`` to that): these
modules need pytest, which is a test dependency only.
"""
