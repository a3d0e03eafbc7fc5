"""Training settings: one validated dataclass, filled from defaults, a YAML/JSON file or flags.

Precedence is defaults < file < command-line flags (:meth:`TrainConfig.from_args`).

Examples:
    >>> cfg = TrainConfig(model="mlp", inputs=["demographics", "note"], out_dir=None)
    >>> cfg.fusion is None, cfg.resolved_fusion  # per model: "early" concat without graph
    (True, 'early')
    >>> TrainConfig(model="gat").resolved_fusion
    'gated'
    >>> TrainConfig(model="gcm")
    Traceback (most recent call last):
    ...
    ontologies.errors.ConfigError: model='gcm': expected one of gat, gatv2, gcn, ..., mlp, rgcn
    >>> TrainConfig.from_dict({"lr": "1e-3"}).lr  # YAML reads 1e-3 as a string
    0.001
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ontologies.errors import ConfigError, DataNotFoundError, ParseError

__all__ = ["TrainConfig", "INPUT_GROUPS", "OBJECTIVES", "GRAPH_MODELS", "default_fusion"]

#: Patient-level feature groups besides the modalities (``note``, ``image``, ...).
INPUT_GROUPS = ("demographics", "history_codes")
#: Training objectives.
OBJECTIVES = ("multilabel", "link")
#: Models that pass messages over the cohort graph (everything except ``mlp``).
GRAPH_MODELS = ("gcn", "gat", "gatv2", "hetero_sage", "hetero_gat", "rgcn", "hgt")
_ATTENTION_MODELS = ("gat", "gatv2", "hetero_gat", "hgt")


def _modality_types() -> tuple[str, ...]:
    from graphs.cohort.features import MODALITY_TYPES

    return MODALITY_TYPES


@dataclass
class TrainConfig:
    """Everything one training run needs besides the data.

    Attributes:
        model: A name from ``gnn.models.MODELS`` (graph models) or ``mlp`` (no graph).
        task: Expected task name; ``None`` takes whatever task the data carries.
        fusion: A name from ``gnn.fusion.FUSIONS``; ``None`` picks per model.
        inputs: Patient-level feature groups fed to the fusion: ``demographics``,
            ``history_codes`` and modality names; ``None`` picks per model (see
            :class:`gnn.predictor.PatientPredictor`).
        graph_modalities: Keep modality nodes in the graph (False: KG + codes only).
        hidden: Width of every hidden representation.
        layers: Message-passing layers (MLP layers for ``mlp``).
        heads: Attention heads (GAT-type models and attention fusion).
        dropout: Feature dropout.
        epochs: Maximum training epochs.
        lr: Adam learning rate.
        weight_decay: Adam L2 penalty.
        patience: Epochs without validation improvement before stopping (None: never).
        seed: Seed of weights, dropout, sampling and bootstrap.
        out_dir: Folder for checkpoints and metrics (None: write nothing).
        batch_size: Patients per step (None: full batch, one step per epoch).
        num_neighbors: Neighbours sampled per edge type and hop in mini-batches.
        n_boot: Bootstrap resamples for test confidence intervals.
        objective: ``multilabel`` (one logit per label) or ``link`` (patient-label
            scores against drug-node embeddings, trained with negative sampling).
        neg_ratio: Negatives sampled per positive pair with ``objective="link"``.
        label_readout: Multi-label graph models also score each label through its own
            node in the graph (see :class:`gnn.predictor.PatientPredictor`).
        pos_weight: Weigh positives by their train-set negative/positive ratio.
        progress: Show tqdm progress bars.
        threads: torch intra-op threads (None: leave torch's setting alone).
    """

    model: str = "hetero_sage"  # respects node/edge types and is the fastest hetero model here
    task: str | None = None  # prepared files carry their task; set it to double-check
    fusion: str | None = None  # None: "gated" for graph models, "early" concat for mlp
    inputs: list[str] | None = None  # None: every patient-level group the data has
    graph_modalities: bool = True  # the full multimodal graph; False gives "KG + codes"
    hidden: int = 64  # ample for label vocabularies of tens to hundreds; fast on CPU
    layers: int = 2  # two hops reach patient -> visit -> code and back
    heads: int = 4  # the usual GAT setting; divides hidden=64
    dropout: float = 0.2  # light regularisation; cohorts are small
    epochs: int = 100  # full batch takes one step per epoch; early stopping cuts it short
    lr: float = 0.01  # Kipf & Welling's full-batch rate (one Adam step per epoch)
    weight_decay: float = 5e-4  # Kipf & Welling's L2 penalty
    patience: int | None = 20  # stop after this many epochs without validation gain
    seed: int = 0  # fixed: reruns and every model of an ablation are comparable
    out_dir: str | None = "medkg-run"  # relative, so runs work from any clone
    batch_size: int | None = None  # full batch fits demo/MIMIC-sized cohorts on CPU
    num_neighbors: list[int] = field(default_factory=lambda: [10, 5])  # GraphSAGE-style
    n_boot: int = 1000  # stable 95% percentile intervals
    objective: str = "multilabel"  # the comorbidity/treatment tasks are multi-label
    neg_ratio: int = 5  # common negative-sampling ratio for link prediction
    label_readout: bool = False  # opt-in: needs the labels' concepts in the cohort graph
    pos_weight: bool = False  # plain BCE keeps probabilities calibrated
    progress: bool = True  # long runs show progress; silence with progress=False
    threads: int | None = None  # respect OMP_NUM_THREADS / torch's default

    def __post_init__(self) -> None:
        import gnn.fusion
        import gnn.models

        self.model = _choice("model", self.model, tuple(gnn.models.MODELS.names()))
        if self.task is not None:
            from gnn.tasks import TASKS

            self.task = _choice("task", self.task, tuple(TASKS.names()))
        if self.fusion is not None:  # None stays None, so replace(model=...) re-resolves
            self.fusion = _choice("fusion", self.fusion, tuple(gnn.fusion.FUSIONS.names()))
        self.inputs = _inputs(self.inputs, self.model)
        self.graph_modalities = _bool("graph_modalities", self.graph_modalities)
        self.hidden = _int("hidden", self.hidden, 1)
        self.layers = _int("layers", self.layers, 1)
        self.heads = _int("heads", self.heads, 1)
        self.dropout = _float("dropout", self.dropout, 0.0, 1.0, high_open=True)
        self.epochs = _int("epochs", self.epochs, 1)
        self.lr = _float("lr", self.lr, 0.0, None, low_open=True)
        self.weight_decay = _float("weight_decay", self.weight_decay, 0.0, None)
        self.patience = _optional(self.patience)
        self.patience = None if self.patience is None else _int("patience", self.patience, 1)
        self.seed = _int("seed", self.seed, 0)
        if self.out_dir is not None:
            self.out_dir = os.fspath(self.out_dir)
        self.batch_size = _optional(self.batch_size)
        self.batch_size = (None if self.batch_size is None
                           else _int("batch_size", self.batch_size, 1))
        if isinstance(self.num_neighbors, int) and not isinstance(self.num_neighbors, bool):
            self.num_neighbors = [self.num_neighbors]
        if not isinstance(self.num_neighbors, (list, tuple)) or not self.num_neighbors:
            raise ConfigError(f"num_neighbors={self.num_neighbors!r}: expected a non-empty "
                              "list of integers >= -1 (one per hop; -1 takes all)")
        self.num_neighbors = [_int("num_neighbors", v, -1) for v in self.num_neighbors]
        self.n_boot = _int("n_boot", self.n_boot, 0)
        self.objective = _choice("objective", self.objective, OBJECTIVES)
        self.neg_ratio = _int("neg_ratio", self.neg_ratio, 1)
        self.label_readout = _bool("label_readout", self.label_readout)
        self.pos_weight = _bool("pos_weight", self.pos_weight)
        self.progress = _bool("progress", self.progress)
        self.threads = _optional(self.threads)
        self.threads = None if self.threads is None else _int("threads", self.threads, 1)
        uses_heads = self.model in _ATTENTION_MODELS or self.resolved_fusion == "attention"
        if uses_heads and self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} must be divisible by heads={self.heads} "
                              f"for model={self.model!r} / fusion={self.resolved_fusion!r}")
        if self.objective == "link" and self.batch_size is not None:
            raise ConfigError("objective='link' scores every patient against every drug node "
                              "and needs full-batch training: set batch_size=None")
        if self.label_readout and self.batch_size is not None:
            raise ConfigError("label_readout reads the label nodes' full-graph embeddings "
                              "and needs full-batch training: set batch_size=None")

    @property
    def resolved_fusion(self) -> str:
        """The fusion used: ``fusion``, or the per-model default when it is ``None``."""
        return self.fusion or default_fusion(self.model)

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all settings, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Builds a config from a mapping; ``-`` in keys is read as ``_``.

        Raises:
            ConfigError: A key is unknown (the message lists the valid ones) or a value
                is invalid.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got "
                              f"{type(values).__name__}")
        clean = {str(k).replace("-", "_"): v for k, v in values.items()}
        valid = cls.field_names()
        unknown = sorted(set(clean) - set(valid))
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}; valid "
                              f"settings: {', '.join(valid)}")
        try:
            return cls(**clean)
        except ConfigError as err:  # name the file (or "arguments") the bad value came from
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrainConfig:
        """Reads settings from a YAML (``.yaml``/``.yml``, safe loader) or JSON file.

        Raises:
            DataNotFoundError: The file does not exist.
            ParseError: The file is not valid YAML/JSON (with the line where known).
            ConfigError: Unknown keys or invalid values.
        """
        return cls.from_dict(read_settings(path), source=str(path))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """Builds a config from parsed flags: ``args.config`` (a file) first, then every
        flag whose value is not ``None`` overrides it."""
        values: dict[str, Any] = {}
        path = getattr(args, "config", None)
        if path:
            values.update({k.replace("-", "_"): v for k, v in read_settings(path).items()})
        for name in cls.field_names():
            value = getattr(args, name, None)
            if value is not None:
                values[name] = value
        return cls.from_dict(values, source=str(path) if path else "arguments")

    def to_dict(self) -> dict[str, Any]:
        """All settings as a JSON-serialisable dict."""
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the settings as JSON (atomically); :meth:`from_file` reads it back."""
        from ontologies.atomic import atomic_write

        path = Path(path)
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")
        return path


def default_fusion(model: str) -> str:
    """Fusion used when none is set: ``early`` for ``mlp``, ``gated`` for graph models."""
    return "early" if model == "mlp" else "gated"


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The raw mapping of a YAML/JSON settings file (see :meth:`TrainConfig.from_file`)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no config file at {path}")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"{path}: config files must end in .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ParseError(f"not UTF-8 text (byte {err.start}); save the settings as UTF-8",
                         path=path) from None
    if suffix == ".json":
        try:
            values = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise ParseError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from None
        except RecursionError:
            raise ParseError("JSON nested too deeply for a settings file", path=path) from None
    else:
        import yaml

        try:
            values = yaml.safe_load(text)
        except RecursionError:
            raise ParseError("YAML nested too deeply for a settings file", path=path) from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(err, "problem", None) or str(err)
            raise ParseError(f"invalid YAML: {problem}", path=path, line=line) from None
        values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got "
                          f"{type(values).__name__}")
    return values


