"""BERT self-attention for the inference copies: one matmul for Q, K and V, and the attention
by the path that is fastest for the window length (`fuse_self_attention`).

Hugging Face's `BertSdpaSelfAttention` runs three Linear layers on the same input, then
`scaled_dot_product_attention`. The packed fp32 copy (packed.py) and the int8 copy
(int8_layers.py) run it as one block instead:

- Q, K and V come from one Linear layer with the three weights stacked (hidden -> 3 x hidden).
  One wider matmul runs nearer the matmul peak than three thin ones, and int8 quantizes the
  input once instead of three times. Q's rows are pre-scaled by 1/sqrt(head size), so neither
  attention path scales the scores again.
- The attention itself takes one of three paths by the window length:
  - short windows (up to SHORT_WINDOW wordpieces: a batch of sentences): two batched matmuls
    and a softmax over every window and head at once. PyTorch's CPU kernel behind
    `scaled_dot_product_attention` (flash attention) works in blocks sized for long sequences,
    and with 12 heads of 16-48 positions its per-block work shows.
  - windows of up to BLOCKED_WINDOW wordpieces (strided windows of 128 tokens, most of QA's
    question-context pairs): the same three steps window by window, a few heads at a time, so
    that each block of scores (heads x length x length) stays within SCORES_BLOCK_BYTES, about
    what a core's cache holds, from the matmul that writes it through the softmax to the
    matmul that reads it. The flash kernel's blocks are small matmuls of 32-wide heads; here
    each head's scores are one larger matmul (attention_in_blocks).
  - longer windows (QA's longest pairs, wordpiece windows of 512): the flash kernel, whose
    memory does not grow with the square of the length and which is as fast there (from 256
    positions on, the blocks ran 0.82-1.03x the kernel's speed in bench/attention.py).

On 2 cores with MiniLM's shapes (bench/attention.py, one self-attention block, eager Linear
layers), the fused block ran 1.05-1.26x HF's up to 48 positions and 1.02-1.15x beyond, before
the blocks path; the blocks then ran 1.09-1.22x HF's at 160-192 positions. On the encoder calls
of a CoNLL NER and a SQuAD QA evaluation, replayed (bench/encoder_replay.py), the packed fp32
copy ran 1.035-1.040x and 1.004x its unfused self, the int8 copy 1.016-1.030x and 1.026x (with
int8_layers.py's in-place GELU); the blocks path added fp32 1.04x and int8 1.05-1.07x on the
QA calls and on long texts' strided windows, and about 1.00x / 1.01x on CoNLL sentences, most
of which are short windows (docs/benchmarks.md, "Fused self-attention" and "Attention in
blocks of heads").

Values are the module's own up to float rounding (another summation order, as packed.py's). Only
encoder self-attention with absolute positions is replaced (BERT and its copies in HF, which
every config this package builds uses); decoders, cross-attention and relative positions keep
Hugging Face's module. `output_attentions` and `head_mask` take the batched-matmul path, which
returns the probabilities as HF's eager attention does.
"""

import math
from typing import Collection, Optional, Tuple

import torch

# Windows of up to this many wordpieces run their attention as batched matmuls (above).
SHORT_WINDOW = 48
# Windows of up to this many wordpieces run it window by window in blocks of heads (above).
BLOCKED_WINDOW = 256
# The most bytes of attention scores one block computes at a time: 2 MiB, 8 heads of 256 x 256
# fp32 scores (256 KiB each), all 12 of a 160-wordpiece window (100 KiB each). A core's L2 cache
# holds 1-2 MiB on current x86 server CPUs; 1, 2 and 4 MiB ran within a few percent of each other
# on the replayed QA calls (bench/encoder_replay.py's recording, informal).
SCORES_BLOCK_BYTES = 2 << 20


