"""Makes these modules `convert.test_*`: without it, pytest's default import mode fails on
a test file of the same name elsewhere under tests/ (e.g. a tests/textcat/test_textcat.py)."""
