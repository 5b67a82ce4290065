"""The operator console: server-rendered pages under ``/console`` for operator accounts.

Named ``console_web`` because ``host.console`` is the ``shifo`` command's shared helpers. Every
action calls the same operator service as the JSON API (``host.operator``), with the same audit
entry; no page shows clinical data or a PINFL. The API note for page authors is in :mod:`.web`.
"""