# ---------------------------------------------------------------------- validators
def _optional(value: Any) -> Any:
    """``"none"``/``"null"``/``"full"`` from flags or files mean ``None``."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null", "full", ""):
        return None
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ConfigError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value.lower()


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}={value!r}: expected an integer >= {minimum}")
    return value


def _float(name: str, value: Any, low: float, high: float | None, low_open: bool = False,
           high_open: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
    if not ok:
        lo = "(" if low_open else "["
        hi = ("inf)" if high is None else f"{high}" + (")" if high_open else "]"))
        raise ConfigError(f"{name}={value!r}: expected a number in {lo}{low}, {hi}")
    return value


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    if not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r}: expected true or false")
    return value


def _inputs(value: Any, model: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    valid = INPUT_GROUPS + _modality_types()
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"inputs={value!r}: expected a list drawn from {', '.join(valid)}")
    bad = [v for v in value if v not in valid]
    if bad:
        raise ConfigError(f"inputs: unknown group(s) {bad}; expected some of "
                          f"{', '.join(valid)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"inputs={list(value)!r}: a group is listed twice")
    if model == "mlp" and not value:
        raise ConfigError("inputs=[]: model='mlp' has no graph, so it needs at least one "
                          f"input group among {', '.join(valid)}")
    return list(value)
