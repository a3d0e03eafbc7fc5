"""Per-epoch training time of medkg's models against plain PyG, and sampler throughput.

On a random graph (default 100k nodes / 1M directed edges, symmetric), one full-batch
training epoch (forward, cross-entropy, backward, Adam step) of:

- GCN: PyG ``GCNConv`` on ``edge_index`` (cached normalisation); PyG ``GCNConv`` fed a
  CSR adjacency with torch's own sparse autograd; medkg ``gcn`` (cached CSR adjacency,
  transpose-reuse backward); bare ``torch.sparse.mm`` with torch autograd; bare SpMM
  with a hand-written backward (the floor). Target: medkg within 1.3x of bare SpMM.
- GAT: medkg ``gat`` vs the same two ``GATConv`` layers in a plain module (<= 1.1x).
- Hetero: medkg ``hetero_sage`` / ``hgt`` vs plain PyG (per-type Linear/Embedding, then
  ``to_hetero(SAGE)`` / ``HGTConv``) on a patient/visit/disease/drug graph of the same
  total size, reverse edges included (<= 1.1x).
- Sampler: ``CSRNeighborSampler([10, 5])`` batches/s with 1024 seeds, sampling alone
  and through ``NodeLoader`` (feature gather included).

Variants run interleaved, ``--rounds`` times each after one warm-up, and the median is
reported with ratios from the same run: timings on shared 2-core hosts drift 12-18%
between runs (DESIGN.md), so only same-run ratios are meaningful.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_gnn_epoch.py [--nodes 100000]
      [--edges 1000000] [--rounds 5] [--only gcn,gat,hetero,sampler] [--json out.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # must precede the torch import

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clean clone

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*[Ss]parse.*")

from torch_geometric.data import Data, HeteroData  # noqa: E402
from torch_geometric.loader import NodeLoader  # noqa: E402
from torch_geometric.nn import GATConv, GCNConv, HGTConv, SAGEConv, to_hetero  # noqa: E402
from torch_geometric.nn.conv.gcn_conv import gcn_norm  # noqa: E402
from torch_geometric.sampler import NodeSamplerInput  # noqa: E402

from gnn import models  # noqa: E402
from gnn.models.gcn import build_csr, normalized_adjacency  # noqa: E402
from gnn.models.hetero import hetero_inputs  # noqa: E402
from gnn.sampler import CSRNeighborSampler  # noqa: E402
from ontologies.atomic import atomic_write  # noqa: E402
from ontologies.errors import ConfigError  # noqa: E402

GROUPS = ("gcn", "gat", "hetero", "sampler")


@dataclass
class BenchConfig:
    nodes: int = 100_000  # the size DESIGN.md's GCN figures were measured at
    edges: int = 1_000_000  # directed edges (half random pairs, half their reverses)
    features: int = 64  # input width; typical of a projected encoder embedding
    hidden: int = 64  # hidden width of every model
    classes: int = 8  # output width
    heads: int = 4  # GAT heads (hidden / heads channels each)
    rounds: int = 5  # timed epochs per variant; median reported
    batch_size: int = 1024  # seeds per sampler batch
    sampler_batches: int = 20  # batches timed for the sampler
    seed: int = 0  # graph and weights
    only: tuple[str, ...] = GROUPS  # which groups to run

    def __post_init__(self):
        for name in ("nodes", "edges", "features", "hidden", "classes", "heads", "rounds",
                     "batch_size", "sampler_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        unknown = set(self.only) - set(GROUPS)
        if unknown:
            raise ConfigError(f"unknown groups {sorted(unknown)}: expected some of {GROUPS}")


# --- data -----------------------------------------------------------------------------


def random_graph(cfg: BenchConfig) -> Data:
    g = torch.Generator().manual_seed(cfg.seed)
    half = torch.randint(0, cfg.nodes, (2, cfg.edges // 2), generator=g)
    edge_index = torch.cat([half, half.flip(0)], 1)
    return Data(x=torch.randn(cfg.nodes, cfg.features, generator=g), edge_index=edge_index,
                y=torch.randint(0, cfg.classes, (cfg.nodes,), generator=g), num_nodes=cfg.nodes)


def random_hetero(cfg: BenchConfig) -> HeteroData:
    """patient/visit (features), disease/drug (ids only); reverse edges make ~cfg.edges."""
    g = torch.Generator().manual_seed(cfg.seed)
    sizes = {"patient": 0.3, "visit": 0.5, "disease": 0.15, "drug": 0.05}
    n = {t: max(int(cfg.nodes * f), 1) for t, f in sizes.items()}
    data = HeteroData()
    data["patient"].x = torch.randn(n["patient"], cfg.features, generator=g)
    data["patient"].y = torch.randint(0, cfg.classes, (n["patient"],), generator=g)
    data["visit"].x = torch.randn(n["visit"], cfg.features // 2, generator=g)
    data["disease"].num_nodes = n["disease"]
    data["drug"].num_nodes = n["drug"]
    forward = {("patient", "has_visit", "visit"): 0.1, ("visit", "has_diagnosis", "disease"): 0.5,
               ("visit", "has_drug", "drug"): 0.3, ("disease", "is_a", "disease"): 0.1}
    for (s, r, d), share in forward.items():
        m = int(cfg.edges / 2 * share)
        index = torch.stack([torch.randint(0, n[s], (m,), generator=g),
                             torch.randint(0, n[d], (m,), generator=g)])
        data[s, r, d].edge_index = index
        data[d, f"rev_{r}", s].edge_index = index.flip(0)
    return data


# --- timing ---------------------------------------------------------------------------


def epoch_fn(model: nn.Module, forward: Callable[[], torch.Tensor], y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)

    def run() -> None:
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(forward(), y)
        loss.backward()
        opt.step()

    return run


def time_interleaved(variants: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median seconds per call; variants alternate so host drift hits all alike."""
    for fn in variants.values():
        fn()  # warm-up: caches, allocator, lazy init
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# --- GCN ------------------------------------------------------------------------------


