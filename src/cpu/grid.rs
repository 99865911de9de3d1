//! The padded layout the convolution kernels work in, and the copies between it and NCHW.
//!
//! A stride-1 k×k convolution with `pad` zeros per side becomes one matrix product per chunk of images once each
//! channel of the chunk is laid out as one long row: image after image, each row of pixels followed by `pad` zeros
//! and each image by `pad` zero rows (the zeros after one row are also the zeros before the next). In that row the
//! input pixel an output reads through tap (kh, kw) sits at a fixed distance `kh·pitch + kw` from the output's own
//! position, for every output of every image of the chunk. So output channel `o` at position `q` is
//! `Σ_{c,kh,kw} W[o,c,kh,kw] · X[c][q + kh·pitch + kw]`: a product of the weight with "shifted rows" of X, without
//! the k²-times larger im2col copy. The positions that are not pixels (the pad columns and rows) are computed too and
//! dropped when the result is copied back to NCHW: 1/31 to 5/9 of the work on 31×31 down to 3×3 maps.

use super::simd::{Isa, Simd, isa_dispatch};

/// A stride-1 convolution with square kernel `k` and `pad` zeros on every side (`pad < k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvShape {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub pad: usize,
}

impl ConvShape {
    pub fn out_h(&self) -> usize {
        self.h + 2 * self.pad + 1 - self.k
    }

    pub fn out_w(&self) -> usize {
        self.w + 2 * self.pad + 1 - self.k
    }

    /// Entries of one output channel's weight: c_in·k².
    pub fn fan_in(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// Whether the padded layout applies: a non-empty output and `pad < k` (then the backward pass, a convolution
    /// with `k − 1 − pad` zeros, fits the same layout).
    pub fn supported(&self) -> bool {
        self.k >= 1 && self.pad < self.k && self.h + 2 * self.pad >= self.k && self.w + 2 * self.pad >= self.k
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.c_in * self.h * self.w
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.c_out * self.out_h() * self.out_w()
    }

    /// Pixels of one output map, after 2×2 max pooling if `pooled`.
    pub fn output_hw(&self, pooled: bool) -> usize {
        if pooled { (self.out_h() / 2) * (self.out_w() / 2) } else { self.out_h() * self.out_w() }
    }
}

/// Positions are computed in tiles; every grid length is a multiple of this (the tile widths of all instruction
/// sets divide it), so a grid is the same whatever the instruction set.
pub(crate) const LEN_ALIGN: usize = 48;

/// The padded layout of a chunk of `images` images of one [`ConvShape`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    /// Distance between rows: width + pad.
    pub pitch: usize,
    /// Distance between images: (height + pad) · pitch.
    pub image: usize,
    /// Positions computed per channel (all images of the chunk, rounded up to [`LEN_ALIGN`]).
    pub len: usize,
    /// Distance between channels: room for `len` positions read at every tap shift, plus the leading zeros.
    pub stride: usize,
    pub k: usize,
}

impl Grid {
    pub fn new(shape: &ConvShape, images: usize) -> Self {
        let pitch = shape.w + shape.pad;
        let image = (shape.h + shape.pad) * pitch;
        let len = (images * image).next_multiple_of(LEN_ALIGN);
        let stride = (len + (shape.k - 1) * (pitch + 1)).next_multiple_of(16);
        Grid { pitch, image, len, stride, k: shape.k }
    }

    /// Where pixel (0, 0) of the first image sits when the grid holds an input padded by `pad`.
    pub fn lead(&self, pad: usize) -> usize {
        pad * (self.pitch + 1)
    }

    /// Values of a buffer holding `channels` rows: the rows and room for a kernel's last tile to read past the end
    /// (its results there are dropped).
    pub fn buffer(&self, channels: usize) -> usize {
        channels * self.stride + 256
    }

    /// Offset of tap (kh, kw) from an output's position.
    pub fn shift(&self, kh: usize, kw: usize) -> usize {
        kh * self.pitch + kw
    }
}

/// Lay `images` NCHW images (`src`, `channels` × `h` × `w` each) out in `grid` (`dst`, `channels` rows of
/// `grid.stride`) with the pixels at lead `lead(pad)`; everything else zero.
pub(crate) fn to_grid(dst: &mut [f32], grid: &Grid, pad: usize, src: &[f32], channels: usize, h: usize, w: usize) {
    let images = src.len() / (channels * h * w);
    let lead = grid.lead(pad);
    if h * w == 1 {
        dst.fill(0.0);
        // 1×1 maps (a linear layer's batch): a transpose, in blocks that stay in cache.
        const BLOCK: usize = 16;
        for c0 in (0..channels).step_by(BLOCK) {
            for b0 in (0..images).step_by(BLOCK) {
                for c in c0..(c0 + BLOCK).min(channels) {
                    for b in b0..(b0 + BLOCK).min(images) {
                        dst[c * grid.stride + lead + b * grid.image] = src[b * channels + c];
                    }
                }
            }
        }
        return;
    }
    for (c, row) in dst.chunks_mut(grid.stride).enumerate() {
        if c < channels {
            fill_row(row, grid, lead, images, h, w, |b, r, out| {
                copy_row(out, &src[((b * channels + c) * h + r) * w..][..w]);
            });
        } else {
            row.fill(0.0);
        }
    }
}

