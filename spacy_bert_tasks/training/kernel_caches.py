"""Cap oneDNN's caches of compiled matrix-product kernels, so bf16 training stops growing them.

Training in bf16 (`train_precision = "bf16"`, which "auto" picks on CPUs with AVX512-BF16 or
AMX), torch runs the encoder's matrix products through oneDNN, which compiles a kernel for each
shape it meets and keeps it: in oneDNN's primitive cache (ONEDNN_PRIMITIVE_CACHE_CAPACITY) and
in torch's ideep cache (LRU_CACHE_CAPACITY), 1,024 kernels each by default. Padded batches have
a new number of rows at almost every step, so both caches fill with kernels used in one step
only: memory *in use* (not merely kept free by malloc) grew by about 4.4 MB a step in CoNLL NER
training with MiniLM, until both caches are full (bench/train_memory.py). fp32 training goes
through MKL's sgemm and caches nothing.

A step reuses its kernels across the encoder's layers (MiniLM: 12 distinct matrix products per
step, forward and backward), so a capacity of a few dozen keeps every reuse and bounds the
caches at a few MB.

Both capacities are read from the environment once, when the process first runs oneDNN: they
must be set before the first matrix product (a training config's callbacks are resolved before
the pipeline is initialized, which is early enough). A capacity the user has set is left alone.
"""

import logging
import os
from typing import Dict

logger = logging.getLogger(__name__)

# oneDNN's own (DNNL_ is its older spelling, still read), then torch's ideep cache.
PRIMITIVE_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")
IDEEP_CACHE_VARIABLE = "LRU_CACHE_CAPACITY"


def limit_kernel_caches(capacity: int) -> Dict[str, str]:
    """Cap both kernel caches at `capacity` kernels, unless the environment already sets them.

    Process-wide and final: oneDNN reads the setting once, at its first use.
    capacity (int): Kernels each cache keeps (>= 1; oneDNN's default is 1,024).
    RETURNS (Dict[str, str]): The variables in effect, by name (the user's where set).
    """
    if capacity < 1:
        raise ValueError(
            f"onednn_cache_capacity must be >= 1 (kernels per cache), got {capacity}; "
            "set it to null to leave oneDNN's caches at their defaults."
        )
    in_effect = {}
    for group in (PRIMITIVE_CACHE_VARIABLES, (IDEEP_CACHE_VARIABLE,)):
        already = [name for name in group if name in os.environ]
        if already:
            in_effect[already[0]] = os.environ[already[0]]
            continue
        os.environ[group[0]] = str(capacity)
        in_effect[group[0]] = str(capacity)
        logger.info("%s=%d set for this process (oneDNN kernel cache)", group[0], capacity)
    return in_effect