class PlainGCN(nn.Module):
    """Two GCNConv layers as a plain PyG script writes them."""

    def __init__(self, cfg: BenchConfig, **conv_kwargs):
        super().__init__()
        self.c1 = GCNConv(cfg.features, cfg.hidden, **conv_kwargs)
        self.c2 = GCNConv(cfg.hidden, cfg.classes, **conv_kwargs)

    def forward(self, x, adj):
        return self.c2(self.c1(x, adj).relu(), adj)


class _TransposeSpMM(torch.autograd.Function):
    """Bare SpMM whose backward multiplies by a precomputed transpose (hand-written floor)."""

    @staticmethod
    def forward(ctx, adj, adj_tr, x):
        ctx.adj_tr = adj_tr
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.adj_tr, grad)


class BareGCN(nn.Module):
    def __init__(self, cfg: BenchConfig, adj, adj_tr=None):
        super().__init__()
        self.l1 = nn.Linear(cfg.features, cfg.hidden)
        self.l2 = nn.Linear(cfg.hidden, cfg.classes)
        self.adj, self.adj_tr = adj, adj_tr

    def mm(self, x):
        if self.adj_tr is None:
            return torch.sparse.mm(self.adj, x)
        return _TransposeSpMM.apply(self.adj, self.adj_tr, x)

    def forward(self, x):
        return self.mm(self.l2(self.mm(self.l1(x)).relu()))


def bench_gcn(cfg: BenchConfig, data: Data) -> dict[str, float]:
    n = data.num_nodes
    start = time.perf_counter()
    adj = normalized_adjacency(data.edge_index, n)
    build_s = time.perf_counter() - start
    index, weight = gcn_norm(data.edge_index, None, n, add_self_loops=True)
    plain_csr = build_csr(index[1], index[0], weight, (n, n))  # no cached transpose
    adj_tr = build_csr(index[0], index[1], weight, (n, n))
    x, y, ei = data.x, data.y, data.edge_index
    torch.manual_seed(cfg.seed)
    pyg_ei = PlainGCN(cfg, cached=True)
    pyg_csr = PlainGCN(cfg, normalize=False)
    ours = models.get("gcn", in_channels=cfg.features, hidden_channels=cfg.hidden,
                      out_channels=cfg.classes, dropout=0.0)
    bare = BareGCN(cfg, plain_csr)
    floor = BareGCN(cfg, plain_csr, adj_tr)
    res = time_interleaved({
        "gcn/pyg_gcnconv_edge_index": epoch_fn(pyg_ei, lambda: pyg_ei(x, ei), y),
        "gcn/pyg_gcnconv_csr_torch_autograd": epoch_fn(pyg_csr, lambda: pyg_csr(x, plain_csr), y),
        "gcn/medkg_gcn": epoch_fn(ours, lambda: ours(x, ei), y),
        "gcn/bare_spmm_torch_autograd": epoch_fn(bare, lambda: bare(x), y),
        "gcn/bare_spmm_transpose_backward": epoch_fn(floor, lambda: floor(x), y),
    }, cfg.rounds)
    res["gcn/adjacency_build_once"] = build_s
    assert adj is normalized_adjacency(data.edge_index, n)  # cached
    return res


