"""Text classification from BERT's [CLS] state."""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Model, Sigmoid, Softmax_v2, chain
from thinc.types import Floats2d

InT = List[Doc]
OutT = Floats2d


@registry.architectures("spacy-bert-tasks.ClsClassifier.v1")
def build_cls_classifier(
    tok2vec: Model[InT, Floats2d],
    exclusive_classes: bool,
    nO: Optional[int] = None,
    dropout: float = 0.1,
) -> Model[InT, OutT]:
    """One linear layer over the [CLS] vector, as in BERT's sequence classification.

    tok2vec (Model[List[Doc], Floats2d]): One vector per doc, usually
        spacy-bert-tasks.ClsVectorListener.v1 (named tok2vec, as spaCy's tools expect).
    exclusive_classes (bool): Softmax over labels (one label per doc) or a sigmoid per label.
    nO (Optional[int]): Number of labels; set from the component's labels.
    dropout (float): Dropout on the [CLS] vector during training.
    RETURNS (Model[List[Doc], Floats2d]): Label probabilities, one row per doc.
    """
    output_layer = Softmax_v2(nO=nO) if exclusive_classes else Sigmoid(nO=nO)
    model = chain(tok2vec, Dropout(dropout), output_layer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output_layer)
    model.attrs["multi_label"] = not exclusive_classes
    return model
