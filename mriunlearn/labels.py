"""Display names of the models and methods, shared by tables, plane axes and figures (no plotting here)."""

from __future__ import annotations

#: display names of the methods
METHOD_LABELS: dict[str, str] = {
    "zero_filled": "zero-filled",
    "original": "G (original)", "oracle": "Ĝ (oracle)", "full_ft": "Full FT", "ft": "FT", "ga": "GA",
    "ga_l1": "GA-ℓ1", "nl": "NL", "ga_l1_ft": "GA-ℓ1-FT", "nl_ft": "NL-FT", "neggrad_plus": "NegGrad+",
    "bad_teacher": "Bad-Teacher", "scrub": "SCRUB", "ssd": "SSD (label-free)", "salun": "SalUn",
    "l1_sparse": "ℓ1-sparse FT", "retrain": "Retrain",
}


def label(method: str) -> str:
    """Display name of a method (falls back to the registry name); ``"nl_ft:code"`` -> ``"NL-FT (code)"``."""
    base, _, variant = method.partition(":")
    name = METHOD_LABELS.get(base, base)
    return f"{name} ({variant})" if variant else name


#: the short names of the two reference models in running text (captions)
SHORT_LABELS: dict[str, str] = {"original": "G", "oracle": "Ĝ"}


def short_label(method: str) -> str:
    """:func:`label` for running text: ``"original"`` -> ``"G"``, ``"oracle"`` -> ``"Ĝ"``, others as :func:`label`."""
    return SHORT_LABELS.get(method, label(method))
