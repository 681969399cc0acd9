"""Compiled fp32 prediction for `bert_transformer` (`inference_graph = "compiled"`).

At fp32 the eager encoder leaves speed on the table in two places (bench/flops.py): a short
pass is mostly the cost of well over a hundred small operations and the Python of Hugging
Face's modules around them, and a long pass runs its Linear layers through generic matmuls on
weights in their training layout. `torch.compile` (TorchInductor) with `freezing` addresses
both: it treats the weights as constants, so it can lay them out once for the CPU's matmul
kernels (oneDNN) and fuse bias, GELU, residual adds and LayerNorm into generated kernels. The
values are fp32 throughout; they differ from eager only in the order of additions (about 1e-6),
as between two BLAS libraries. tests/encoder/test_inference_graph.py checks them against eager.

What it costs, and the rules that follow:
- The first prediction compiles (13-16 s for MiniLM on 2 CPU cores, bench/scaling.py), and
  compiles once more when batches of one row and of several both occur (torch specializes a
  batch of one). Worth it for a process that annotates many docs (`annotate`, a service), not
  for a few `nlp(text)` calls.
- Frozen weights are copies: a compiled graph is stale once the weights change. It is compiled
  from a copy of the module (one more copy of the weights in memory), keyed on every parameter's
  identity and version, so loading new weights (a new module, `load_state_dict`) compiles a new
  copy (inference_copy.py). A training step, which writes into the same memory without bumping
  versions, instead switches this predictor to eager for the rest of the process, with one
  warning: recompiling at every evaluation would cost more than it saves. A trained pipeline,
  saved and loaded, compiles.
- It needs a C++ compiler at run time on CPU. Where compiling fails, predictions run eager,
  with one warning naming the error; an input the module itself rejects raises the module's own
  error.
- A forked `n_process` worker drops the parent's graphs and compiles its own: the parent's
  kernels would wake an OpenMP pool the child does not have (forking.py).
"""

import contextlib
import os
import threading
import warnings
import weakref
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import torch
from thinc.api import ArgsKwargs

from . import heap
from .inference_copy import inference_copy, weights_key

# "packed": eager with the Linear weights packed once for oneDNN (packed.py).
GRAPHS = ("eager", "packed", "compiled")

_live_predictors: "weakref.WeakSet[CompiledPredict]" = weakref.WeakSet()
_fork_handler_registered = False


def check_graph(graph: str) -> str:
    if graph not in GRAPHS:
        raise ValueError(f"inference_graph must be one of {', '.join(GRAPHS)}, not {graph!r}")
    return graph


def compile_frozen(module: Callable[..., Any]) -> Callable[..., Any]:
    """`module` (a torch module or its forward) compiled by TorchInductor with frozen weights.
    Call it as the module, in inference mode (or no_grad), its weights unchanged since the
    first call.

    Dynamic shapes: one graph serves every batch size and length (after the batch-of-one one).
    Compiling happens inside the first calls, with `_FROZEN_COMPILING` set (see there).
    """
    compiled = torch.compile(module, dynamic=True)

    def call(*args: Any, **kwargs: Any) -> Any:
        with _frozen_compiling():
            return compiled(*args, **kwargs)

    return call


# Inductor settings while a compiled call runs. `freezing` is a process-wide config flag, and
# `torch.compile(options=...)` does not reach the part of the compiler that reads it (measured
# with torch 2.13: no speed-up), so it is set for the duration of each call and put back after.
# `compile_threads` 1 compiles in this process rather than in inductor's pool of worker
# processes: a forked child inherits the parent's pool object but not the thread that reads its
# results. With the pool, `n_process` workers compiling MiniLM hung once in 7 runs (the stack
# was not caught; the pool is the likely cause); compiling in process, 0 in 5.
_FROZEN_COMPILING = {"freezing": True, "compile_threads": 1}
_settings_lock = threading.Lock()
_calls_inside = 0
_saved_settings: Dict[str, Any] = {}


@contextlib.contextmanager
def _frozen_compiling() -> Iterator[None]:
    """Inductor's settings as _FROZEN_COMPILING while any compiled call runs, in any thread;
    the user's own values again once the last one returns. (inductor's `config.patch` saves and
    restores per call: two threads overlapping would leave its values set for good.) Code that
    compiles in another thread meanwhile sees them too."""
    import torch._inductor.config as inductor_config

    global _calls_inside
    with _settings_lock:
        if _calls_inside == 0:
            for name, value in _FROZEN_COMPILING.items():
                _saved_settings[name] = getattr(inductor_config, name)
                setattr(inductor_config, name, value)
        _calls_inside += 1
    try:
        yield
    finally:
        with _settings_lock:
            _calls_inside -= 1
            if _calls_inside == 0:
                for name, value in _saved_settings.items():
                    setattr(inductor_config, name, value)


class CompiledPredict:
    """Runs an fp32 shim's predictions through `torch.compile` of its module.

    shim (PyTorchShim): The encoder's shim; its `_model` is the module compiled.
    """

    def __init__(self, shim) -> None:
        self.shim = shim
        self._compiled: Optional[Callable[..., Any]] = None
        self._key: Optional[Tuple] = None
        # Why predictions run eager for good in this process (a training step, a failed
        # compile); None while compiling is still on.
        self.eager_reason: Optional[str] = None
        _live_predictors.add(self)
        _register_fork_handler()

    def invalidate(self) -> None:
        """The weights changed in place (a training step): run eager from now on."""
        if self.eager_reason is None:
            self._stop_compiling(
                "the encoder's weights changed in training; predictions run eager until the "
                "pipeline is loaded again (recompiling after every step would cost more than "
                "it saves)"
            )

    def forget_graphs(self) -> None:
        """Drop compiled graphs (a forked child compiles its own)."""
        self._compiled, self._key = None, None

    def __call__(self, inputs: ArgsKwargs) -> Any:
        """The module's output for `inputs`; called in inference mode, module in eval mode."""
        module = self.shim._model
        if self.eager_reason is not None:
            return module(*inputs.args, **inputs.kwargs)
        key = weights_key(module)
        if self._compiled is None or key != self._key:
            # A copy: torch keeps compiled code per module object, so compiling the same module
            # again after load_state_dict would reuse the graph of the old frozen weights.
            self._compiled = compile_frozen(inference_copy(module))
            self._key = key
            heap.copy_built()
        try:
            return self._compiled(*inputs.args, **inputs.kwargs)
        except Exception as compiled_error:  # any checkpoint, any machine: eager is always right
            output = module(*inputs.args, **inputs.kwargs)  # the input's own error raises here
            self._stop_compiling(
                f"compiling failed ({type(compiled_error).__name__}: "
                f"{str(compiled_error)[:300]}); predictions run eager"
            )
            return output

    def _stop_compiling(self, reason: str) -> None:
        self.eager_reason = reason
        self.forget_graphs()
        warnings.warn(f"inference_graph 'compiled': {reason}", stacklevel=3)


def _register_fork_handler() -> None:
    global _fork_handler_registered
    if _fork_handler_registered or not hasattr(os, "register_at_fork"):
        return
    os.register_at_fork(after_in_child=_forget_all_graphs)
    _fork_handler_registered = True


def _forget_all_graphs() -> None:
    for predictor in list(_live_predictors):
        predictor.forget_graphs()
