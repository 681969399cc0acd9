"""The Hugging Face side's recipe pieces (bench/hf_train.py): tags, entities, batches, groups."""

import spacy
from harness import hf_train
from spacy.tokens import Doc, Span


def test_bio_entities_reads_tags_as_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "O", "B-MISC"]
    assert hf_train.bio_entities(tags) == [
        (0, 2, "PER"),
        (3, 5, "LOC"),
        (5, 6, "LOC"),
        (6, 7, "ORG"),
        (8, 9, "MISC"),
    ]
    assert hf_train.bio_entities([]) == []
    assert hf_train.bio_entities(["O", "O"]) == []


def test_doc_tags_and_labels():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Paul", "Smith", "visited", "New", "York"])
    doc.set_ents([Span(doc, 0, 2, "PER"), Span(doc, 3, 5, "LOC")], default="outside")
    assert hf_train.doc_bio_tags(doc) == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    assert hf_train.tag_labels([doc]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    unannotated = Doc(nlp.vocab, words=["no", "annotation"])
    assert hf_train.doc_bio_tags(unannotated) == [None, None]
    # round trip: the tags give the entities back
    spans = hf_train.bio_entities(hf_train.doc_bio_tags(doc))
    assert spans == [(e.start, e.end, e.label_) for e in doc.ents]


def test_spacy_batches_bound_padded_size_and_cover_each_epoch():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(" ".join(["w"] * n)) for n in (3, 5, 8, 2, 9, 4, 6, 1)]
    batches = hf_train.spacy_batches(docs, size=16, buffer=4, seed=0)
    epoch, seen = [], 0
    while seen < len(docs):
        batch = next(batches)
        assert len(batch) * max(len(d) for d in batch) <= 16 or len(batch) == 1
        epoch += batch
        seen += len(batch)
    assert sorted(id(d) for d in epoch) == sorted(id(d) for d in docs)
    again = hf_train.spacy_batches(docs, size=16, buffer=4, seed=0)
    assert [len(b) for b in (next(again), next(again))] == [len(b) for b in epoch_batches(docs)][:2]


def epoch_batches(docs):
    batches = hf_train.spacy_batches(docs, size=16, buffer=4, seed=0)
    return [next(batches), next(batches)]


def test_optimizer_groups_split_encoder_and_head():
    from transformers import BertForTokenClassification

    model = BertForTokenClassification(tiny_config(num_labels=3))
    optimizer = hf_train.make_optimizer(model, lr=1e-4, weight_decay=0.01, head_lr_scale=20.0)
    encoder, head = optimizer.param_groups
    assert encoder["lr"] == 1e-4 and abs(head["lr"] - 2e-3) < 1e-12
    assert {id(p) for p in head["params"]} == {id(p) for p in model.classifier.parameters()}
    schedule = hf_train.make_schedule(optimizer, steps=10, warmup_fraction=0.1)
    assert schedule.get_last_lr()[0] == 0.0  # warm-up starts at 0


def test_labels_sit_on_first_wordpieces(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = [["john", "visited", "londonx"], ["paris"]]
    tags = [["B-PER", None, "B-LOC"], ["B-LOC"]]
    label2id = {"O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}
    encoding = hf_train.encode_tagged(tokenizer, words, tags, label2id)
    labels = encoding["labels"].tolist()
    firsts = hf_train.first_pieces(encoding, 0)
    assert sorted(firsts) == [0, 1, 2]
    assert [labels[0][firsts[i]] for i in range(3)] == [3, hf_train.IGNORE, 1]
    # every other position (specials, later pieces of "londonx", padding) is ignored
    assert sum(label != hf_train.IGNORE for label in labels[0]) == 2
    assert sum(label != hf_train.IGNORE for label in labels[1]) == 1


def test_qa_features_point_at_the_answer_or_cls(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    context = "john visited london and paris"
    pairs = [("who visited london", context), ("where", context)]
    answers = [(0, "john"), (24, "paris")]
    encoding = hf_train.encode_qa_train(tokenizer, pairs, answers, max_length=32, stride=8)
    ids = encoding["input_ids"].tolist()
    starts, ends = encoding["start_positions"].tolist(), encoding["end_positions"].tolist()
    assert tokenizer.decode(ids[0][starts[0] : ends[0] + 1]) == "john"
    assert tokenizer.decode(ids[1][starts[1] : ends[1] + 1]) == "paris"
    assert "offset_mapping" not in encoding
    # A window too short for the answer points at [CLS].
    short = hf_train.encode_qa_train(tokenizer, pairs[1:], answers[1:], max_length=8, stride=2)
    positions = list(zip(short["start_positions"].tolist(), short["end_positions"].tolist()))
    assert (0, 0) in positions and len(positions) > 1
    assert any(start > 0 for start, _ in positions)


def test_example_batches_hold_32_and_cover_every_example_once_per_epoch():
    items = list(range(100))
    first = list(hf_train.example_batches(items, size=32, seed=0))
    assert [len(batch) for batch in first] == [32, 32, 32, 4]
    assert sorted(x for batch in first for x in batch) == items
    second = list(hf_train.example_batches(items, size=32, seed=1))
    assert sorted(x for batch in second for x in batch) == items
    assert first != second  # a new shuffle each epoch
    assert first == list(hf_train.example_batches(items, size=32, seed=0))


def test_standard_optimizer_one_rate_no_decay_on_bias_and_layernorm():
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification(tiny_config(num_labels=2))
    optimizer = hf_train.make_standard_optimizer(model, lr=5e-5, weight_decay=0.01)
    decayed, plain = optimizer.param_groups
    assert decayed["lr"] == plain["lr"] == 5e-5
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    plain_names = {names[id(p)] for p in plain["params"]}
    assert "bert.embeddings.LayerNorm.weight" in plain_names
    assert "classifier.bias" in plain_names
    assert all(n.endswith("bias") or "LayerNorm" in n for n in plain_names)
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert "classifier.weight" in decayed_names and "bert.pooler.dense.weight" in decayed_names
    assert len(decayed_names) + len(plain_names) == len(names)


def tiny_config(num_labels: int):
    """A one-layer BERT of width 8: parameter names as the real one's, built in milliseconds."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=num_labels,
    )
