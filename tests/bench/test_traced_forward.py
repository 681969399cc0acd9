"""bench/traced_forward.py: the traced forward computes what the eager one does."""

import torch
import traced_forward
from transformers import AutoModel, AutoTokenizer


def test_trace_matches_eager_on_other_shapes_and_padding(tiny_bert):
    module, tokenizer = (
        AutoModel.from_pretrained(tiny_bert),
        AutoTokenizer.from_pretrained(tiny_bert),
    )
    eager, traced = traced_forward.trace_forward(module, tokenizer)
    texts = ["one", "a longer text than the example had , with more words in it", "two words"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape[1] > 10 and int(mask.sum(1).min()) < ids.shape[1]  # longer and padded
    with torch.inference_mode():
        expected, found = eager(ids, mask), traced(ids, mask)
    for row, length in enumerate(mask.sum(1).tolist()):
        torch.testing.assert_close(found[row, :length], expected[row, :length])
    # One text per call, as the benchmark times it.
    single = tokenizer(texts[1:2], return_tensors="pt")
    with torch.inference_mode():
        one = (single["input_ids"], single["attention_mask"])
        torch.testing.assert_close(traced(*one), eager(*one))
