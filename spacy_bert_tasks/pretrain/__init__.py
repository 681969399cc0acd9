"""Continued pre-training of the shared encoder: whole-word masked-LM (and optional NSP) on raw text.

`python -m spacy_bert_tasks pretrain RAW OUT_DIR` (cli/pretrain.py) or `pretrain(...)` from run.py.
Hugging Face does the modelling (BertForPreTraining, the fast tokenizer); this package reads the
text, masks it (masking.py), pairs sentences (pairing.py), batches, trains, checkpoints, exports.
Nothing heavy is imported here: the modules import torch and transformers where they use them.
"""
