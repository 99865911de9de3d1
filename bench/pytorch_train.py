#!/usr/bin/env python3
"""Train airbench in PyTorch on the CPU with ticketlab's recipe and print the test accuracy and the time, to tell
whether ticketlab's accuracy at a given budget is the recipe's or its own (see bench/README.md).

The network is ticketlab's airbench (as in pytorch_step.py), with airbench94's initialisation: the 2x2 whitening
conv set from the first 5,000 training images' patch covariance and frozen, the other convs PyTorch's default with
a Dirac identity on the first filters, BatchNorm with its scale fixed at 1. The recipe: batch 256, Nesterov SGD
(momentum 0.85) at lr 0.375 per mean batch loss with a linear warm-up from 0.2x over 23% of the run and a linear
decay to 0.07x, weight decay 1.33e-3, BatchNorm shifts at 64x the learning rate (same decay), label smoothing 0.2,
flips and 2-pixel reflect-padded translations, a lookahead average of the weights every 5 steps with
rho = 0.95^5 (t/T)^3, flip test-time augmentation. Options switch single ingredients to airbench94's variants
(`--alternating-flip`, `--whiten-bias-epochs`, `--tta 2`) or change the network (`--convs-per-block 1`).

It keeps airbench94's choices where ticketlab's differ in details that act little on accuracy and not on speed:
BatchNorm eps 1e-12 and running-statistics momentum 0.4 (ticketlab: 1e-5 and 0.1, and it recomputes the statistics
of the averaged weights before evaluating them), reflect padding for the translations (ticketlab pads with black),
and the lookahead from the first step (ticketlab from 30% of the run, where rho is still 0.02).

Example (20,000 training images, two threads):
    /work/venv/bin/python bench/pytorch_train.py --data PATH/cifar-10-batches-bin --threads 2 --epochs 10
"""

import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def read_cifar(folder: str, train: bool):
    """Images (N, 3, 32, 32) normalised, and labels, from the official binary batches."""
    names = sorted(n for n in os.listdir(folder) if n.startswith("data_batch")) if train else ["test_batch.bin"]
    raw = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, 3073) for n in names])
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return (images - MEAN) / STD, labels


def scaled(c: int, width: float) -> int:
    return max(1, round(c * width))


class Scale(nn.Module):
    def forward(self, x):
        return x / 9.0


def make_net(width: float, convs_per_block: int, classes: int = 10) -> nn.Sequential:
    def bn(c):
        b = nn.BatchNorm2d(c, eps=1e-12, momentum=0.4)
        b.weight.requires_grad_(False)
        return b

    def conv(cin, cout):
        c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        with torch.no_grad():
            nn.init.dirac_(c.weight[: min(cin, cout)])
        return c

    layers, c_in = [nn.Conv2d(3, 24, 2, padding=0, bias=True), nn.GELU()], 24
    for base in (64, 256, 256):
        c = scaled(base, width)
        layers += [conv(c_in, c), nn.MaxPool2d(2), bn(c), nn.GELU()]
        if convs_per_block == 2:
            layers += [conv(c, c), bn(c), nn.GELU()]
        c_in = c
    return nn.Sequential(*layers, nn.MaxPool2d(3), nn.Flatten(), nn.Linear(c_in, classes, bias=False), Scale())


def whiten(layer: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4):
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    cov = patches.T @ patches / len(patches)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0), vectors.T.flip(0)
    filters = (vectors / torch.sqrt(values + eps).view(-1, 1)).reshape(12, 3, 2, 2).float()
    with torch.no_grad():
        layer.weight.copy_(torch.cat([filters, -filters]))
        layer.bias.zero_()
    layer.weight.requires_grad_(False)


def augment(images: torch.Tensor, gen: torch.Generator, epoch: int, alternating: bool) -> torch.Tensor:
    n = len(images)
    if alternating:
        # airbench94: a fixed random half is flipped on even epochs, the other half on odd ones.
        flip = torch.rand(n, generator=torch.Generator().manual_seed(12345)) < 0.5
        flip ^= bool(epoch % 2)
    else:
        flip = torch.rand(n, generator=gen) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    shifts = torch.randint(0, 5, (n, 2), generator=gen)
    out = torch.empty_like(images)
    for dy in range(5):
        for dx in range(5):
            sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
            out[sel] = padded[sel, :, dy : dy + 32, dx : dx + 32]
    return out


