//! Masked convolution weights in compressed form, and the kernels whose work scales with the active weights.
//!
//! **Format.** [`SparseConv`] lists the active entries of a `[c_out, c_in, k, k]` mask twice: by output channel (the
//! forward pass and the weight gradient) and by input channel (the input gradient, a convolution with the weight
//! transposed). Each entry is the flat position of the weight, so the values stay in the layer's dense parameter and
//! one layout serves every step until the mask changes. Building it is one pass over the mask (a few milliseconds
//! for the largest layers), done when the trainer's masks change.
//!
//! **Kernels.** On the padded layout of `grid.rs` an entry (c, kh, kw) of output channel o is one shifted input row:
//! `Y[o][q] += W · X[c][q + kh·pitch + kw]`. [`gathered_product`] runs each output row's list over a tile of
//! positions held in registers (one vector load and one FMA per entry and vector); [`gathered_dots`] accumulates
//! the weight gradient of the active entries only.

use super::simd::{Simd, isa_dispatch};

/// The active entries of a masked convolution weight, by output and by input channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseConv {
    pub c_out: usize,
    pub c_in: usize,
    pub k: usize,
    /// Entries of output channel `o`: `by_out[out_start[o]..out_start[o + 1]]`, each `c·k² + t` (t = kh·k + kw).
    out_start: Vec<u32>,
    by_out: Vec<u32>,
    /// Entries of input channel `c`: `by_in[in_start[c]..in_start[c + 1]]`, each `o·k² + t`.
    in_start: Vec<u32>,
    by_in: Vec<u32>,
}

impl SparseConv {
    /// The layout of a flat `[c_out, c_in, k, k]` 0/1 mask (non-zero = active).
    pub fn from_mask(mask: &[f32], c_out: usize, c_in: usize, k: usize) -> Self {
        let kk = k * k;
        let fan_in = c_in * kk;
        assert_eq!(mask.len(), c_out * fan_in, "mask length");
        let mut out_start = Vec::with_capacity(c_out + 1);
        let mut by_out = vec![];
        let mut in_count = vec![0u32; c_in + 1];
        out_start.push(0);
        for o in 0..c_out {
            for (j, &m) in mask[o * fan_in..(o + 1) * fan_in].iter().enumerate() {
                if m != 0.0 {
                    by_out.push(j as u32);
                    in_count[j / kk + 1] += 1;
                }
            }
            out_start.push(by_out.len() as u32);
        }
        let mut in_start = in_count;
        for c in 0..c_in {
            in_start[c + 1] += in_start[c];
        }
        let mut fill = in_start.clone();
        let mut by_in = vec![0u32; by_out.len()];
        for o in 0..c_out {
            for &j in &by_out[out_start[o] as usize..out_start[o + 1] as usize] {
                let (c, t) = (j as usize / kk, j as usize % kk);
                by_in[fill[c] as usize] = (o * kk + t) as u32;
                fill[c] += 1;
            }
        }
        SparseConv { c_out, c_in, k, out_start, by_out, in_start, by_in }
    }

    /// Active entries.
    pub fn nnz(&self) -> usize {
        self.by_out.len()
    }

    pub fn density(&self) -> f64 {
        self.nnz() as f64 / (self.c_out * self.c_in * self.k * self.k).max(1) as f64
    }

    /// For each output channel, its entries as (grid offset, weight value) for input rows `stride` apart with taps
    /// shifted by `shift(t)`, and where each channel's run starts.
    pub(crate) fn forward_entries(&self, w: &[f32], stride: usize, shift: impl Fn(usize) -> usize) -> Entries {
        let kk = self.k * self.k;
        let fan_in = self.c_in * kk;
        let mut list = Vec::with_capacity(self.nnz());
        for o in 0..self.c_out {
            for &j in &self.by_out[self.out_start[o] as usize..self.out_start[o + 1] as usize] {
                let (c, t) = (j as usize / kk, j as usize % kk);
                list.push(((c * stride + shift(t)) as u32, w[o * fan_in + j as usize]));
            }
        }
        Entries { start: self.out_start.clone(), list }
    }

    /// For each input channel, the entries of the input gradient's convolution (weight transposed, taps flipped) as
    /// (offset into output-gradient rows `stride` apart, weight value).
    pub(crate) fn backward_entries(&self, w: &[f32], stride: usize, shift: impl Fn(usize) -> usize) -> Entries {
        let kk = self.k * self.k;
        let fan_in = self.c_in * kk;
        let mut list = Vec::with_capacity(self.nnz());
        for c in 0..self.c_in {
            for &e in &self.by_in[self.in_start[c] as usize..self.in_start[c + 1] as usize] {
                let (o, t) = (e as usize / kk, e as usize % kk);
                list.push(((o * stride + shift(kk - 1 - t)) as u32, w[o * fan_in + c * kk + t]));
            }
        }
        Entries { start: self.in_start.clone(), list }
    }

