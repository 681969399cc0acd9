"""Pure helpers of bench/scaling.py."""

import argparse

import pytest
import scaling
from harness import common


def test_int_list():
    assert common.int_list("1,8, 32") == [1, 8, 32]
    with pytest.raises(argparse.ArgumentTypeError):
        common.int_list("1,0")


def test_curve_table():
    points = [
        {
            "x": 1000,
            "n_texts": 1000,
            "spacy": {"words_per_s": 4500.4},
            "hf": {"words_per_s": 2250.2},
            "ratio": 2.0,
        }
    ]
    table = scaling.curve_table(points, "docs").splitlines()
    assert table[0].split("|")[1].strip() == "docs"
    assert "1,000" in table[2] and "4,500" in table[2] and "2.00x" in table[2]