/// Write one channel row of a grid: the pixels of row `r` of image `b` through `pixels(b, r, out)` (`w` values
/// at their place), zeros everywhere else (each value written once).
#[allow(clippy::too_many_arguments)]
fn fill_row(
    row: &mut [f32],
    grid: &Grid,
    lead: usize,
    images: usize,
    h: usize,
    w: usize,
    mut pixels: impl FnMut(usize, usize, &mut [f32]),
) {
    let mut done = 0;
    for b in 0..images {
        for r in 0..h {
            let at = lead + b * grid.image + r * grid.pitch;
            row[done..at].fill(0.0);
            pixels(b, r, &mut row[at..at + w]);
            done = at + w;
        }
    }
    row[done..].fill(0.0);
}

/// `dst.copy_from_slice(src)`, with the short rows of small maps copied inline (a call to memcpy for a row of three
/// pixels costs more than the copy).
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    macro_rules! fixed {
        ($($n:literal)*) => {
            match src.len() {
                $($n => {
                    let (d, s): (&mut [f32; $n], &[f32; $n]) = (dst.try_into().unwrap(), src.try_into().unwrap());
                    *d = *s;
                })*
                _ => dst.copy_from_slice(src),
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
}

/// As [`to_grid`] for an output gradient `dy` of a layer whose output went through ReLU: the gradient is kept
/// only where the output `y` is positive. Adds each channel's sum of the kept gradient to `channel_sums` (the bias
/// gradient) if given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gradient_to_grid(
    dst: &mut [f32],
    grid: &Grid,
    pad: usize,
    dy: &[f32],
    relu_output: Option<&[f32]>,
    channels: usize,
    h: usize,
    w: usize,
    mut channel_sums: Option<&mut [f32]>,
) {
    let images = dy.len() / (channels * h * w);
    let lead = grid.lead(pad);
    for (c, row) in dst.chunks_mut(grid.stride).enumerate() {
        if c >= channels {
            row.fill(0.0);
            continue;
        }
        let mut sum = 0.0f32;
        fill_row(row, grid, lead, images, h, w, |b, r, out| {
            let at = ((b * channels + c) * h + r) * w;
            let g = &dy[at..at + w];
            match relu_output {
                Some(y) => {
                    for ((o, &g), &y) in out.iter_mut().zip(g).zip(&y[at..at + w]) {
                        *o = if y > 0.0 { g } else { 0.0 };
                    }
                }
                None => copy_row(out, g),
            }
            sum += out.iter().sum::<f32>();
        });
        if let Some(sums) = channel_sums.as_deref_mut() {
            sums[c] += sum;
        }
    }
}

/// Copy the pixels of an `h` × `w` output back from `src` (`channels` rows of `len` positions, the output of a
/// shifted product) to NCHW `dst`, adding `bias` per channel and applying ReLU if asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_grid(
    dst: &mut [f32],
    src: &[f32],
    grid: &Grid,
    channels: usize,
    h: usize,
    w: usize,
    bias: Option<&[f32]>,
    relu: bool,
) {
    let images = dst.len() / (channels * h * w);
    for b in 0..images {
        for c in 0..channels {
            let plane = &mut dst[(b * channels + c) * h * w..][..h * w];
            let row = &src[c * grid.len..(c + 1) * grid.len];
            let add = bias.map_or(0.0, |bias| bias[c]);
            for r in 0..h {
                let at = b * grid.image + r * grid.pitch;
                let out = &mut plane[r * w..(r + 1) * w];
                for (o, &v) in out.iter_mut().zip(&row[at..at + w]) {
                    let v = v + add;
                    // `v < 0` keeps NaN (a diverging run must still show it).
                    *o = if relu && v < 0.0 { 0.0 } else { v };
                }
            }
        }
    }
}

