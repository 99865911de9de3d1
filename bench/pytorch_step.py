#!/usr/bin/env python3
"""Train one of ticketlab's networks in PyTorch on the CPU and print images/s, for the side-by-side comparison of
bench/compare.py (see bench/README.md).

Models, at ticketlab's widths:
- conv4 (Frankle & Carbin): two 3x3 convs with bias and ReLU per stage, 2x2 max pooling, three linear layers.
- airbench (Jordan's airbench94 as ticketlab builds it): a frozen 2x2 whitening conv 3->24 with a bias, GELU; three
  blocks conv3x3 (no bias) -> max-pool 2 -> BatchNorm (scale fixed at 1) -> GELU -> conv3x3 -> BatchNorm -> GELU at
  widths 64/256/256 x width; max-pool 3, a linear layer without bias, logits x 1/9.

Same batch size; SGD with Nesterov momentum 0.9 and weight decay 5e-4 at lr 0.01; a random ERK mask at the given
density applied to the weights once and to the gradients every step (so pruned weights stay exactly zero and get no
momentum, as in ticketlab). The data are random CIFAR-shaped tensors (a few fixed batches, no augmentation:
ticketlab's step also assembles and augments its batch, which this script does not count).
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled(c: int, width: float) -> int:
    return max(1, round(c * width))  # ticketlab's `scaled`


def conv4(width: float, classes: int = 10) -> nn.Sequential:
    c1, c2, f = scaled(64, width), scaled(128, width), scaled(256, width)
    return nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c2, c2, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 8 * 8, f), nn.ReLU(),
        nn.Linear(f, f), nn.ReLU(),
        nn.Linear(f, classes),
    )


def airbench(width: float, classes: int = 10) -> nn.Sequential:
    whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
    whiten.weight.requires_grad_(False)  # frozen (ticketlab sets it from the data; random here)

    def bn(c):
        b = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)
        b.weight.requires_grad_(False)  # scale fixed at 1, shift trained
        return b

    layers, c_in = [whiten, nn.GELU()], 24
    for base in (64, 256, 256):
        c = scaled(base, width)
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.MaxPool2d(2), bn(c), nn.GELU(),
                   nn.Conv2d(c, c, 3, padding=1, bias=False), bn(c), nn.GELU()]
        c_in = c

    class Scale(nn.Module):
        def forward(self, x):
            return x / 9.0

    return nn.Sequential(*layers, nn.MaxPool2d(3), nn.Flatten(), nn.Linear(c_in, classes, bias=False), Scale())


MODELS = {"conv4": conv4, "airbench": airbench}


def erk_densities(shapes, density: float):
    """Per-layer densities of the Erdos-Renyi-Kernel distribution (RigL): proportional to sum(shape)/prod(shape),
    scaled to the overall density, layers that would exceed 1 kept dense and the rest rescaled."""
    dense = set()
    while True:
        budget = density * sum(math.prod(s) for s in shapes)
        budget -= sum(math.prod(s) for i, s in enumerate(shapes) if i in dense)
        raw = {i: sum(s) / math.prod(s) for i, s in enumerate(shapes) if i not in dense}
        scale = budget / sum(raw[i] * math.prod(shapes[i]) for i in raw)
        over = [i for i in raw if raw[i] * scale > 1.0]
        if not over:
            return [1.0 if i in dense else raw[i] * scale for i in range(len(shapes))]
        dense.update(over)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="conv4")
    p.add_argument("--width", type=float, default=0.5, help="channel-width multiplier (ticketlab's conv4 default)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--density", type=float, default=0.1, help="share of weights kept (1 = dense, no masks)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds; images/s is the median over rounds")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = MODELS[args.model](args.width)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad]
    masks = []
    if args.density < 1.0:
        densities = erk_densities([tuple(w.shape) for w in weights], args.density)
        for w, d in zip(weights, densities):
            n = w.numel()
            mask = torch.zeros(n)
            mask[torch.randperm(n)[: round(d * n)]] = 1.0
            mask = mask.view_as(w)
            with torch.no_grad():
                w.mul_(mask)
            masks.append((w, mask))
    kept = sum(int(m.sum()) for _, m in masks) if masks else sum(w.numel() for w in weights)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

    bs = args.batch_size
    batches = [(torch.randn(bs, 3, 32, 32), torch.randint(0, 10, (bs,))) for _ in range(4)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for w, mask in masks:
            w.grad.mul_(mask)
        opt.step()
        return loss

    model.train()
    for i in range(3):  # warm-up
        step(i)
    rates, cpu_rates = [], []
    for r in range(args.rounds):
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(args.steps):
            step(i)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        rates.append(bs * args.steps / elapsed)
        cpu_rates.append(bs * args.steps / cpu)
    print(
        f"pytorch {torch.__version__} {args.model} width={args.width} batch={bs} density={args.density} "
        f"(non-zeros {kept}) threads={torch.get_num_threads()} "
        f"rounds={' '.join(f'{r:.1f}' for r in rates)} images/s={statistics.median(rates):.1f} "
        f"images/CPU-s={statistics.median(cpu_rates):.1f}"
    )


if __name__ == "__main__":
    main()
