//! Stride-1 convolution on the CPU over the padded layout of `grid.rs`: forward (with bias and ReLU fused), and
//! the input, weight and bias gradients in one pass over the batch; for a dense weight or a masked one in
//! compressed form (`sparse.rs`).
//!
//! The batch is cut into chunks of whole images sized to stay in the L2 cache; each chunk is laid out, multiplied
//! and copied back on one thread. Weight and bias gradients are summed per *slot* (a fixed run of chunks) and the
//! slots are added in order, so the result does not depend on the thread count or scheduling.

use super::amx;
use super::bf16;
use super::grid::{ConvShape, Grid, from_grid, from_grid_pooled, gradient_to_grid, pooled_gradient_to_grid, to_grid};
use super::kernels::{dots, pack_panels, panel_rows, product};
use super::par;
use super::simd::Isa;
use super::sparse::{Entries, SparseConv, gathered, gathered_grad};

/// Values per chunk and channel row, aimed at keeping a chunk's grids in a 1 MiB L2 cache.
const CHUNK_VALUES: usize = 64 * 1024;
/// Positions per chunk row at most (longer rows gain nothing) and at least (shorter ones spend more time summing
/// across lanes in the weight gradient than accumulating).
const MAX_POSITIONS: usize = 2048;
const MIN_POSITIONS: usize = 512;
/// Slots the weight gradient is accumulated in (runs of chunks, summed in order at the end).
const MAX_SLOTS: usize = 8;

/// A convolution's weight as `[c_out, c_in, k, k]` values: all of them, or only the entries of a mask's layout
/// (the others are treated as zero and get no gradient).
#[derive(Clone, Copy, Debug)]
pub enum Weight<'a> {
    Dense(&'a [f32]),
    Sparse(&'a [f32], &'a SparseConv),
}

impl<'a> Weight<'a> {
    fn values(&self) -> &'a [f32] {
        match *self {
            Weight::Dense(w) | Weight::Sparse(w, _) => w,
        }
    }
}

/// Images per chunk for `shape`.
fn chunk_images(shape: &ConvShape) -> usize {
    let grid = Grid::new(shape, 1);
    let positions = (CHUNK_VALUES / shape.c_in.max(shape.c_out).max(1)).clamp(MIN_POSITIONS, MAX_POSITIONS);
    positions.div_ceil(grid.image).clamp(1, shape.batch.max(1))
}

/// The offsets of the taps of a convolution over `channels` grid rows: `c·stride + kh·pitch + kw` in weight order.
fn tap_offsets(grid: &Grid, channels: usize) -> Vec<usize> {
    let shifts = tap_shifts(grid);
    (0..channels).flat_map(|c| shifts.iter().map(move |s| c * grid.stride + s)).collect()
}

/// The shifts of a convolution's taps in weight order: `kh·pitch + kw`.
fn tap_shifts(grid: &Grid) -> Vec<usize> {
    let k = grid.k;
    (0..k * k).map(|t| grid.shift(t / k, t % k)).collect()
}

/// One of the two products of a convolution (forward, or the input gradient's), ready for the chunks.
enum Product {
    /// Packed weight panels and tap offsets (`kernels.rs`).
    Dense { packed: Vec<f32>, offsets: Vec<usize>, rows: usize },
    /// The same in bfloat16, over pairs of the input's `channels` (`bf16.rs`).
    Bf16 { packed: Vec<u32>, offsets: Vec<usize>, rows: usize, channels: usize },
    /// The same on AMX tiles (`amx.rs`).
    Amx { packed: amx::Packed, shifts: Vec<usize>, channels: usize },
    /// Per output row, its active entries (`sparse.rs`).
    Sparse(Entries),
}

impl Product {
    /// Rows the result buffer holds (the dense kernels compute whole panels).
    fn rows(&self) -> usize {
        match self {
            Product::Dense { rows, .. } | Product::Bf16 { rows, .. } => *rows,
            Product::Amx { packed, .. } => packed.rows,
            Product::Sparse(e) => e.rows(),
        }
    }

