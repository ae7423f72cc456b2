"""The shipped host-side checks: the MTA's own configuration, read inside the mail host through
pytest-testinfra (CATALOG.md §19).

Run them with ``pytest --pyargs mailspec.hostchecks --hosts=local://`` (or ``ssh://mx1``,
``docker://...``; ``--mail-mta``, ``--mail-mta-config``), add ``--mail-domain=example.com`` to judge
the host for a domain too, or import some into your own testinfra suite
(``from mailspec.hostchecks.test_host import test_host_relay_restricted``). They need
``pip install mailspec[host]`` (pytest-testinfra).
"""
