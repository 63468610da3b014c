"""Face matching: cosine similarity of L2-normalised embeddings."""

from veronica.recognition.matcher import (
    DEFAULT_MIN_MARGIN,
    DEFAULT_TOP_K,
    Candidate,
    Gallery,
    IdentifyResult,
    VerifyResult,
    cosine_similarity,
    identify,
    unit_vector,
    verify,
)

__all__ = [
    "DEFAULT_MIN_MARGIN",
    "DEFAULT_TOP_K",
    "Candidate",
    "Gallery",
    "IdentifyResult",
    "VerifyResult",
    "cosine_similarity",
    "identify",
    "unit_vector",
    "verify",
]