    fn run(&self, isa: Isa, input: &[f32], output: &mut [f32], grid: &Grid) {
        let len = grid.len;
        match self {
            Product::Dense { packed, offsets, .. } => product(isa, packed, offsets, input, output, len),
            Product::Bf16 { packed, offsets, channels, .. } => bf16::with_scratch(|pairs, _, _| {
                let pair_rows = channels.div_ceil(2);
                bf16::pair_channels(input, *channels, grid.stride, pairs, grid.buffer(pair_rows));
                bf16::product(isa, packed, offsets, pairs, output, len);
            }),
            Product::Amx { packed, shifts, channels } => bf16::with_scratch(|pairs, _, _| {
                bf16::pair_channels(input, *channels, grid.stride, pairs, grid.buffer(packed.pairs));
                amx::product(packed, shifts, grid.stride, pairs, output, len);
            }),
            Product::Sparse(entries) => gathered(isa, entries, input, output, len),
        }
    }
}

/// A dense product over `channels` input rows of `rows` outputs: `get(row, channel, tap)` is the weight.
fn dense_product(
    isa: Isa,
    grid: &Grid,
    rows: usize,
    channels: usize,
    get: impl Fn(usize, usize, usize) -> f32,
) -> Product {
    let taps = grid.k * grid.k;
    if isa == Isa::Amx {
        return Product::Amx { packed: amx::pack(rows, channels, taps, get), shifts: tap_shifts(grid), channels };
    }
    if isa == Isa::Avx512Bf16 {
        let packed = bf16::pack_pair_panels(bf16::MR, rows, channels, taps, get);
        let offsets = tap_offsets(grid, channels.div_ceil(2));
        return Product::Bf16 { packed, offsets, rows: rows.next_multiple_of(bf16::MR), channels };
    }
    let mr = panel_rows(isa);
    let packed = pack_panels(mr, rows, channels * taps, |row, j| get(row, j / taps, j % taps));
    Product::Dense { packed, offsets: tap_offsets(grid, channels), rows: rows.next_multiple_of(mr) }
}

/// The forward product of `weight` for chunks laid out as `grid`.
fn forward_product(isa: Isa, s: &ConvShape, weight: Weight, grid: &Grid) -> Product {
    let k = s.k;
    match weight {
        Weight::Dense(w) => dense_product(isa, grid, s.c_out, s.c_in, |o, c, t| w[o * s.fan_in() + c * k * k + t]),
        Weight::Sparse(w, layout) => {
            Product::Sparse(layout.forward_entries(w, grid.stride, |t| grid.shift(t / k, t % k)))
        }
    }
}

/// The input gradient's product: the convolution of the output gradient (padded by k − 1 − pad) with the weight
/// transposed (in and out channels swapped) and flipped (taps reversed).
fn input_gradient_product(isa: Isa, s: &ConvShape, weight: Weight, grid: &Grid) -> Product {
    let k = s.k;
    let kk = k * k;
    match weight {
        Weight::Dense(w) => {
            dense_product(isa, grid, s.c_in, s.c_out, |c, o, t| w[(o * s.c_in + c) * kk + (kk - 1 - t)])
        }
        Weight::Sparse(w, layout) => {
            Product::Sparse(layout.backward_entries(w, grid.stride, |t| grid.shift(t / k, t % k)))
        }
    }
}

/// What the forward pass applies after the convolution and bias.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Epilogue {
    pub relu: bool,
    /// 2×2 max pooling, stride 2 (odd sizes drop their last row or column).
    pub pool: bool,
}

/// The forward pass's output (NCHW) and, where it pooled, which input each output took (see `from_grid_pooled`).
#[derive(Clone, Debug, Default)]
pub struct Forward {
    pub y: Vec<f32>,
    pub argmax: Option<Vec<u8>>,
}

/// Forward pass: `conv(x, w) + bias`, then the epilogue; NCHW in and out.
pub fn conv_forward(shape: &ConvShape, x: &[f32], weight: Weight, bias: Option<&[f32]>, then: Epilogue) -> Forward {
    conv_forward_isa(Isa::detect(), shape, x, weight, bias, then)
}