# --- GAT ------------------------------------------------------------------------------


class PlainGAT(nn.Module):
    def __init__(self, cfg: BenchConfig):
        super().__init__()
        self.c1 = GATConv(cfg.features, cfg.hidden // cfg.heads, heads=cfg.heads)
        self.c2 = GATConv(cfg.hidden, cfg.classes, heads=1, concat=False)

    def forward(self, x, edge_index):
        return self.c2(F.elu(self.c1(x, edge_index)), edge_index)


def bench_gat(cfg: BenchConfig, data: Data) -> dict[str, float]:
    x, y, ei = data.x, data.y, data.edge_index
    torch.manual_seed(cfg.seed)
    plain = PlainGAT(cfg)
    ours = models.get("gat", in_channels=cfg.features, hidden_channels=cfg.hidden,
                      out_channels=cfg.classes, heads=cfg.heads, dropout=0.0)
    return time_interleaved({
        "gat/pyg_plain": epoch_fn(plain, lambda: plain(x, ei), y),
        "gat/medkg_gat": epoch_fn(ours, lambda: ours(x, ei), y),
    }, cfg.rounds)


# --- hetero ---------------------------------------------------------------------------


class PlainSAGE(nn.Module):
    def __init__(self, cfg: BenchConfig):
        super().__init__()
        self.c1 = SAGEConv((cfg.hidden, cfg.hidden), cfg.hidden)
        self.c2 = SAGEConv((cfg.hidden, cfg.hidden), cfg.classes)

    def forward(self, x, edge_index):
        return self.c2(self.c1(x, edge_index).relu(), edge_index)


class PlainInput(nn.Module):
    def __init__(self, cfg: BenchConfig, data: HeteroData):
        super().__init__()
        self.proj = nn.ModuleDict({
            t: nn.Linear(data[t].x.size(1), cfg.hidden) if "x" in data[t]
            else nn.Embedding(data[t].num_nodes, cfg.hidden) for t in data.node_types})

    def forward(self, x_dict):
        return {t: self.proj[t](x) for t, x in x_dict.items()}


class PlainHeteroSAGE(nn.Module):
    def __init__(self, cfg: BenchConfig, data: HeteroData):
        super().__init__()
        self.inp = PlainInput(cfg, data)
        self.gnn = to_hetero(PlainSAGE(cfg), data.metadata(), aggr="sum")

    def forward(self, x_dict, edge_index_dict):
        return self.gnn(self.inp(x_dict), edge_index_dict)


class PlainHGT(nn.Module):
    def __init__(self, cfg: BenchConfig, data: HeteroData):
        super().__init__()
        self.inp = PlainInput(cfg, data)
        self.convs = nn.ModuleList(HGTConv(cfg.hidden, cfg.hidden, data.metadata(), heads=2)
                                   for _ in range(2))
        self.out = nn.ModuleDict({t: nn.Linear(cfg.hidden, cfg.classes)
                                  for t in data.node_types})

    def forward(self, x_dict, edge_index_dict):
        h = self.inp(x_dict)
        for conv in self.convs:
            h = conv(h, edge_index_dict)
        return {t: self.out[t](v) for t, v in h.items()}


def bench_hetero(cfg: BenchConfig) -> dict[str, float]:
    data = random_hetero(cfg)
    xs, eis, y = hetero_inputs(data), data.edge_index_dict, data["patient"].y
    torch.manual_seed(cfg.seed)
    kw = dict(hidden_channels=cfg.hidden, out_channels=cfg.classes, dropout=0.0)
    ours_sage = models.HeteroSAGE.from_data(data, **kw)
    ours_hgt = models.HGT.from_data(data, heads=2, **kw)
    plain_sage, plain_hgt = PlainHeteroSAGE(cfg, data), PlainHGT(cfg, data)

    def patient(model):
        return lambda: model(xs, eis)["patient"]

    return time_interleaved({
        "hetero/pyg_plain_sage": epoch_fn(plain_sage, patient(plain_sage), y),
        "hetero/medkg_hetero_sage": epoch_fn(ours_sage, patient(ours_sage), y),
        "hetero/pyg_plain_hgt": epoch_fn(plain_hgt, patient(plain_hgt), y),
        "hetero/medkg_hgt": epoch_fn(ours_hgt, patient(ours_hgt), y),
    }, cfg.rounds)


# --- sampler --------------------------------------------------------------------------


def bench_sampler(cfg: BenchConfig, data: Data) -> dict[str, float]:
    start = time.perf_counter()
    sampler = CSRNeighborSampler(data, num_neighbors=[10, 5], seed=cfg.seed)
    build_s = time.perf_counter() - start
    g = torch.Generator().manual_seed(cfg.seed)
    seeds = [torch.randperm(data.num_nodes, generator=g)[: cfg.batch_size]
             for _ in range(cfg.sampler_batches)]
    start = time.perf_counter()
    sizes = [len(sampler.sample_from_nodes(NodeSamplerInput(None, s)).node) for s in seeds]
    sample_s = time.perf_counter() - start
    loader = NodeLoader(data, node_sampler=sampler, input_nodes=torch.cat(seeds),
                        batch_size=cfg.batch_size)
    start = time.perf_counter()
    count = sum(1 for _ in loader)
    loader_s = time.perf_counter() - start
    return {
        "sampler/build_s": build_s,
        "sampler/sample_batches_per_s": cfg.sampler_batches / sample_s,
        "sampler/nodeloader_batches_per_s": count / loader_s,
        "sampler/mean_nodes_per_batch": sum(sizes) / len(sizes),
    }


# --- main -----------------------------------------------------------------------------

RATIOS = [
    ("gcn/medkg_gcn", "gcn/bare_spmm_transpose_backward", 1.3),
    ("gcn/medkg_gcn", "gcn/bare_spmm_torch_autograd", 1.3),
    ("gcn/medkg_gcn", "gcn/pyg_gcnconv_edge_index", None),
    ("gcn/pyg_gcnconv_csr_torch_autograd", "gcn/bare_spmm_torch_autograd", None),
    ("gat/medkg_gat", "gat/pyg_plain", 1.1),
    ("hetero/medkg_hetero_sage", "hetero/pyg_plain_sage", 1.1),
    ("hetero/medkg_hgt", "hetero/pyg_plain_hgt", 1.1),
]


def main(argv: list[str] | None = None) -> dict:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("nodes", "edges", "features", "hidden", "classes", "heads", "rounds",
                 "batch_size", "sampler_batches", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int,
                            default=getattr(defaults, name))
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups")
    parser.add_argument("--json", type=Path, help="also write results here")
    args = parser.parse_args(argv)
    opts = {k: v for k, v in vars(args).items() if k not in ("only", "json")}
    cfg = BenchConfig(**opts, only=tuple(x for x in args.only.split(",") if x))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{cfg.nodes} nodes / {cfg.edges} edges, {cfg.rounds} rounds", flush=True)
    data = random_graph(cfg)
    results: dict[str, float] = {}
    for group, run in (("gcn", lambda: bench_gcn(cfg, data)), ("gat", lambda: bench_gat(cfg, data)),
                       ("hetero", lambda: bench_hetero(cfg)),
                       ("sampler", lambda: bench_sampler(cfg, data))):
        if group in cfg.only:
            part = run()
            for name, value in part.items():
                unit = "" if "per_s" in name or "mean_" in name else " s"
                print(f"  {name:<42} {value:10.3f}{unit}", flush=True)
            results |= part
    ratios = {}
    for a, b, target in RATIOS:
        if a in results and b in results:
            ratio = results[a] / results[b]
            ratios[f"{a} / {b}"] = ratio
            mark = "" if target is None else f"  (target <= {target}: " \
                f"{'ok' if ratio <= target else 'MISSED'})"
            print(f"  {a} / {b} = {ratio:.2f}x{mark}")
    report = {"config": asdict(cfg), "seconds_or_rate": results, "ratios": ratios,
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
