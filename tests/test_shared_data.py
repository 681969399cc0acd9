"""Tests on the shared datasets never vanish quietly: a loud skip here, a failure under CI=true."""

import pytest
from util import SHARED_DATA_MISSING, require_shared_data


def test_missing_data_skips_with_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{SHARED_DATA_MISSING}: .*absent.txt"):
        require_shared_data(tmp_path / "absent.txt")


def test_missing_data_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_shared_data(tmp_path / "absent.txt")


def test_present_data_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "present.txt").write_text("x")
    require_shared_data(tmp_path / "present.txt")
