"""The `bert_transformer` component: one BERT encoder whose output every head shares.

It is spacy-transformers' Transformer with changes in how training works. The stock component
hands its backprop callback to the LAST listener only; every other listener just accumulates. When
the last head skips a batch (spaCy's NER returns early when no doc in the batch has entities), all
the other heads' encoder gradients for that batch are silently lost. Here every listener only
accumulates, and one combined backward pass runs when the batch's gradient is complete: at the
next `update` (gradient accumulation over sub-batches) or at `finish_update` (before the step).
The QA head's question-conditioned pass (`encode_pairs`) joins the same backward pass
(see gradients.py for why one pass matters with mixed precision).

The component is the encoder side of the contract in ../contract.py (`EncoderPort`): heads link
to it only through the layers it finds in their models, and use only its tokenizer, width and
passes.
"""

import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline.pipe import deserialize_config
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy_transformers.annotation_setters import null_annotation_setter
from spacy_transformers.data_classes import FullTransformerBatch, TransformerData, WordpieceBatch
from spacy_transformers.layers import TransformerListener
from spacy_transformers.pipeline_component import Transformer
from thinc.api import Config, Model, Optimizer, set_dropout_rate, torch2xp
from thinc.util import convert_recursive, is_xp_array

from ..contract import EncoderHead
from ..layers.listener import EncoderListener
from ..layers.pair_link import find_pair_links
from . import heap  # windows: registers spacy-bert-tasks.wordpiece_windows.v1
from .compiled import check_graph
from .forking import register_fork_handler, watch_parent
from .gradients import (
    PendingPass,
    backward,
    fill_skipped_docs,
    gradient_picker,
    unscale_gradients,
)
from .int8_activations import check_activation_range
from .int8_layers import check_layer_patterns, kept_fp32_layers
from .names import EMBEDDED_ENCODER
from .precision import (
    check_precision,
    invalidate_reduced_copies,
    set_shim_graph,
    set_shim_precision,
)
from .serialization import WeightsFormatError

