"""Root of mailspec's self-tests (not shipped).

pytester is enabled with ``-p pytester`` in pyproject's addopts rather than ``pytest_plugins`` here:
the editable install puts the shipped checks below this folder, and pytester runs that collect them
from another rootdir load this file as a non-root conftest, where ``pytest_plugins`` is refused.
"""
