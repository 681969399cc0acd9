"""`debug-data`: what spaCy's `debug data` cannot say about bert_ner, bert_textcat and bert_qa."""
