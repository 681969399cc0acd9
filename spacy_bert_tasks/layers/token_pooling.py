"""spacy-transformers' `trfs2arrays` (one vector per spaCy token, pooled over its wordpieces), run
over bounded groups of docs.

The stock layer gathers each doc's aligned wordpiece rows, concatenates the rows of the whole
batch and pools them in one call. For a batch of long docs those are arrays of 70-85 MB (20
docs of 2,000 words with MiniLM), above the largest mmap threshold glibc ever sets (32 MiB): each
is a fresh mapping that page-faults page by page at every batch, and their copies and the pooling
over them took about 7% of a compiled long-doc `nlp.pipe` pass (py-spy), more than tokenizing.
Pooling group by group, each group's rows under MAX_BYTES_PER_GROUP, keeps these arrays small
enough for glibc to serve from memory the process already holds. Batches of short docs are a
handful of groups, so the extra Python calls cost nothing measurable.

`pooled_token_vectors` builds a model of the same name and structure as `trfs2arrays` (its
pooling layer the one child, the same attrs), so pipelines saved with the stock layer load into
it. Outputs and gradients are the stock layer's, group by group (tests/encoder/test_token_pooling.py).
"""

from typing import Callable, List, Tuple

from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers.trfs2arrays import forward as pool_batch
from thinc.api import Model
from thinc.types import Floats2d, Ragged

# 8 MiB of float32 wordpiece rows per group: 5,461 rows at MiniLM's width 384 (about 4,000 words),
# 2,730 at BERT-base's 768. glibc raises its mmap threshold to the size of each mapped block
# freed, so after the first batch every group's arrays come from the heap.
MAX_BYTES_PER_GROUP = 8 * 1024 * 1024


def pooled_token_vectors(
    pooling: Model[Ragged, Floats2d], grad_factor: float
) -> Model[List[TransformerData], List[Floats2d]]:
    """Token vectors from the encoder's output, as `trfs2arrays(pooling, grad_factor)`."""
    return Model("trfs2arrays", forward, layers=[pooling], attrs={"grad_factor": grad_factor})


def forward(model: Model, trf_datas: List[TransformerData], is_train: bool):
    outputs: List[Floats2d] = []
    backprops: List[Tuple[int, int, Callable]] = []
    for start, end in doc_groups(trf_datas, MAX_BYTES_PER_GROUP):
        group_outputs, backprop_group = pool_batch(model, trf_datas[start:end], is_train)
        outputs.extend(group_outputs)
        backprops.append((start, end, backprop_group))

    def backprop(d_outputs: List[Floats2d]) -> List[TransformerData]:
        # As the stock layer, one entry per doc with encoder output, in the batch's order.
        d_trf_datas: List[TransformerData] = []
        for start, end, backprop_group in backprops:
            d_trf_datas.extend(backprop_group(list(d_outputs[start:end])))
        return d_trf_datas

    return outputs, backprop


def doc_groups(trf_datas: List[TransformerData], max_bytes: int) -> List[Tuple[int, int]]:
    """Consecutive (start, end) ranges of docs whose aligned wordpiece rows together stay under
    `max_bytes` (a doc larger than that is a group of its own); every doc in exactly one."""
    groups: List[Tuple[int, int]] = []
    start, size = 0, 0
    for i, trf_data in enumerate(trf_datas):
        doc_bytes = _aligned_bytes(trf_data)
        if i > start and size + doc_bytes > max_bytes:
            groups.append((start, i))
            start, size = i, 0
        size += doc_bytes
    if start < len(trf_datas):
        groups.append((start, len(trf_datas)))
    return groups


def _aligned_bytes(trf_data: TransformerData) -> int:
    """Bytes of the rows the pooling gathers for this doc: one per (token, wordpiece) pair."""
    if not isinstance(trf_data, TransformerData):  # the stock forward raises a clear error
        return 0
    hidden = trf_data.model_output.get("last_hidden_state")
    if hidden is None or hidden.size == 0:
        return 0
    return int(trf_data.align.dataXd.shape[0]) * int(hidden.shape[-1]) * hidden.dtype.itemsize
