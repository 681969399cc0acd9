"""bench/kernel_build.py: the doublings it times, and a smoke run."""

import json
import sys

import kernel_build
import pytest
import torch

from spacy_bert_tasks.encoder import packed

pytestmark = pytest.mark.skipif(
    not packed.packing_available(torch.nn.Linear(2, 2)),
    reason="this torch build lacks oneDNN's ops",
)


def test_doubling_tops_end_at_the_largest_size():
    assert kernel_build.doubling_tops(64) == [1, 2, 4, 8, 16, 32, 64]
    assert kernel_build.doubling_tops(1) == [1]


def test_smoke_run_builds_each_doubling_on_its_first_call(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(packed, "_BUILT_DOUBLINGS", {})  # as in a fresh process
    calls = []
    pointwise = torch.ops.mkldnn._linear_pointwise

    def recording(flat, *args):
        calls.append(flat.numel() // flat.shape[-1])
        return pointwise(flat, *args)

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", recording)
    out = tmp_path / "kernel_build.json"
    monkeypatch.setattr(
        sys, "argv", ["kernel_build.py", "--smoke", "--threads", "1", "--json", str(out)]
    )
    kernel_build.main()
    doublings = json.loads(out.read_text())["encoders"]["smoke"]
    assert [d["rows"] for d in doublings] == ["1", "2", "3-4", "5-8", "9-16", "17-32", "33-64"]
    assert [d["sizes"] for d in doublings] == [1, 1, 2, 4, 8, 16, 8]
    # 4 weight shapes: each doubling's sizes once on the first call, then its largest again
    assert len(calls) == 4 * sum(d["sizes"] + 1 for d in doublings)
    assert all(d["first_s"] > 0 and d["again_s"] > 0 for d in doublings)
    assert "| smoke (12, 20) | all " in capsys.readouterr().out
