"""The `bert_qa` head: extractive question answering on the shared BERT encoder."""