/// [`conv_forward`] on a given instruction set.
pub fn conv_forward_isa(
    isa: Isa,
    shape: &ConvShape,
    x: &[f32],
    weight: Weight,
    bias: Option<&[f32]>,
    then: Epilogue,
) -> Forward {
    let s = *shape;
    assert!(s.supported() && x.len() == s.input_len() && weight.values().len() == s.c_out * s.fan_in());
    let (oh, ow) = (s.out_h(), s.out_w());
    let out_image = s.c_out * s.output_hw(then.pool);
    let mut y = vec![0.0; s.batch * out_image];
    let mut argmax = vec![0u8; if then.pool { y.len() } else { 0 }];
    if y.is_empty() {
        return Forward { y, argmax: then.pool.then_some(argmax) };
    }
    let g = chunk_images(&s);
    let grid = Grid::new(&s, g);
    let prod = forward_product(isa, &s, weight, &grid);
    let in_image = s.c_in * s.h * s.w;
    let arg_chunk = if then.pool { g * out_image } else { 0 };
    par::for_each_chunk_pair(&mut y, &mut argmax, g * out_image, arg_chunk, |i, out, arg| {
        par::with_scratch(|input, output| {
            let images = out.len() / out_image;
            let src = &x[i * g * in_image..][..images * in_image];
            input.resize(grid.buffer(s.c_in), 0.0);
            output.resize(prod.rows() * grid.len, 0.0);
            to_grid(input, &grid, s.pad, src, s.c_in, s.h, s.w);
            prod.run(isa, input, output, &grid);
            if then.pool {
                from_grid_pooled(isa, out, arg, output, &grid, s.c_out, oh, ow, bias, then.relu);
            } else {
                from_grid(out, output, &grid, s.c_out, oh, ow, bias, then.relu);
            }
        })
    });
    Forward { y, argmax: then.pool.then_some(argmax) }
}

/// Which gradients [`conv_backward`] computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub input: bool,
    pub weight: bool,
    pub bias: bool,
    /// For a sparse weight: its gradient at every position, not only at the active ones.
    pub dense_weight: bool,
}

/// Gradients of a convolution (see [`Wanted`]; `None` where not wanted).
#[derive(Clone, Debug, Default)]
pub struct ConvGrads {
    pub input: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

fn add_into(total: &mut [f32], part: &[f32]) {
    for (t, v) in total.iter_mut().zip(part) {
        *t += v;
    }
}

/// A run of chunks of the backward pass: its part of the input gradient and its partial weight and bias gradients.
struct Slot<'a> {
    chunks: std::ops::Range<usize>,
    dx: &'a mut [f32],
    dw: Vec<f32>,
    db: Vec<f32>,
}

/// What the backward pass needs of the forward pass's epilogue: the output where ReLU was applied, the pooling's
/// choices where it pooled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Saved<'a> {
    pub relu_output: Option<&'a [f32]>,
    pub argmax: Option<&'a [u8]>,
}

/// Backward pass of [`conv_forward`]: from the output gradient `dy` and what the epilogue saved, the gradients of
/// `x`, the weight and the bias, in the layouts of their forward counterparts. A sparse weight's gradient is zero
/// outside its layout unless `wanted.dense_weight`.
pub fn conv_backward(
    shape: &ConvShape,
    x: &[f32],
    weight: Weight,
    dy: &[f32],
    saved: Saved,
    wanted: Wanted,
) -> ConvGrads {
    conv_backward_isa(Isa::detect(), shape, x, weight, dy, saved, wanted)
}

