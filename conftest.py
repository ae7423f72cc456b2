"""Root of mailspec's self-tests (not shipped): pytester for the end-to-end plugin tests."""

pytest_plugins = ["pytester"]
