"""The shipped checks: ordinary pytest modules, one area a file, collected by the mailspec plugin.

Run them with ``pytest --pyargs mailspec.checks --mail-domain=example.com``, or embed them in your own
suite with ``from mailspec.checks.test_mx import *``.
"""
