"""Prediction in chunks of windows of similar length, each padded only to its own longest window.

spaCy-transformers pads a batch of windows to its longest one. spaCy's batching sorts docs by
their spaCy token counts, but wordpiece counts differ from those, so a batch of short texts
still carries about a third of padding (CoNLL sentences: 44,902 padded wordpieces for 29,942
real ones). The attention mask keeps padding from changing what a real wordpiece sees, so
each window can run padded to its own chunk's width instead: the windows are sorted by length
and cut into chunks where the padding saved is worth another encoder call (`plan_chunks`).

Outputs are written back in the batch's order and padded width. A real position gets the
same values up to float rounding (a matmul of another shape may round differently in the
last bits). Padding positions hold the encoder's output for padding up to their chunk's width
and zeros beyond it; nothing reads them (the alignment, the heads and `doc._.trf_data`'s users
go by each window's real length). Chunks stay under WORDPIECES_PER_CALL padded wordpieces, so a
long doc's windows do not all run at once (peak memory).

The chunks run longest first, so each call's activations fit in the blocks the call before it
freed. Shortest first, every call outgrew those blocks: glibc then carves the new ones from the
top of the heap, while the small arrays kept between calls (the outputs) pin the old ones, and
the heap grows by fragments that are free but too small (qa/windows.py's `chunks` measured it).
"""

from typing import List, Sequence

import numpy
import torch
from spacy_transformers.data_classes import WordpieceBatch
from thinc.api import get_array_module

# What one more encoder call costs, in padded wordpieces it could have run instead: Python and
# framework work per call plus the lower matmul rate of smaller batches and one more round of
# thread synchronisation per layer. A chunk is split off only where it saves more padding than
# this. On 2 CPU cores with MiniLM, 768 CoNLL sentences in one batch (bench/flops.py, quiet,
# 2026-12-05, GFLOP/s of real wordpieces over the whole pass; padding 20% at 256, 8% at 64):
# compiled graph 98-111 at 256, 123-132 from 32 to 128 (64: 129, 130); eager 106-114 at 256,
# 109-115 from 32 to 96 (64: 114, 115). 64 is best or level for both. (A quick eager A/B when
# chunks came in, commit 99d7d71, had favoured 256: 1.20x over no splitting, 64 1.08x; this
# sweep, 256 and 64 twice each in one script, does not repeat it; `bench/flops.py
# --call-cost`.) Long texts' windows differ little in length: about no effect. On a GPU a
# wordpiece costs far less next to a call's kernel launches, so splitting pays only for large
# savings there (that value is a guess: not measured on a GPU).
CALL_COST_WORDPIECES = 64
GPU_CALL_COST_WORDPIECES = 2048


def plan_chunks(lengths: Sequence[int], max_wordpieces: int, call_cost: int) -> List[List[int]]:
    """The windows (as indices) of each encoder call, fewest padded wordpieces + call costs.

    lengths (Sequence[int]): Real wordpieces of each window.
    max_wordpieces (int): At most this many padded wordpieces per call (a window longer than
        that is a call of its own).
    call_cost (int): The cost of one call, in padded wordpieces.
    RETURNS (List[List[int]]): Every index once, the chunk of the longest windows first
        (see above), each chunk's windows in ascending order of length.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sorted_lengths = [max(1, int(lengths[i])) for i in order]
    n = len(order)
    # best[j]: least cost of the first j sorted windows; start[j]: where their last chunk starts.
    best = [0] + [float("inf")] * n
    start = [0] * (n + 1)
    for j in range(1, n + 1):
        width = sorted_lengths[j - 1]  # the longest of any chunk that ends at window j
        most = max(1, max_wordpieces // width)
        for i in range(max(0, j - most), j):
            cost = best[i] + (j - i) * width + call_cost
            if cost < best[j]:
                best[j], start[j] = cost, i
    chunks = []
    j = n
    while j > 0:
        chunks.append(order[start[j] : j])
        j = start[j]
    return chunks  # found from the longest windows back: longest first


def predict_in_chunks(hf_wrapper, wordpieces: WordpieceBatch, max_wordpieces: int):
    """The encoder's output for every window, run chunk by chunk (see plan_chunks)."""
    n_windows, width = wordpieces.input_ids.shape
    lengths = [int(length) for length in wordpieces.lengths]
    xp = get_array_module(wordpieces.input_ids)  # numpy, or cupy on a GPU
    call_cost = CALL_COST_WORDPIECES if xp is numpy else GPU_CALL_COST_WORDPIECES
    chunks = plan_chunks(lengths, max_wordpieces, call_cost)
    if len(chunks) == 1 and max(lengths, default=0) == width:
        return hf_wrapper.predict(wordpieces)
    merged = {}
    for rows in chunks:
        chunk_width = max(1, max(lengths[i] for i in rows))
        output = hf_wrapper.predict(_select(wordpieces, xp.asarray(rows), chunk_width))
        for key, value in output.items():
            if key not in merged:
                merged[key] = _allocate(value, n_windows, width)
            index = torch.as_tensor(rows, dtype=torch.long, device=_device(value))
            _place(merged[key], value, index, chunk_width)
    return type(output)(**merged)


def _device(value) -> torch.device:
    return value[0].device if isinstance(value, tuple) else value.device


def _select(wordpieces: WordpieceBatch, index, width: int) -> WordpieceBatch:
    """The windows at `index` (an array), cut to `width` positions."""
    token_type_ids = wordpieces.token_type_ids
    rows = index.tolist()
    return WordpieceBatch(
        strings=[wordpieces.strings[i] for i in rows],
        input_ids=wordpieces.input_ids[index, :width],
        attention_mask=wordpieces.attention_mask[index, :width],
        lengths=[wordpieces.lengths[i] for i in rows],
        token_type_ids=token_type_ids[index, :width] if token_type_ids is not None else None,
    )


def _allocate(value, n_windows: int, width: int):
    """Zeros for all windows at the batch's width: a tensor, or a tuple of them (hidden_states,
    attentions, when the encoder is configured to return them)."""
    if isinstance(value, tuple):
        return tuple(_allocate(part, n_windows, width) for part in value)
    if value.dim() == 2:  # (windows, hidden): pooled
        shape = value.shape[1:]
    elif value.dim() == 3:  # (windows, positions, hidden): states
        shape = (width, value.shape[2])
    else:  # (windows, heads, positions, positions): attentions
        shape = (value.shape[1], width, width)
    return value.new_zeros((n_windows, *shape))


def _place(target, value, rows: torch.Tensor, width: int) -> None:
    if isinstance(value, tuple):
        for target_part, part in zip(target, value):
            _place(target_part, part, rows, width)
    elif value.dim() == 2:
        target[rows] = value
    elif value.dim() == 3:
        target[rows, :width] = value
    else:
        target[rows, :, :width, :width] = value
