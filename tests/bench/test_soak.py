"""The memory soak's trend (bench/harness/soak.py): the slope of RSS over its samples."""

import pytest
from harness.soak import trend_percent


def test_flat_samples_have_no_trend():
    assert trend_percent([(5_000, 650.0), (7_500, 650.0), (50_000, 650.0)]) == 0.0


def test_a_steady_leak_reads_as_its_rate():
    # 1 MB more every 1,000 docs from 500 MB: 10 MB per 10,000 docs, 2% of the first sample.
    samples = [(docs, 500.0 + (docs - 5_000) / 1_000) for docs in range(5_000, 50_001, 2_500)]
    assert trend_percent(samples) == pytest.approx(2.0)
    assert trend_percent(samples, per_docs=1_000) == pytest.approx(0.2)


def test_one_low_sample_moves_the_trend_far_less_than_the_growth():
    # A warm-up sample 30 MB under a flat plateau: +4.8% end to end.
    samples = [(5_000, 630.0)] + [(docs, 660.0) for docs in range(7_500, 50_001, 2_500)]
    growth = 100 * (samples[-1][1] - samples[0][1]) / samples[0][1]
    assert growth > 4.5
    assert 0 < trend_percent(samples) < growth / 5


@pytest.mark.parametrize("samples", [[], [(5_000, 650.0)], [(5_000, 650.0), (5_000, 660.0)]])
def test_a_trend_needs_two_doc_counts(samples):
    with pytest.raises(ValueError, match="two"):
        trend_percent(samples)
