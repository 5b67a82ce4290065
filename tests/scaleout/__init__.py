"""Scale-out tests (issue #21): real ``shifo serve`` and ``shifo consume`` processes on one
PostgreSQL and one NATS server, written to over HTTP, killed and restarted; the database says
afterwards whether anything was lost, applied twice or handled out of order.

``cluster`` starts the processes, ``world`` seeds and writes, ``checks`` reads the database back,
``deployment`` puts them together; ``probe/`` is a module package the children load by entry point.
"""
