"""Test suite. A package, so that tests/rules is imported as tests.rules and never shadows the real rules package."""
