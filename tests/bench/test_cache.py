"""Result caching of bench/report.py: reuse only a successful run of the same command."""

import json

from harness import cache

COMMAND = ["python", "bench/flops.py", "--threads", "2", "--json", "out.json"]


def write_result(path, data=None):
    path.write_text(json.dumps(data or {"rows": 1}), encoding="utf8")


def test_no_record_no_reuse(tmp_path):
    result = tmp_path / "flops.json"
    write_result(result)
    assert cache.cached_result(result, COMMAND) is None


def test_same_command_is_reused(tmp_path):
    result = tmp_path / "flops.json"
    write_result(result, {"rows": 7})
    meta = cache.record_run(result, COMMAND, returncode=0, seconds=1.5)
    assert meta["command"] == COMMAND
    assert cache.meta_path(result).name == "flops.meta.json"
    assert cache.cached_result(result, COMMAND) == {"rows": 7}
    assert cache.cached_result(result, tuple(COMMAND)) == {"rows": 7}


def test_other_command_or_failure_is_not_reused(tmp_path):
    result = tmp_path / "flops.json"
    write_result(result)
    cache.record_run(result, COMMAND, returncode=0, seconds=1.0)
    assert cache.cached_result(result, COMMAND[:-1] + ["other.json"]) is None
    cache.record_run(result, COMMAND, returncode=1, seconds=1.0)
    assert cache.cached_result(result, COMMAND) is None


def test_cut_short_json_is_not_a_result(tmp_path):
    result = tmp_path / "flops.json"
    result.write_text('{"rows": ', encoding="utf8")
    cache.record_run(result, COMMAND, returncode=0, seconds=1.0)
    assert cache.cached_result(result, COMMAND) is None
    assert cache.read_json(tmp_path / "missing.json") is None


def test_forget_and_atomic_write(tmp_path):
    result = tmp_path / "flops.json"
    cache.write_json_atomic(result, {"a": 1})
    cache.record_run(result, COMMAND, returncode=0, seconds=1.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
    cache.forget(result)
    assert not result.exists() and not cache.meta_path(result).exists()
    cache.forget(result)  # nothing there: no error


def test_display_command_quotes():
    assert cache.display_command(["python", "a b.py", "--x"]) == "python 'a b.py' --x"
