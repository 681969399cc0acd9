"""Token tags for entity spans, and which tag sequences are valid.

BILUO (spaCy's native scheme, also called BIOES) marks Begin, In, Last and Unit-length entity
tokens; BIO (IOB2, the scheme of the BERT paper) only Begin and In. Gold tags come from spaCy in
BILUO and are mapped down for BIO.
"""

from typing import List, Optional, Sequence, Tuple

import numpy

SCHEMES = ("BILUO", "BIO")


def tag_names(labels: Sequence[str], scheme: str) -> List[str]:
    """All tags of a scheme for some entity labels, "O" first."""
    _check_scheme(scheme)
    prefixes = "BILU" if scheme == "BILUO" else "BI"
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in prefixes]


def gold_tag(biluo_tag: Optional[str], scheme: str) -> Optional[str]:
    """Map a gold BILUO tag to the scheme. None (unknown: missing or misaligned) stays None."""
    if biluo_tag is None or biluo_tag in ("", "-") or scheme == "BILUO":
        return None if biluo_tag in (None, "", "-") else biluo_tag
    prefix, label = biluo_tag[0], biluo_tag[2:]
    if prefix == "U":
        return f"B-{label}"
    if prefix == "L":
        return f"I-{label}"
    return biluo_tag


def transition_masks(tags: Sequence[str], scheme: str) -> Tuple[numpy.ndarray, ...]:
    """Which tags may start a doc, follow each tag, and end a doc.

    RETURNS (Tuple[ndarray, ndarray, ndarray]): `start` (n_tags,), `allowed` (n_tags, n_tags)
        with allowed[prev, next], and `end` (n_tags,), all boolean.
    """
    _check_scheme(scheme)
    n = len(tags)
    split = [(t[0], t[2:]) if t != "O" else ("O", "") for t in tags]
    opens = numpy.array([p in ("O", "B", "U") for p, _ in split])
    closes = numpy.array([p in ("O", "L", "U") for p, _ in split])
    allowed = numpy.zeros((n, n), dtype=bool)
    for i, (prev_prefix, prev_label) in enumerate(split):
        for j, (next_prefix, next_label) in enumerate(split):
            continues = next_prefix in ("I", "L") and next_label == prev_label
            if scheme == "BILUO":
                ok = continues if prev_prefix in ("B", "I") else next_prefix in ("O", "B", "U")
            else:
                # In BIO an entity may end at any tag, and I-X may only continue an X entity.
                ok = next_prefix in ("O", "B") or (continues and prev_prefix in ("B", "I"))
            allowed[i, j] = ok
    if scheme == "BIO":
        closes = numpy.ones(n, dtype=bool)
    return opens, allowed, closes


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme '{scheme}': expected one of {', '.join(SCHEMES)}.")
