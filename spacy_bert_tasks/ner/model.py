"""Token classification over the shared encoder's token vectors (BERT's NER output layer)."""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Model, Softmax_v2, chain, with_array
from thinc.types import Floats2d

InT = List[Doc]
OutT = List[Floats2d]


@registry.architectures("spacy-bert-tasks.TokenClassifier.v1")
def build_token_classifier(
    tok2vec: Model[InT, List[Floats2d]], nO: Optional[int] = None, dropout: float = 0.1
) -> Model[InT, OutT]:
    """A softmax over tags for each token, on top of the token vectors.

    As in BERT's NER fine-tuning, the head is one linear layer over the encoder's token states;
    the encoder itself does the work. Valid tag sequences are enforced when decoding.
    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors, usually
        spacy-bert-tasks.TokenVectorListener.v1.
    nO (Optional[int]): Number of tags; set by the component from its labels.
    dropout (float): Dropout on the token vectors during training.
    RETURNS (Model[List[Doc], List[Floats2d]]): Tag probabilities per token, one array per doc.
    """
    output_layer = Softmax_v2(nO=nO)
    model = chain(tok2vec, with_array(chain(Dropout(dropout), output_layer)))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    return model