    /// For each output channel, its entries as (input-row offset, flat weight index): what the weight gradient sums.
    pub(crate) fn gradient_entries(&self, stride: usize, shift: impl Fn(usize) -> usize) -> Entries<u32> {
        let kk = self.k * self.k;
        let fan_in = self.c_in * kk;
        let mut list = Vec::with_capacity(self.nnz());
        for o in 0..self.c_out {
            for &j in &self.by_out[self.out_start[o] as usize..self.out_start[o + 1] as usize] {
                let (c, t) = (j as usize / kk, j as usize % kk);
                list.push(((c * stride + shift(t)) as u32, (o * fan_in) as u32 + j));
            }
        }
        Entries { start: self.out_start.clone(), list }
    }
}

/// Per-row lists of (offset, value): row `r` is `list[start[r]..start[r + 1]]`.
pub(crate) struct Entries<V = f32> {
    pub start: Vec<u32>,
    pub list: Vec<(u32, V)>,
}

impl<V> Entries<V> {
    pub fn rows(&self) -> usize {
        self.start.len() - 1
    }

    pub fn row(&self, r: usize) -> &[(u32, V)] {
        &self.list[self.start[r] as usize..self.start[r + 1] as usize]
    }
}

isa_dispatch! {
    /// [`gathered_product`] with the register tile of the instruction set.
    pub(crate) fn gathered(entries: &Entries, b: &[f32], c: &mut [f32], len: usize)
        => gathered_product { avx512: [8], avx2: [4], portable: [2] }
}

isa_dispatch! {
    /// [`gathered_dots`] with the register tile of the instruction set.
    pub(crate) fn gathered_grad(entries: &Entries<u32>, g: &[f32], g_stride: usize, b: &[f32], len: usize, d: &mut [f32])
        => gathered_dots { avx512: [8], avx2: [8], portable: [4] }
}

/// `c[r·len + q] = Σ_{(off, w) in row r} w · b[off + q]` for every row of `entries` and `q < len` (a multiple of
/// 48, the grid alignment).
#[inline(always)]
fn gathered_product<S: Simd, const NV: usize>(entries: &Entries, b: &[f32], c: &mut [f32], len: usize) {
    let tile = NV * S::LANES;
    assert!(c.len() >= entries.rows() * len);
    let reach = entries.list.iter().map(|e| e.0 as usize).max().map_or(0, |m| m + len.next_multiple_of(tile));
    assert!(reach <= b.len(), "gathered product reads past its input");
    for t in (0..len).step_by(tile) {
        // The last tile may run past `len`: it is computed in a local buffer and only its part is kept.
        let full = t + tile <= len;
        for r in 0..entries.rows() {
            let mut acc = [S::zero(); NV];
            for &(off, w) in entries.row(r) {
                let w = S::splat(w);
                // SAFETY: off + t + tile ≤ reach ≤ b.len() by the assert above.
                let p = unsafe { b.as_ptr().add(off as usize + t) };
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = S::fma(w, unsafe { S::load(p.add(j * S::LANES)) }, *acc);
                }
            }
            let out = &mut c[r * len + t..r * len + len.min(t + tile)];
            if full {
                for (j, &v) in acc.iter().enumerate() {
                    // SAFETY: `out` holds the whole tile.
                    unsafe { S::store(out.as_mut_ptr().add(j * S::LANES), v) };
                }
            } else {
                let mut local = [0.0f32; 256];
                for (j, &v) in acc.iter().enumerate() {
                    // SAFETY: NV·LANES ≤ 256 for every instruction set.
                    unsafe { S::store(local.as_mut_ptr().add(j * S::LANES), v) };
                }
                out.copy_from_slice(&local[..out.len()]);
            }
        }
    }
}

/// `d[index] += Σ_{q < len} g[r·g_stride + q] · b[off + q]` for every entry (off, index) of every row r.
#[inline(always)]
fn gathered_dots<S: Simd, const NK: usize>(
    entries: &Entries<u32>,
    g: &[f32],
    g_stride: usize,
    b: &[f32],
    len: usize,
    d: &mut [f32],
) {
    assert!(len.is_multiple_of(S::LANES));
    let rows = entries.rows();
    assert!(rows == 0 || (rows - 1) * g_stride + len <= g.len(), "weight gradient reads past the gradient");
    assert!(entries.list.iter().all(|e| e.0 as usize + len <= b.len() && (e.1 as usize) < d.len()));
    for r in 0..rows {
        let gp = g[r * g_stride..].as_ptr();
        for group in entries.row(r).chunks(NK) {
            // Short groups repeat their first entry; those sums are dropped.
            let bp: [*const f32; NK] = std::array::from_fn(|j| b[group[j.min(group.len() - 1)].0 as usize..].as_ptr());
            let mut acc = [S::zero(); NK];
            for v in 0..len / S::LANES {
                // SAFETY: rows and entries are bounded by the asserts above.
                let gv = unsafe { S::load(gp.add(v * S::LANES)) };
                for (acc, &p) in acc.iter_mut().zip(&bp) {
                    *acc = S::fma(gv, unsafe { S::load(p.add(v * S::LANES)) }, *acc);
                }
            }
            // Lanes summed four accumulators at a time (NK is a multiple of 4).
            for j in (0..NK).step_by(4) {
                let four = S::hsum4([acc[j], acc[j + 1], acc[j + 2], acc[j + 3]]);
                for (&(_, index), sum) in group.iter().skip(j).zip(four) {
                    d[index as usize] += sum;
                }
            }
        }
    }
}
