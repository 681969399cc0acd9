"""Helpers for tests of saved pipelines: build one with every head, edit the encoder's saved
message, look for pickles, and fail on any unpickling call.

Import as `from saved_pipelines import ...` (tests/ is on sys.path, as for util.py).
"""

import contextlib
import io
import pickle
from pathlib import Path
from typing import Dict, Iterator, List

import srsly
import torch
from spacy.language import Language
from util import adam, add_qa, both_examples, make_nlp, qa_examples, train_steps

# torch.save output: a zip archive whose pickle is "<name>/data.pkl" and rebuilds tensors with
# torch._utils; a bare pickle starts with the PROTO opcode.
TORCH_ZIP_MAGIC = b"PK\x03\x04"
PICKLE_TRACES = (TORCH_ZIP_MAGIC, b"data.pkl", b"torch._utils", b"_rebuild_tensor")


def all_heads_nlp(tiny_bert: str, n_steps: int = 3) -> Language:
    """Encoder, bert_ner, bert_textcat and bert_qa, trained a few steps (heads not at zero)."""
    nlp = make_nlp(tiny_bert, ("ner", "textcat"))
    add_qa(nlp)
    examples = both_examples(nlp) + qa_examples(nlp)
    nlp.initialize(lambda: examples)
    train_steps(nlp, examples, adam(), n_steps)
    return nlp


def pickle_traces(folder: Path) -> List[str]:
    """'file: trace' for each file under `folder` that is, or holds (in msgpack, nested or not),
    torch.save or pickle output."""
    found = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        for blob in _blobs(path.read_bytes()):
            if _is_pickle(blob):
                found.append(f"{path}: a pickle (PROTO opcode ... STOP)")
            found.extend(f"{path}: {trace!r}" for trace in PICKLE_TRACES if trace in blob)
    return found


def _is_pickle(data: bytes) -> bool:
    # PROTO 2-5 ... STOP (a bare b"\x80" is also msgpack's empty map, as in vocab/key2row).
    return len(data) > 2 and data[0] == 0x80 and 2 <= data[1] <= 5 and data.endswith(b".")


def _blobs(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """The bytes and every bytes value inside it, when it decodes as msgpack (thinc models nest
    each shim's message as msgpack bytes in the model's)."""
    yield data
    if depth > 3:
        return
    try:
        decoded = srsly.msgpack_loads(data)
    except Exception:
        return
    stack = [decoded]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, bytes) and value != data:
            yield from _blobs(value, depth + 1)


def encoder_messages(model_path: Path) -> List[Dict]:
    """The decoded Hugging Face shim messages of a saved thinc model file."""
    msg = srsly.msgpack_loads(Path(model_path).read_bytes())
    shims = [srsly.msgpack_loads(data) for node_shims in msg["shims"] for data in node_shims]
    return [shim for shim in shims if "tokenizer" in shim]


def edit_encoder_message(model_path: Path, edit) -> None:
    """Rewrite the (single) Hugging Face shim message of a model file with `edit(msg)`."""
    msg = srsly.msgpack_loads(Path(model_path).read_bytes())
    n_edited = 0
    for node_shims in msg["shims"]:
        for i, data in enumerate(node_shims):
            shim = srsly.msgpack_loads(data)
            if "tokenizer" in shim:
                edit(shim)
                node_shims[i] = srsly.msgpack_dumps(shim)
                n_edited += 1
    assert n_edited == 1
    Path(model_path).write_bytes(srsly.msgpack_dumps(msg))


def torch_save_bytes(obj) -> bytes:
    """What torch.save writes for `obj` (spacy-transformers' weights format)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@contextlib.contextmanager
def forbid_unpickling() -> Iterator[List[str]]:
    """Make pickle.load(s), pickle.Unpickler and torch.load raise while inside; yields the list
    of attempted calls, so a caller that swallowed the error is caught too."""
    calls: List[str] = []
    originals = {
        (pickle, "load"): pickle.load,
        (pickle, "loads"): pickle.loads,
        (pickle, "Unpickler"): pickle.Unpickler,
        (torch, "load"): torch.load,
        (torch.serialization, "load"): torch.serialization.load,
    }

    def forbidden(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called while loading a pipeline")

        return call

    for module, name in originals:
        setattr(module, name, forbidden(f"{module.__name__}.{name}"))
    try:
        yield calls
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)
