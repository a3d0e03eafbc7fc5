"""Modality encoders, found by name: ``graphs.encoders.get("text")``.

Registered: ``text`` (MiniLM, pretrained, 384-d), ``image_cnn``, ``image_vit``,
``volume_cnn``, ``slide_mil``, ``video``, ``signal_cnn``, ``signal_rnn``, ``audio_cnn``,
``genomic_cnn`` (randomly initialised unless given weights; see
:mod:`graphs.encoders.alignment` to train them against text).
"""

from graphs.encoders.alignment import (
    ContrastiveAligner,
    ProjectionHead,
    info_nce,
    retrieval_recall_at_k,
    train_contrastive,
    zero_shot_classify,
)
from graphs.encoders.audio import AudioCNNEncoder, log_mel_spectrogram, mel_filterbank, read_audio
from graphs.encoders.base import ENCODERS, EmbeddingCache, Encoder, content_hash, get
from graphs.encoders.genomic import (
    MotifCNNEncoder,
    gene_features,
    kmer_tokens,
    one_hot,
    read_fasta,
    read_vcf,
)
from graphs.encoders.image import ResNetEncoder, ViTEncoder, load_weights
from graphs.encoders.image_io import (
    augment,
    normalize_intensity,
    prepare_image,
    read_image,
    resample,
    window,
)
from graphs.encoders.multimodal_dataset import MultimodalDataset, collate_pairs
from graphs.encoders.signal import RecurrentSignalEncoder, TemporalCNNEncoder
from graphs.encoders.signal_io import (
    read_dicom_waveform,
    read_signal,
    read_wfdb,
    resample_signal,
    to_grid,
)
from graphs.encoders.slide import MILPooling, SlideEncoder, tile
from graphs.encoders.text import TextEncoder, default_model_dir
from graphs.encoders.video import VideoEncoder, read_frames
from graphs.encoders.volume import Conv3dEncoder, read_volume, resample_volume

__all__ = [
    "ENCODERS", "EmbeddingCache", "Encoder", "content_hash", "get",
    "TextEncoder", "default_model_dir",
    "read_image", "window", "normalize_intensity", "resample", "augment", "prepare_image",
    "ResNetEncoder", "ViTEncoder", "load_weights",
    "read_volume", "resample_volume", "Conv3dEncoder",
    "tile", "MILPooling", "SlideEncoder", "read_frames", "VideoEncoder",
    "read_wfdb", "read_dicom_waveform", "read_signal", "resample_signal", "to_grid",
    "TemporalCNNEncoder", "RecurrentSignalEncoder",
    "read_audio", "mel_filterbank", "log_mel_spectrogram", "AudioCNNEncoder",
    "read_fasta", "read_vcf", "one_hot", "kmer_tokens", "gene_features", "MotifCNNEncoder",
    "ProjectionHead", "info_nce", "ContrastiveAligner", "train_contrastive",
    "zero_shot_classify", "retrieval_recall_at_k", "MultimodalDataset", "collate_pairs",
]