/// [`conv_backward`] on a given instruction set.
pub fn conv_backward_isa(
    isa: Isa,
    shape: &ConvShape,
    x: &[f32],
    weight: Weight,
    dy: &[f32],
    saved: Saved,
    wanted: Wanted,
) -> ConvGrads {
    let s = *shape;
    let (oh, ow, k) = (s.out_h(), s.out_w(), s.k);
    let pool = saved.argmax.is_some();
    assert!(s.supported() && x.len() == s.input_len() && weight.values().len() == s.c_out * s.fan_in());
    let out_image = s.c_out * s.output_hw(pool);
    assert!(dy.len() == s.batch * out_image && saved.relu_output.is_none_or(|y| y.len() == dy.len()));
    assert!(saved.argmax.is_none_or(|a| a.len() == dy.len()));
    let g = chunk_images(&s);
    let grid = Grid::new(&s, g);
    let pad_back = k - 1 - s.pad;
    let input_product = wanted.input.then(|| input_gradient_product(isa, &s, weight, &grid));
    let x_offsets = tap_offsets(&grid, s.c_in);
    let x_shifts = tap_shifts(&grid);
    let weight_entries = match weight {
        Weight::Sparse(_, layout) if wanted.weight && !wanted.dense_weight => {
            Some(layout.gradient_entries(grid.stride, |t| grid.shift(t / k, t % k)))
        }
        _ => None,
    };
    let chunks = s.batch.div_ceil(g);
    let slots = chunks.clamp(1, MAX_SLOTS);
    let in_image = s.c_in * s.h * s.w;
    let mut dx = vec![0.0; if wanted.input { s.input_len() } else { 0 }];
    // Each slot: its run of chunks, its part of dx, and its partial weight and bias gradients.
    let bounds: Vec<usize> = (0..=slots).map(|i| i * chunks / slots).collect();
    let mut parts: Vec<Slot> = Vec::with_capacity(slots);
    let mut rest = dx.as_mut_slice();
    for i in 0..slots {
        let chunks = bounds[i]..bounds[i + 1];
        let images = (chunks.end * g).min(s.batch) - chunks.start * g;
        let (dx, tail) = rest.split_at_mut(if wanted.input { images * in_image } else { 0 });
        rest = tail;
        let dw = vec![0.0; if wanted.weight { s.c_out * s.fan_in() } else { 0 }];
        let db = vec![0.0; if wanted.bias { s.c_out } else { 0 }];
        parts.push(Slot { chunks, dx, dw, db });
    }
    par::for_each(&mut parts, |slot| {
        par::with_scratch(|gbuf, work| {
            for chunk in slot.chunks.clone() {
                let b0 = chunk * g;
                let images = g.min(s.batch - b0);
                let range = b0 * out_image..(b0 + images) * out_image;
                let (dy_chunk, y_chunk) = (&dy[range.clone()], saved.relu_output.map(|y| &y[range.clone()]));
                gbuf.resize(grid.buffer(s.c_out), 0.0);
                let sums = if wanted.bias { Some(slot.db.as_mut_slice()) } else { None };
                match saved.argmax {
                    Some(argmax) => {
                        let arg = &argmax[range.clone()];
                        pooled_gradient_to_grid(gbuf, &grid, pad_back, dy_chunk, arg, y_chunk, s.c_out, oh, ow, sums);
                    }
                    None => gradient_to_grid(gbuf, &grid, pad_back, dy_chunk, y_chunk, s.c_out, oh, ow, sums),
                }
                if let Some(prod) = &input_product {
                    work.resize(prod.rows() * grid.len, 0.0);
                    prod.run(isa, gbuf, work, &grid);
                    let at = (b0 - slot.chunks.start * g) * in_image;
                    let out = &mut slot.dx[at..at + images * in_image];
                    from_grid(out, work, &grid, s.c_in, s.h, s.w, None, false);
                }
                if wanted.weight {
                    work.resize(grid.buffer(s.c_in), 0.0);
                    to_grid(work, &grid, s.pad, &x[b0 * in_image..][..images * in_image], s.c_in, s.h, s.w);
                    let dz = &gbuf[grid.lead(pad_back)..];
                    match &weight_entries {
                        Some(entries) => gathered_grad(isa, entries, dz, grid.stride, work, grid.len, &mut slot.dw),
                        None if isa == Isa::Amx => bf16::with_scratch(|gt, _, x16| {
                            let rows_pad = amx::transpose_pairs(dz, grid.stride, s.c_out, grid.len, gt);
                            amx::round_grid(work, s.c_in, grid.stride, x16);
                            amx::weight_gradient(
                                x16,
                                s.c_in,
                                grid.stride,
                                &x_shifts,
                                gt,
                                s.c_out,
                                rows_pad,
                                &mut slot.dw,
                            );
                        }),
                        None if isa == Isa::Avx512Bf16 => bf16::with_scratch(|_, g16, x16| {
                            let stride = bf16::round_rows(dz, grid.stride, s.c_out, grid.len, g16);
                            bf16::round_all(work, x16);
                            bf16::dots(isa, g16, stride, s.c_out, &x_offsets, x16, stride, &mut slot.dw);
                        }),
                        None => dots(isa, dz, grid.stride, s.c_out, &x_offsets, work, grid.len, &mut slot.dw),
                    }
                }
            }
        })
    });
    let (mut dw, mut db) = (vec![], vec![]);
    for (i, part) in parts.into_iter().enumerate() {
        if i == 0 {
            (dw, db) = (part.dw, part.db);
        } else {
            add_into(&mut dw, &part.dw);
            add_into(&mut db, &part.db);
        }
    }
    ConvGrads {
        weight: wanted.weight.then_some(dw),
        bias: wanted.bias.then_some(db),
        input: wanted.input.then_some(dx),
    }
}
