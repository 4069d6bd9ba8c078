"""Test package root: makes test modules ``tests.rules.*`` etc., so ``tests/rules`` (a package for its
relative ``helpers`` import) cannot shadow the real ``rules`` package in a whole-suite run."""