def evaluate(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, tta: int) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in zip(images.split(500), labels.split(500)):
            logits = net(x)
            if tta >= 1:
                logits = 0.5 * logits + 0.5 * net(x.flip(-1))
            if tta >= 2:
                p = F.pad(x, (1, 1, 1, 1), mode="reflect")
                shifted = [p[:, :, :32, :32], p[:, :, 2:, 2:]]
                moved = sum(0.5 * net(s) + 0.5 * net(s.flip(-1)) for s in shifted) / 2
                logits = 0.5 * logits + 0.5 * moved
            correct += int((logits.argmax(1) == y).sum())
    net.train()
    return correct / len(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a cifar-10-batches-bin folder")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--convs-per-block", type=int, choices=(1, 2), default=2)
    p.add_argument("--alternating-flip", action="store_true", help="airbench94's flip every other epoch")
    p.add_argument("--whiten-bias-epochs", type=int, default=0, help="train the whitening bias this many epochs")
    p.add_argument("--tta", type=int, choices=(0, 1, 2), default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train_x, train_y = read_cifar(args.data, True)
    test_x, test_y = read_cifar(args.data, False)

    start = time.perf_counter()
    net = make_net(args.width, args.convs_per_block)
    whiten(net[0], train_x[:5000])
    bs = args.batch_size
    steps_per_epoch = len(train_x) // bs
    total = steps_per_epoch * args.epochs
    lr, wd = 0.375, 1.33e-3
    shifts = [q for n, q in net.named_parameters() if q.requires_grad and q.dim() == 1 and not n.startswith("0.")]
    others = [q for n, q in net.named_parameters() if q.requires_grad and q.dim() > 1]
    groups = [dict(params=others, lr=lr, weight_decay=wd), dict(params=shifts, lr=64 * lr, weight_decay=wd / 64)]
    whiten_bias = net[0].bias
    if args.whiten_bias_epochs > 0:
        groups.append(dict(params=[whiten_bias], lr=lr, weight_decay=wd))
    opt = torch.optim.SGD(groups, momentum=0.85, nesterov=True)
    base_lrs = [g["lr"] for g in opt.param_groups]
    warm = int(0.23 * total)

    def factor(step):
        if step < warm:
            return 0.2 + 0.8 * step / warm
        return 1.0 - 0.93 * (step - warm) / (total - warm)

    average = {k: v.clone() for k, v in net.state_dict().items()}
    step = 0
    for epoch in range(args.epochs):
        whiten_bias.requires_grad_(epoch < args.whiten_bias_epochs)
        images = augment(train_x, gen, epoch, args.alternating_flip)
        order = torch.randperm(len(images), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * bs : (i + 1) * bs]
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * factor(step)
            loss = F.cross_entropy(net(images[idx]), train_y[idx], label_smoothing=0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 5 == 0:
                rho = 0.95**5 * (step / total) ** 3
                with torch.no_grad():
                    for a, w in zip(average.values(), net.state_dict().values()):
                        if w.dtype.is_floating_point:
                            a.lerp_(w, 1 - rho)
                            w.copy_(a)
        acc = evaluate(net, test_x, test_y, 0)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f} test {100 * acc:.2f}% ({time.perf_counter() - start:.0f} s)")
    with torch.no_grad():
        for a, w in zip(average.values(), net.state_dict().values()):
            if w.dtype.is_floating_point:
                w.copy_(a)
    acc = evaluate(net, test_x, test_y, args.tta)
    elapsed = time.perf_counter() - start
    print(f"final test accuracy {100 * acc:.2f}% (tta {args.tta}) after {total} steps in {elapsed:.0f} s "
          f"({bs * total / elapsed:.0f} training images/s incl. evaluation)")


if __name__ == "__main__":
    main()