class FusedSelfAttention(torch.nn.Module):
    """`source` (a Hugging Face BERT self-attention module, eval mode) with Q, K and V fused.

    Made by `fuse_self_attention`; its `qkv` Linear is what the packed and int8 copies convert.
    short_window (int): Windows of up to this many wordpieces take the batched-matmul path.
    blocked_window (int): Longer windows of up to this many take attention_in_blocks.
    """

    def __init__(
        self,
        source: torch.nn.Module,
        short_window: int = SHORT_WINDOW,
        blocked_window: int = BLOCKED_WINDOW,
    ) -> None:
        super().__init__()
        self.short_window = short_window
        self.blocked_window = blocked_window
        self.heads = source.num_attention_heads
        self.head_size = source.attention_head_size
        width = self.heads * self.head_size
        query, key, value = source.query, source.key, source.value
        scale = 1.0 / math.sqrt(self.head_size)
        weight = torch.cat([query.weight * scale, key.weight, value.weight]).detach()
        bias = torch.cat([query.bias * scale, key.bias, value.bias]).detach()
        # skip_init: a plain nn.Linear would draw its initial weights from torch's global
        # generator, so every copy made during training would change the dropout that follows.
        self.qkv = torch.nn.utils.skip_init(
            torch.nn.Linear, query.in_features, 3 * width, dtype=weight.dtype
        )
        self.qkv.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.qkv.bias = torch.nn.Parameter(bias, requires_grad=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: Optional[torch.Tensor] = None,
        head_mask: Optional[torch.Tensor] = None,
        encoder_hidden_states: Optional[torch.Tensor] = None,
        encoder_attention_mask: Optional[torch.Tensor] = None,
        past_key_value: Optional[Tuple] = None,
        output_attentions: bool = False,
    ) -> Tuple[torch.Tensor, ...]:
        if encoder_hidden_states is not None or past_key_value is not None:
            raise ValueError("FusedSelfAttention is encoder self-attention only")
        batch, length, _ = hidden_states.shape
        # (batch, length, 3, heads, size) -> three (batch, heads, length, size) views
        qkv = self.qkv(hidden_states).view(batch, length, 3, self.heads, self.head_size)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if length > self.short_window and head_mask is None and not output_attentions:
            if length <= self.blocked_window:
                context = attention_in_blocks(query, key, value, attention_mask)
            else:
                context = torch.nn.functional.scaled_dot_product_attention(
                    query, key, value, attn_mask=attention_mask, scale=1.0
                )
            return (context.transpose(1, 2).reshape(batch, length, -1),)
        scores = torch.matmul(query, key.transpose(-1, -2))  # (batch, heads, length, length)
        if attention_mask is not None:  # (batch, 1, 1 or length, length), 0 or a large negative
            scores += attention_mask
        probs = torch.softmax(scores, dim=-1)
        if head_mask is not None:
            probs = probs * head_mask
        context = torch.matmul(probs, value).transpose(1, 2).reshape(batch, length, -1)
        return (context, probs) if output_attentions else (context,)


def attention_in_blocks(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Optional[torch.Tensor],
    block_bytes: int = SCORES_BLOCK_BYTES,
) -> torch.Tensor:
    """softmax(query @ key^T + mask) @ value, window by window, a block of heads at a time.

    query, key, value (Tensor): (windows, heads, length, head size); query pre-scaled.
    attention_mask (Optional[Tensor]): (windows, 1, 1 or length, length): 0, or a large
        negative number for padding.
    block_bytes (int): Each block's heads are as many as keep its scores within this (one at
        least).
    RETURNS (Tensor): The context, (windows, heads, length, head size), contiguous.
    """
    windows, heads, length, _ = query.shape
    per_head = length * length * query.element_size()
    block = max(1, min(heads, block_bytes // per_head))
    context = query.new_empty(query.shape)
    for window in range(windows):
        mask = attention_mask[window] if attention_mask is not None else None
        for first in range(0, heads, block):
            part = slice(first, first + block)
            keys = key[window, part].transpose(1, 2)
            if mask is None:
                scores = torch.bmm(query[window, part], keys)
            else:  # the mask row is added as the matmul writes the scores
                scores = torch.baddbmm(mask, query[window, part], keys)
            probs = torch.softmax(scores, dim=-1)
            torch.bmm(probs, value[window, part], out=context[window, part])
    return context


def fusable(module: torch.nn.Module) -> bool:
    """Whether `module` is encoder self-attention FusedSelfAttention replaces (above)."""
    from transformers.models.bert.modeling_bert import BertSelfAttention

    return (
        isinstance(module, BertSelfAttention)
        and not module.is_decoder
        and getattr(module, "position_embedding_type", "absolute") == "absolute"
        and all(
            type(getattr(module, name, None)) is torch.nn.Linear
            and getattr(module, name).bias is not None
            for name in ("query", "key", "value")
        )
    )


def fuse_self_attention(module: torch.nn.Module, skip: Collection[str] = ()) -> int:
    """Replace, in place, every fusable self-attention of `module` (an inference copy) by a
    FusedSelfAttention, except those whose names are in `skip`. RETURNS how many.

    The copy's BERT model then passes its attention layers each window's padding as one row
    (batch, 1, 1, length) instead of the (batch, 1, length, length) block HF builds for
    `scaled_dot_product_attention`, which reads the whole block once per head: about 13% of the
    attention kernel's time on 384-wordpiece windows (bench/attention.py). Both forms hold the
    same values; HF's own attention modules (any left unfused) take either.
    """
    fused = 0
    for name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if full not in skip and fusable(child):
                setattr(parent, child_name, FusedSelfAttention(child))
                fused += 1
    if not fused:
        return 0
    for sub in module.modules():
        # BertModel (4.41 and later) builds the block only when this says "sdpa"; its other
        # branch, the one HF's eager attention uses, builds the row.
        if getattr(sub, "attn_implementation", None) == "sdpa":
            sub.attn_implementation = "eager"
    return fused
