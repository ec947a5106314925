"""The training loop: balanced loss or sampling, light augmentation, protection of what the parent
knew (L2-SP towards its weights, distillation of its outputs, frozen stages), early stopping on
the valid split, a clean stop on request that keeps the best epoch.

Every random draw (head init, shuffling, sampling, augmentation) comes from one generator seeded
with the run's seed: on the CPU, with the same number of threads, the same seed gives the same
weights bit for bit.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import torch
import torch.nn.functional as F

from facetrove.collector.train.data import Images, Preprocess
from facetrove.collector.train.network import OnnxNet, bias_of


@dataclass(frozen=True)
class LoopSettings:
    """What the loop needs to know (the CLI's options, resolved)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.0
    freeze: int = 0
    l2sp: float = 0.0
    distill: float = 1.0
    temperature: float = 2.0
    patience: int = 5
    balance: str = "loss"  # loss | sampler | none
    augment: bool = True
    seed: int = 0


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    valid_acc: float | None
    valid_loss: float | None
    seconds: float
    best: bool = False


@dataclass
class FitResult:
    """How training went; ``state`` holds the best epoch's weights."""

    best_epoch: int
    stopped: str  # completed | early-stop | interrupted
    history: list[EpochRecord] = field(default_factory=list)
    seconds: float = 0.0
    images_seen: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.images_seen / self.seconds if self.seconds else 0.0


class Progress(Protocol):
    """Callbacks the loop calls (the CLI draws a progress bar with them)."""

    def start(self, epochs: int, batches: int) -> None: ...

    def batch(self, epoch: int, loss: float) -> None: ...

    def epoch(self, record: EpochRecord) -> None: ...


class Silent:
    """A Progress that shows nothing."""

    def start(self, epochs: int, batches: int) -> None:
        pass

    def batch(self, epoch: int, loss: float) -> None:
        pass

    def epoch(self, record: EpochRecord) -> None:
        pass


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Light, face-safe augmentation of a float batch: mirror, rotate up to 10 degrees, scale
    and shift up to 8 %, brightness and contrast up to 10 % / 20 %."""
    n = x.shape[0]

    def u(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=g) * (high - low) + low

    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    angle, scale = u(-math.radians(10), math.radians(10)), u(0.92, 1.08)
    tx, ty = u(-0.08, 0.08), u(-0.08, 0.08)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast, bright = u(0.8, 1.2), u(-0.2, 0.2)  # inputs span -1..1: 0.2 is 10 % of the range
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast[:, None, None, None] + mean + bright[:, None, None, None]


def class_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over the classes present; 0 for absent classes)."""
    counts = torch.bincount(labels, minlength=classes).to(torch.float32)
    present = counts > 0
    weights = torch.zeros(classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return weights


def predict_logits(
    net: OnnxNet, images: Images, prep: Preprocess, device: torch.device, batch: int = 256
) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        out = [
            net(prep.to_input(images.pixels[i : i + batch]).to(device)).cpu()
            for i in range(0, len(images), batch)
        ]
    return torch.cat(out) if out else torch.zeros((0, net.classes_out))


def _evaluate(
    net: OnnxNet, valid: Images, prep: Preprocess, device: torch.device
) -> tuple[float | None, float | None]:
    if not len(valid):
        return None, None
    logits = predict_logits(net, valid, prep, device)
    acc = float((logits.argmax(1) == valid.labels).float().mean())
    return acc, float(F.cross_entropy(logits, valid.labels))


def _better(a: EpochRecord, b: EpochRecord) -> bool:
    if a.valid_acc is None or b.valid_acc is None:
        return a.loss < b.loss
    return (a.valid_acc, -(a.valid_loss or 0.0)) > (b.valid_acc, -(b.valid_loss or 0.0))


def fit(
    net: OnnxNet,
    train: Images,
    valid: Images,
    prep: Preprocess,
    settings: LoopSettings,
    *,
    generator: torch.Generator,
    parent: OnnxNet | None = None,
    shared: list[tuple[int, int]] | None = None,
    device: torch.device | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    on_step: Callable[[], None] | None = None,
) -> FitResult:
    """Train ``net`` in place and load the best epoch's weights back into it.

    Args:
        parent: the starting network, frozen: L2-SP pulls towards its weights and distillation
            towards its outputs on the classes in ``shared`` ((new index, parent index) pairs).
        stop: set it (Ctrl-C) to end after the current batch; the best epoch so far is kept.
        on_step: called after every optimiser step (tests use it to interrupt at a known point).
    """
    device = device or torch.device("cpu")
    progress = progress or Silent()
    g = generator
    classes = net.classes_out
    net.to(device)
    net.freeze(settings.freeze)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    anchors: list[tuple[torch.Tensor, torch.Tensor]] = []
    if parent is not None and settings.l2sp > 0:
        for key, conv in net.conv_items():
            if key != net.head and conv.weight.requires_grad:
                ref = parent.conv(key).to(device)
                anchors += [
                    (p, r.detach())
                    for p, r in zip(conv.parameters(), ref.parameters(), strict=True)
                ]
    head_rows: tuple[list[int], list[int], torch.Tensor, torch.Tensor] | None = None
    if parent is not None and settings.l2sp > 0 and shared:
        # the head's rows of the classes the parent knows are pulled towards the parent's rows too
        new_i, old_i = (list(t) for t in zip(*shared, strict=True))
        ref_head = parent.conv(parent.head).to(device)
        head_rows = (new_i, old_i, ref_head.weight.detach(), bias_of(ref_head).detach())
    if parent is not None:
        parent.to(device).eval()
    weights = class_weights(train.labels, classes).to(device)
    n = len(train)
    batches = max(1, math.ceil(n / settings.batch_size))
    result = FitResult(best_epoch=0, stopped="completed")
    start_acc, start_loss = _evaluate(net, valid, prep, device)
    best = EpochRecord(0, math.inf, start_acc, start_loss, 0.0, best=True)
    result.history.append(best)
    result.state = copy.deepcopy(net.state_dict())
    progress.start(settings.epochs, batches)
    t0 = time.perf_counter()
    since_best = 0
    for epoch in range(1, settings.epochs + 1):
        net.train()
        t_epoch = time.perf_counter()
        if settings.balance == "sampler":
            sample_w = (1.0 / torch.bincount(train.labels, minlength=classes).clamp(min=1))[
                train.labels
            ]
            order = torch.multinomial(sample_w, n, replacement=True, generator=g)
        else:
            order = torch.randperm(n, generator=g)
        total, seen = 0.0, 0
        for b in range(batches):
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            if not len(idx):
                continue
            x = prep.to_input(train.pixels[idx])
            if settings.augment:
                x = augment(x, g)
            x, y = x.to(device), train.labels[idx].to(device)
            logits = net(x)
            loss = F.cross_entropy(
                logits, y, weight=weights if settings.balance == "loss" else None
            )
            if anchors or head_rows:
                penalty = sum(((w - ref) ** 2).sum() for w, ref in anchors)
                if head_rows:
                    new_i, old_i, ref_w, ref_b = head_rows
                    head = net.conv(net.head)
                    penalty = penalty + ((head.weight[new_i] - ref_w[old_i]) ** 2).sum()
                    penalty = penalty + ((bias_of(head)[new_i] - ref_b[old_i]) ** 2).sum()
                loss = loss + settings.l2sp * penalty
            if parent is not None and settings.distill > 0 and shared:
                new_i, old_i = (list(t) for t in zip(*shared, strict=True))
                with torch.no_grad():
                    teacher = F.softmax(parent(x)[:, old_i] / settings.temperature, 1)
                student = F.log_softmax(logits[:, new_i] / settings.temperature, 1)
                kd = F.kl_div(student, teacher, reduction="batchmean")
                loss = loss + settings.distill * settings.temperature**2 * kd
            opt.zero_grad(set_to_none=True)
            cast(Any, loss).backward()  # typed or not, whether torch is installed or not
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
            result.images_seen += len(idx)
            progress.batch(epoch, float(loss.detach()))
            if on_step is not None:
                on_step()
            if stop is not None and stop.is_set():
                break
        acc, vloss = _evaluate(net, valid, prep, device)
        record = EpochRecord(epoch, total / max(seen, 1), acc, vloss, time.perf_counter() - t_epoch)
        interrupted = stop is not None and stop.is_set()
        if not interrupted or seen == n:  # a half epoch is not a candidate
            if _better(record, best):
                record.best, best, since_best = True, record, 0
                result.best_epoch = epoch
                result.state = copy.deepcopy(net.state_dict())
            else:
                since_best += 1
        result.history.append(record)
        progress.epoch(record)
        if interrupted:
            result.stopped = "interrupted"
            break
        if len(valid) and since_best >= settings.patience:
            result.stopped = "early-stop"
            break
    result.seconds = time.perf_counter() - t0
    net.load_state_dict(result.state)
    net.eval()
    return result