DEFAULT_MODEL_CONFIG = f"""
[model]
@architectures = "spacy-bert-tasks.BertEncoder.v1"
name = "{EMBEDDED_ENCODER}"
tokenizer_config = {{"use_fast": true}}
transformer_config = {{}}
mixed_precision = false
grad_scaler_config = {{}}
train_precision = "auto"

[model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 128
stride = 96
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]


@Language.factory(
    "bert_transformer",
    assigns=["doc._.trf_data"],
    default_config={
        "model": DEFAULT_MODEL,
        "set_extra_annotations": {
            "@annotation_setters": "spacy-transformers.null_annotation_setter.v1"
        },
        "max_batch_items": 1024,
        "keep_trf_data": False,
        "inference_precision": "fp32",
        "int8_fp32_layers": [],
        "int8_activation_range": "auto",
        "inference_graph": "packed",
        "release_heap": "trim",
    },
)
def make_bert_transformer(
    nlp: Language,
    name: str,
    model: Model[List[Doc], FullTransformerBatch],
    set_extra_annotations: Callable[[List[Doc], FullTransformerBatch], None],
    max_batch_items: int,
    keep_trf_data: bool,
    inference_precision: str,
    int8_fp32_layers: List[str],
    int8_activation_range: str,
    inference_graph: str,
    release_heap: Union[bool, str],
) -> "BertTransformer":
    """The shared BERT encoder.

    model (Model[List[Doc], FullTransformerBatch]): Usually spacy-bert-tasks.BertEncoder.v1.
    set_extra_annotations (Callable): Called with the docs and the batch output, as in
        spacy-transformers.
    max_batch_items (int): Padded batch size (in tokens) for prediction: 1024 suits CPUs
        (smaller matrices stay in cache; 4096 was 25% slower here), 4096 GPUs.
    keep_trf_data (bool): Keep `doc._.trf_data` on processed docs. By default the last head that
        reads it releases it: it holds kilobytes per token and is serialised with the doc.
    inference_precision (str): "fp32", "bf16" or "int8": the precision of predictions (the doc
        pass and QA's pair pass), on a converted copy of the weights; training runs in the
        model's train_precision (train_precision.py). See precision.py. Can be changed on a
        loaded pipeline with `set_inference_precision`.
    int8_fp32_layers (List[str]): With "int8": patterns of the encoder's Linear layers kept in
        fp32, e.g. "encoder.layer.*.output.dense" (int8_layers.py; bench/int8_sweep.py picks them).
    int8_activation_range (str): With "int8": "full" (8-bit activations), "reduced" (7-bit,
        torch's default) or "auto" (full on CPUs with VNNI, whose int8 kernels cannot overflow
        with 8 bits; reduced elsewhere). See int8_activations.py.
    inference_graph (str): How fp32 predictions run the encoder: "packed" (default: the
        module with its Linear weights packed once for oneDNN on CPUs, the module as it is on a
        GPU or another encoder model; see packed.py), "eager" (the torch module as it is) or
        "compiled" (torch.compile with frozen weights, compiled at the first prediction; see
        compiled.py). Other precisions ignore it. Can be changed on a loaded pipeline with
        `set_inference_graph`.
    release_heap (Union[bool, str]): How a long-running process stays at its warm-up size:
        "trim" (default; `true`) hands freed heap pages back to the OS between prediction
        batches, without the page faults of "mmap"; "mmap" also keeps activations out of the
        heap while predicting (smallest memory, slower; a process-wide malloc setting, undone
        when a pipeline trains or predicts with another mode); "off" (`false`): malloc alone.
        See heap.py and bench/heap_speed.py.
    """
    return BertTransformer(
        nlp.vocab,
        model,
        set_extra_annotations,
        max_batch_items=max_batch_items,
        name=name,
        keep_trf_data=keep_trf_data,
        inference_precision=inference_precision,
        int8_fp32_layers=int8_fp32_layers,
        int8_activation_range=int8_activation_range,
        inference_graph=inference_graph,
        release_heap=release_heap,
    )


class BertTransformer(Transformer):
    """spacy-transformers' Transformer with complete multi-head gradients and released outputs.

    It implements `EncoderPort` (contract.py): `tokenizer`, `width`, `encode_docs`, `encode_pairs`.
    """

    def __init__(
        self,
        vocab,
        model: Model[List[Doc], FullTransformerBatch],
        set_extra_annotations: Callable = null_annotation_setter,
        *,
        name: str = "bert_transformer",
        max_batch_items: int = 1024,
        keep_trf_data: bool = False,
        inference_precision: str = "fp32",
        int8_fp32_layers: Sequence[str] = (),
        int8_activation_range: str = "auto",
        inference_graph: str = "packed",
        release_heap: Union[bool, str] = "trim",
    ):
        super().__init__(
            vocab, model, set_extra_annotations, name=name, max_batch_items=max_batch_items
        )
        self.cfg["keep_trf_data"] = keep_trf_data
        # Not in cfg: cfg is saved with the weights and would override a load-time config.
        self.inference_precision = check_precision(inference_precision)
        self.int8_fp32_layers = check_layer_patterns(int8_fp32_layers)
        self.int8_activation_range = check_activation_range(int8_activation_range)
        self.inference_graph = check_graph(inference_graph)
        self.release_heap = heap.check_mode(release_heap)
        self._pending: List[PendingPass] = []
        # Set by update, cleared by a finish_update that applied the heads' gradients: while
        # set, encode_pairs (QA) runs with gradient. Never set when the encoder is frozen.
        self._training_step = False
        # finish_update ran since the last update (heads sending gradients now are late).
        self._stepped = False
        self._warned_early_step = False
        # Per doc-pass head: which training examples it learns from (see find_listeners).
        self._learns_from: Dict[str, Callable[[Example], bool]] = {}
        self._step_losses: Optional[Dict[str, float]] = None  # the losses of the current update
        # nlp.pipe(n_process=N) forks workers: keep them off torch's OpenMP pool (forking.py).
        register_fork_handler()

    # Linking ---------------------------------------------------------------------------------

    def add_listener(self, listener: TransformerListener, component_name: str) -> None:
        super().add_listener(listener, component_name)
        if isinstance(listener, EncoderListener):
            listener.upstream_component = self.name
        self._assign_trf_data_release()

    def remove_listener(self, listener: TransformerListener, component_name: str) -> bool:
        removed = super().remove_listener(listener, component_name)
        self._assign_trf_data_release()
        return removed

    def _assign_trf_data_release(self) -> None:
        # spaCy links listeners in pipeline order, so the last one is the last head to run.
        listeners = self.listeners
        for listener in listeners:
            if isinstance(listener, EncoderListener):
                is_last = listener is listeners[-1]
                listener.releases_trf_data = is_last and not self.cfg["keep_trf_data"]

    def find_listeners(self, component) -> None:
        """Link the component's link layers: listeners (doc pass) and pair links (own pass).

        spaCy calls this on every (re)link of the pipeline. A head built on `EncoderHead` also
        tells which training examples it learns from; other listening components (spaCy's own
        `ner`, say) get every doc of the doc pass.
        """
        super().find_listeners(component)
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            for link in find_pair_links(model, self.name):
                link.attach(self)
        if isinstance(component, EncoderHead):
            self._learns_from[component.name] = component.learns_from

    # The heads' port (contract.EncoderPort) ---------------------------------------------------

    @property
    def tokenizer(self):
        """The encoder's Hugging Face tokenizer."""
        return self.model.tokenizer

    @property
    def width(self) -> int:
        """The width of the encoder's hidden states (known once initialized or loaded)."""
        return self.model.get_dim("nO")

    def encode_docs(self, docs: List[Doc]) -> List[TransformerData]:
        """The doc pass for `docs`, without gradient, whether or not a listener is linked.

        docs (List[Doc]): The docs.
        RETURNS (List[TransformerData]): One per doc (empty for an empty doc).
        """
        self._apply_inference_precision()
        return super().predict(docs).doc_data

    def encode_pairs(self, wordpieces: WordpieceBatch, *, is_train: bool):
        """Run the encoder's torch module on pre-tokenized input (e.g. question-context pairs).

        The QA head calls this for its question-conditioned pass: same weights, and its gradient
        joins the step's single backward pass. When the encoder is not being trained in this
        step (frozen, or not updated), the pass runs without gradient.
        wordpieces (WordpieceBatch): Input ids, attention mask and token type ids.
        is_train (bool): Whether the caller will backpropagate.
        RETURNS (Tuple[Floats3d, Callable[[Floats3d], None]]): Last hidden states (windows,
            length, width) and a callback taking their gradient.
        """
        hf_wrapper = self.model.hf_wrapper
        if not (is_train and self._training_step):
            watch_parent()
            # qa.ask runs no encoder predict first
            heap.before_prediction(self.release_heap, wordpieces.input_ids.size)
            self._apply_inference_precision()
            output = hf_wrapper.predict(wordpieces)
            return torch2xp(output.last_hidden_state), lambda d_hidden: None
        output, _ = hf_wrapper(wordpieces, is_train=True)
        pending = PendingPass(output.last_hidden_state)
        self._pending.append(pending)
        losses = self._step_losses

        def add_gradient(d_hidden) -> None:
            pending.add(d_hidden)
            if losses is not None:  # logged as the listeners' gradients are (squared norm)
                losses[self.name] = losses.get(self.name, 0.0) + float((d_hidden**2).sum())

        return torch2xp(output.last_hidden_state), add_gradient

    # Hugging Face objects --------------------------------------------------------------------

    def hf_encoder(self) -> Tuple[Any, Any]:
        """The encoder's torch module and its fast tokenizer, as Hugging Face objects.

        For tools that work on the weights outside spaCy (continued pre-training, export). The
        module is the one this component trains and saves: changes to its parameters are the
        pipeline's changes. Do not keep it across `from_disk`, which builds a new module.
        RETURNS (Tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]): The
            module (e.g. a BertModel) and the tokenizer.
        """
        if not self.model.attrs.get("has_transformer", False):
            raise ValueError(
                f"'{self.name}' has no weights yet: initialize the pipeline (nlp.initialize) "
                "or load a trained one"
            )
        return self.model.transformer, self.model.tokenizer

    # Loading ---------------------------------------------------------------------------------

    def from_disk(
        self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()
    ) -> "BertTransformer":
        """Load the component, naming the file when its weights cannot be loaded.

        Unlike the stock loader, a `model` folder (the spacy-transformers 1.0 layout: Hugging Face
        files, whose weights transformers may read with torch.load) is refused, not converted.
        """

        def load_model(model_path: Path) -> None:
            if model_path.is_dir():
                raise WeightsFormatError(
                    f"{model_path}: expected the encoder's model file, got a folder (the "
                    "layout of spacy-transformers 1.0, with pickled weights; this package never "
                    "writes it). Not loaded: unpickling a file can run any code in it."
                )
            try:
                # What Model.from_bytes does, except that the file's bytes are freed once
                # decoded: from_bytes would keep them alive while the encoder is rebuilt from
                # the decoded copy (one more copy of the weights at the peak of spacy.load).
                msg = srsly.msgpack_loads(model_path.read_bytes())
                self.model.from_dict(convert_recursive(is_xp_array, self.model.ops.asarray, msg))
            except WeightsFormatError as err:
                raise WeightsFormatError(f"{model_path}: {err}") from None
            except ValueError as err:  # thinc's msgpack: e.g. a file cut short by a crash
                raise ValueError(
                    f"{model_path}: could not read the saved encoder ({err}); the file may be "
                    "damaged or truncated (an interrupted save?): save the pipeline again"
                ) from err

        deserialize = {
            "vocab": self.vocab.from_disk,
            "cfg": lambda p: self.cfg.update(deserialize_config(p)),
            "model": load_model,
        }
        util.from_disk(path, deserialize, exclude)
        self._check_int8_fp32_layers()  # a typo in a load-time config fails at load
        return self

    # Training --------------------------------------------------------------------------------

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the encoder on a batch and hand its output to every listening head.

        The heads' gradients are summed and backpropagated in one pass at the next `update` or
        `finish_update`; the weights change only in `finish_update` (`sgd` here is unused, as in
        every spaCy component called by `nlp.update`).
        """
        examples = list(examples)
        validate_examples(examples, "BertTransformer.update")
        heap.before_training(self.release_heap)
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        self._step_losses = losses  # the QA pass of this step adds its gradient here too
        if self._stepped and any(p.has_gradient for p in self._pending):
            # Heads sent gradients after the last step (nlp.update(sgd=optimizer) order).
            self._warn_early_step()
        # The previous sub-batch is complete: every head has run on it.
        self.backward_pending()
        self._stepped = False
        self._training_step = True
        set_dropout_rate(self.model, drop)
        if not self.listeners:
            return losses
        docs = [eg.predicted for eg in examples]
        # Empty docs give the encoder no input: they are never encoded, and get no gradient.
        wanted = [i for i in self._docs_heads_learn_from(examples) if len(docs[i])]
        encoded: List[TransformerData] = []
        pending = None
        if wanted:
            output, _ = self.model.begin_update([docs[i] for i in wanted])
            pending = PendingPass(output.model_output.last_hidden_state, output.unsplit_by_doc)
            self._pending.append(pending)
            encoded = output.doc_data
        # Every listener gets the whole batch, even when nothing in it was encoded.
        doc_data = fill_skipped_docs(docs, wanted, encoded, self.width, self.model.ops.xp)
        gradient_of = gradient_picker(doc_data, set(wanted))

        def accumulate(d_trf_datas: List[TransformerData]) -> None:
            if pending is not None:
                losses[self.name] += pending.add_doc_gradients(gradient_of(d_trf_datas))

        batch_id = TransformerListener.get_batch_id(docs)
        for listener in self.listeners:
            listener.receive(batch_id, doc_data, accumulate)
        return losses

    def _docs_heads_learn_from(self, examples: List[Example]) -> List[int]:
        """Indices of the examples some listening head learns from: only they need the doc pass.

        In a joint corpus most tokens can belong to docs no listener learns from (a QA doc's
        context has no entities or cats: its gradient would be zero), and the doc pass over them
        would cost as much as the QA pass itself. A head that does not say which examples it
        learns from (no `learns_from` method) gets every doc.
        """
        predicates = []
        for component_name in self.listener_map:
            if component_name not in self._learns_from:
                return list(range(len(examples)))
            predicates.append(self._learns_from[component_name])
        return [i for i, eg in enumerate(examples) if any(learns(eg) for learns in predicates)]

    def predict(self, docs: Iterable[Doc]) -> FullTransformerBatch:
        """The doc-level pass, skipped when no listener would read it (e.g. a QA-only pipeline)."""
        docs = list(docs)
        watch_parent()  # in an n_process worker: exit with the parent (forking.py)
        heap.before_prediction(self.release_heap, sum(len(doc) for doc in docs))
        if not self.listeners and not self.cfg["keep_trf_data"]:
            return FullTransformerBatch.empty(len(docs))
        self._apply_inference_precision()
        return super().predict(docs)

    def set_inference_precision(
        self,
        precision: str,
        int8_fp32_layers: Optional[Sequence[str]] = None,
        int8_activation_range: Optional[str] = None,
    ) -> None:
        """Predict in "fp32", "bf16" or "int8" from now on, in this process.

        int8_fp32_layers (Optional[Sequence[str]]): With "int8", the Linear layers kept in fp32
            (int8_layers.py); None keeps the current setting.
        int8_activation_range (Optional[str]): With "int8", "auto", "full" or "reduced"
            (int8_activations.py); None keeps the current setting.
        To save the choice with a pipeline, set the factory settings instead (config.cfg); they
        can also be chosen at load time: spacy.load(path, config={"components": {name:
        {"inference_precision": "int8", "int8_fp32_layers": [...]}}}).
        """
        check_precision(precision)
        # Everything is checked before anything changes.
        if int8_activation_range is not None:
            check_activation_range(int8_activation_range)
        if int8_fp32_layers is not None:
            self._check_int8_fp32_layers(check_layer_patterns(int8_fp32_layers))
            self.int8_fp32_layers = tuple(int8_fp32_layers)
        if int8_activation_range is not None:
            self.int8_activation_range = int8_activation_range
        self.inference_precision = precision
        self._apply_inference_precision()

    def _check_int8_fp32_layers(self, patterns: Optional[Sequence[str]] = None) -> None:
        patterns = self.int8_fp32_layers if patterns is None else patterns
        module = self.model.shim._model  # None until initialized or loaded: checked then
        if patterns and module is not None:
            try:
                kept_fp32_layers(module, patterns)
            except ValueError as error:
                raise ValueError(f"'{self.name}': {error}") from None

    def _apply_inference_precision(self) -> None:
        # Applied at each prediction, not once: loading may replace the shim's module, and the
        # shim swaps in the converted copy only where the setting asks for one.
        precision = self.inference_precision
        shim = self.model.shim
        if precision == "int8":  # finding the device walks the module: only where it matters
            device = next(shim._model.parameters()).device.type
            if device != "cpu":
                raise ValueError(
                    f"'{self.name}': inference_precision 'int8' is torch's dynamic quantization, "
                    f"which runs on CPU only; use 'bf16' on {device}"
                )
        set_shim_precision(shim, precision, self.int8_fp32_layers, self.int8_activation_range)
        set_shim_graph(shim, self.inference_graph)

    def set_inference_graph(self, graph: str) -> None:
        """Run fp32 predictions "eager", "packed" or "compiled" from now on, in this process.

        To save the choice with a pipeline, set the factory setting `inference_graph` (config.cfg)
        or choose it at load time: spacy.load(path, config={"components": {name:
        {"inference_graph": "compiled"}}}).
        """
        self.inference_graph = check_graph(graph)
        self._apply_inference_precision()

    def finish_update(self, sgd: Optimizer) -> None:
        """Backpropagate the heads' summed gradients into the encoder, then step its weights."""
        received = any(p.has_gradient for p in self._pending)
        if self._pending and not received and self.listeners:
            # nlp.update(examples, sgd=optimizer) steps each component right after its own
            # update, before the heads have sent anything: keep the batch for the next step.
            self._warn_early_step()
        else:
            self.backward_pending()
        shim = self.model.shim
        unscale_gradients(shim._model, shim._grad_scaler)
        # An optimizer that steps torch modules itself (spacy-bert-tasks.Adam.v2) does so in
        # place; others go through thinc's per-parameter numpy update.
        step_torch = getattr(sgd, "step_torch_module", None)
        if step_torch is None or not step_torch(shim.id, shim._model, shim._grad_scaler):
            self.model.finish_update(sgd)
        set_shim_graph(shim, self.inference_graph)  # a compiled predictor learns it is stale
        invalidate_reduced_copies(shim)
        self._stepped = True
        # Heads that run after this step in the same nlp.update (that order again) still train
        # the encoder, one step late; after a complete step, the encoder waits for its update.
        if received:
            self._training_step = False

    def backward_pending(self) -> None:
        """Backpropagate the gradients heads have sent so far into the encoder, without a step.

        spaCy's loops never need this (update and finish_update call it); it lets custom loops
        and tests read the encoder's gradients (`.grad` of the torch parameters).
        """
        backward(self._pending, self.model.shim._grad_scaler)
        self._pending = []

    def _warn_early_step(self) -> None:
        if not self._warned_early_step:
            warnings.warn(
                f"'{self.name}'.finish_update ran before any head sent its gradient, so the "
                "encoder learns from each batch one step late. Train as `spacy train` does: "
                "nlp.update(examples, sgd=False), then proc.finish_update(optimizer) for each "
                "trainable component.",
                UserWarning,
            )
            self._warned_early_step = True
