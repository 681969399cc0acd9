"""Convert NER and text classification data to spaCy's binary `.spacy` format."""

from .conll import convert_conll, read_conll
from .errors import ConversionError
from .io import ConversionReport
from .textcat import convert_textcat, read_textcat

__all__ = [
    "ConversionError",
    "ConversionReport",
    "convert_conll",
    "convert_textcat",
    "read_conll",
    "read_textcat",
]
