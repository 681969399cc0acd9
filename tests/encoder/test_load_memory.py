"""Memory of loading a saved pipeline: one copy of the encoder weights, and a bounded peak.

The weights travel as safetensors inside two msgpack messages (the component's model file and
the shim's message inside it); each decoding step copies them. Loading must not keep those
copies alive longer than needed: a 90 MB MiniLM pipeline once peaked 470 MB above its imports in
spacy.load, with the file's bytes, both decoded messages and the tensors all alive at once.
"""

import gc
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import spacy
import torch
from util import encoder_params, make_nlp

# Not walked when collecting what a pipeline holds: classes, modules and functions lead to
# every module's globals, and so to every object of the process.
OPAQUE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)


def write_wide_bert(tiny_bert: str, path: Path) -> Path:
    """The tiny BERT's tokenizer with a wider, one-layer BERT (~19 MB of weights), so that the
    weights dwarf everything else spacy.load allocates. Rows past the tokenizer's vocabulary are
    never looked up; they only make the weights large."""
    from transformers import BertConfig, BertModel

    path.mkdir(parents=True)
    for item in Path(tiny_bert).iterdir():
        if item.name not in ("config.json", "model.safetensors"):
            shutil.copy(item, path / item.name)
    config = BertConfig(
        vocab_size=16384,
        hidden_size=256,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    return path


def weights_nbytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


# Run in a fresh interpreter: in a long test session, what spacy.load allocates besides the
# weights (lazy imports, caches other tests warmed or not) varies with the tests that ran before.
# A first load does the lazy imports (transformers' modeling code), which are no copy of anything.
MEASURE_LOAD = """
import gc, sys, tracemalloc
import spacy
spacy.load(sys.argv[1])
gc.collect()
tracemalloc.start()
nlp = spacy.load(sys.argv[1])
print(tracemalloc.get_traced_memory()[1])
"""


def test_spacy_load_peak_holds_at_most_three_copies_of_the_weights(tiny_bert, tmp_path):
    # tracemalloc sees every copy made as Python bytes (the file, the decoded messages, the
    # tensors safetensors reads), not the torch module's own weights. The file and the first
    # decoded copy, or the shim's message, its weights and the tensors read from them: at most
    # three at once. Four when the file's bytes were kept alive through the whole load.
    nlp = make_nlp(str(write_wide_bert(tiny_bert, tmp_path / "wide_bert")), ())
    nlp.initialize()
    nlp.to_disk(tmp_path / "pipeline")
    weights = weights_nbytes(nlp.get_pipe("transformer").model.transformer)
    assert weights > 16 * 2**20
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_LOAD, str(tmp_path / "pipeline")],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split()[-1])
    assert peak < 3.5 * weights, f"peak {peak / 2**20:.1f} MB for {weights / 2**20:.1f} MB"
    loaded = spacy.load(tmp_path / "pipeline")
    for name, param in encoder_params(loaded).items():
        assert torch.equal(param, encoder_params(nlp)[name]), name


def tensors_held_by(root) -> dict:
    """{storage data_ptr: nbytes} of every torch tensor reachable from `root`."""
    seen, storages, stack = set(), {}, [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, OPAQUE):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            storage = obj.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        stack.extend(gc.get_referents(obj))
    return storages


def test_loaded_pipeline_holds_one_copy_of_the_encoder_weights(all_heads_saved):
    # Every head reads the encoder's module: what the loaded pipeline holds outside that module's
    # parameters and buffers is bookkeeping (the grad scaler's scalars), no kept state dict and
    # no second module.
    _, folder = all_heads_saved
    loaded = spacy.load(folder)
    module = loaded.get_pipe("transformer").model.transformer
    own = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    held = tensors_held_by(loaded)
    assert own <= set(held)
    outside = sum(nbytes for ptr, nbytes in held.items() if ptr not in own)
    assert outside < 1024, f"{outside} bytes of tensors besides the encoder's"