/// As [`from_grid`], followed by 2×2 max pooling (stride 2; a last odd row or column is dropped): `dst` holds
/// `h/2 × w/2` maps and `argmax` which of the four inputs (0 top left, 1 top right, 2 bottom left, 3 bottom right)
/// each output took, the first largest (or a NaN) in that order. Per channel, the 2×2 maxima are taken at every
/// position of the grid row in one vector pass ([`window_max`]), then the pooled outputs are picked from them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_grid_pooled(
    isa: Isa,
    dst: &mut [f32],
    argmax: &mut [u8],
    src: &[f32],
    grid: &Grid,
    channels: usize,
    h: usize,
    w: usize,
    bias: Option<&[f32]>,
    relu: bool,
) {
    let (ph, pw) = (h / 2, w / 2);
    let images = dst.len() / (channels * ph * pw);
    if images == 0 {
        return;
    }
    // Windows at every position up to the last one pooled: they read inside the chunk's images.
    let windows = (images - 1) * grid.image + 2 * (ph - 1) * grid.pitch + 2 * pw - 1;
    let (mut maxima, mut which) = (vec![0.0f32; windows], vec![0u8; windows]);
    for c in 0..channels {
        let row = &src[c * grid.len..(c + 1) * grid.len];
        window_max(isa, row, grid.pitch, &mut maxima, &mut which);
        let add = bias.map_or(0.0, |bias| bias[c]);
        for b in 0..images {
            let base = (b * channels + c) * ph * pw;
            let (plane, arg) = (&mut dst[base..base + ph * pw], &mut argmax[base..base + ph * pw]);
            for r in 0..ph {
                let top_at = b * grid.image + 2 * r * grid.pitch;
                let (out, arg) = (&mut plane[r * pw..(r + 1) * pw], &mut arg[r * pw..(r + 1) * pw]);
                let (m, a) = (&maxima[top_at..top_at + 2 * pw - 1], &which[top_at..top_at + 2 * pw - 1]);
                for ((o, a), (m, &best)) in out.iter_mut().zip(arg).zip(m.iter().step_by(2).zip(a.iter().step_by(2))) {
                    let m = m + add;
                    *o = if relu && m < 0.0 { 0.0 } else { m };
                    *a = best;
                }
            }
        }
    }
}

isa_dispatch! {
    /// For every position `q < maxima.len()` of `row`, the largest of `row[q]`, `row[q + 1]`, `row[q + pitch]`,
    /// `row[q + pitch + 1]` and which of them (0–3) it is: the first largest, or the first NaN.
    fn window_max(row: &[f32], pitch: usize, maxima: &mut [f32], which: &mut [u8])
        => window_max_generic { avx512: [], avx2: [], portable: [] }
}

#[inline(always)]
fn window_max_generic<S: Simd>(row: &[f32], pitch: usize, maxima: &mut [f32], which: &mut [u8]) {
    let n = maxima.len();
    let (top, bottom) = (&row[..n + 1], &row[pitch..pitch + n + 1]);
    let windows = top.iter().zip(&top[1..]).zip(bottom.iter().zip(&bottom[1..]));
    for ((m, w), ((&a, &b), (&c, &d))) in maxima.iter_mut().zip(which.iter_mut()).zip(windows) {
        // Branch-free running maximum (vectorised): takes v if larger or NaN, keeps a NaN.
        let (mut best, mut at) = (a, 0u8);
        for (i, v) in [(1u8, b), (2, c), (3, d)] {
            let take = (v > best || v.is_nan()) && !best.is_nan();
            best = if take { v } else { best };
            at = if take { i } else { at };
        }
        *m = best;
        *w = at;
    }
}

/// The output gradient of a pooled layer (see [`from_grid_pooled`]) laid out like [`gradient_to_grid`] at the
/// convolution's `h × w` resolution: each pooled gradient goes to the input its output took (kept only where the
/// output is positive if ReLU followed), zero everywhere else. Adds the per-channel sums to `channel_sums`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pooled_gradient_to_grid(
    dst: &mut [f32],
    grid: &Grid,
    pad: usize,
    dy: &[f32],
    argmax: &[u8],
    relu_output: Option<&[f32]>,
    channels: usize,
    h: usize,
    w: usize,
    mut channel_sums: Option<&mut [f32]>,
) {
    dst.fill(0.0);
    let (ph, pw) = (h / 2, w / 2);
    let images = dy.len() / (channels * ph * pw).max(1);
    let lead = grid.lead(pad);
    for c in 0..channels {
        let row = &mut dst[c * grid.stride..(c + 1) * grid.stride];
        let mut sum = 0.0f32;
        for b in 0..images {
            let base = (b * channels + c) * ph * pw;
            for r in 0..ph {
                for col in 0..pw {
                    let i = base + r * pw + col;
                    let g = match relu_output {
                        Some(y) if y[i] <= 0.0 || y[i].is_nan() => 0.0,
                        _ => dy[i],
                    };
                    let a = argmax[i] as usize;
                    row[lead + b * grid.image + (2 * r + a / 2) * grid.pitch + 2 * col + a % 2] = g;
                    sum += g;
                }
            }
        }
        if let Some(sums) = channel_sums.as_deref_mut() {
            sums[c] += sum;
        }
    }
}
