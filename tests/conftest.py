"""Session-wide test settings: offline model hub, quiet plotting, few threads."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

# Tiny test models run faster single-threaded, and 2-thread timings collapse on busy hosts.
torch.set_num_threads(1)
