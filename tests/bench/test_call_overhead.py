"""Pure helpers of bench/call_overhead.py."""

import call_overhead


def test_ms_per_doc_alternates_the_order_and_takes_medians():
    calls = []
    runs = {"spacy": lambda: calls.append("spacy"), "hf": lambda: calls.append("hf")}
    found = call_overhead.ms_per_doc(runs, n_docs=4, repeats=3)
    assert calls == ["spacy", "hf", "hf", "spacy", "spacy", "hf"]
    assert found["n_docs"] == 4 and len(found["all"]["spacy"]) == 3
    assert found["spacy"] == sorted(found["all"]["spacy"])[1]


def test_table_shows_the_difference_per_doc():
    report = {"points": {"batch 1": {"n_docs": 1000, "spacy": 0.75, "hf": 0.5}}}
    last = call_overhead.table(report).splitlines()[-1]
    assert "| batch 1" in last and "1,000" in last and "+0.250" in last
