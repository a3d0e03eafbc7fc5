"""Modality encoders (text, image, volume, slide, signal, audio, genomic, video)."""

from graphs.encoders.base import ENCODERS, EmbeddingCache, Encoder, content_hash, get

__all__ = ["ENCODERS", "EmbeddingCache", "Encoder", "content_hash", "get"]
