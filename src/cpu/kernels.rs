//! The inner loops of the convolutions, generic over the vector width ([`Simd`]).
//!
//! - [`shifted_product`]: `C[m][q] = Σ_k A[m][k] · B[offset_k + q]`, the forward pass and the input gradient over
//!   the padded layout (`grid.rs`): a register tile of `MR` rows × `NV` vectors of positions; per k one load of each
//!   position vector and `MR` broadcasts of the packed weights.
//! - [`shifted_dots`]: `D[m][k] = Σ_q G[m][q] · B[offset_k + q]`, the weight gradient: `MC` × `NK` dot products
//!   accumulated in vectors over the positions, summed across lanes once at the end.
//!
//! The generic functions are `#[inline(always)]` and compiled only inside the instruction-set wrappers below
//! (`isa_dispatch!`): callers (threads, closures) call those wrappers, since code outside a `#[target_feature]`
//! function does not get its instructions. For the same reason the vector code itself uses no closures (a closure
//! is a function of its own, compiled without the wrapper's target features: each intrinsic becomes a call).

use super::simd::{Isa, Simd, isa_dispatch};

/// Rows of the register tile of [`shifted_product`] per instruction set: the panel height [`pack_panels`] packs for.
///
/// The tiles fill the vector registers without spilling: on AVX2's 16, [`shifted_product`]'s 6 × 2 tile holds 12
/// accumulators, 2 input vectors and a broadcast weight, and [`shifted_dots`]' 3 × 4 tile 12 accumulators, 3
/// gradient vectors and an input vector. A 4 × 3 product tile also needs 16 but one more while the next weight is
/// broadcast, and LLVM spilled an accumulator to the stack on every tap; [`shifted_dots`] at 2 × 4 loaded 6 vectors
/// per 8 FMAs where 3 × 4 loads 7 per 12. The change made the dense airbench ×0.5 training step about 1.3 times as
/// fast on a 2-core AVX2 machine (`ticketlab bench`).
pub(crate) fn panel_rows(isa: Isa) -> usize {
    match isa {
        Isa::Avx512 | Isa::Avx512Bf16 | Isa::Amx => 8,
        Isa::Avx2 => 6,
        Isa::Portable => 4,
    }
}

isa_dispatch! {
    /// [`shifted_product`] with the register tile of the instruction set (rows as [`panel_rows`]).
    pub(crate) fn product(a: &[f32], offsets: &[usize], b: &[f32], c: &mut [f32], len: usize)
        => shifted_product { avx512: [8, 3], avx2: [6, 2], portable: [4, 2] }
}

isa_dispatch! {
    /// [`shifted_dots`] with the register tile of the instruction set.
    pub(crate) fn dots(g: &[f32], g_stride: usize, rows: usize, offsets: &[usize], b: &[f32], len: usize, d: &mut [f32])
        => shifted_dots { avx512: [3, 8], avx2: [3, 4], portable: [2, 4] }
}

/// Pack rows `0..rows` of a `rows × k` matrix, `get(row, j)`, into panels of `mr` rows (see [`panel_rows`]):
/// panel `p` holds `k` groups of `mr` values (row `p·mr + i` at slot `i`), zero for rows past the end.
pub(crate) fn pack_panels(mr: usize, rows: usize, k: usize, get: impl Fn(usize, usize) -> f32) -> Vec<f32> {
    let panels = rows.div_ceil(mr);
    let mut out = vec![0.0; panels * k * mr];
    for p in 0..panels {
        for i in 0..mr.min(rows - p * mr) {
            let row = p * mr + i;
            for j in 0..k {
                out[(p * k + j) * mr + i] = get(row, j);
            }
        }
    }
    out
}

/// One register tile: `c[i·ldc + j]` for `i < MR`, `j < NV·LANES` is `Σ_k a[k·MR + i] · b[offsets[k] + j]`.
///
/// # Safety
/// `a` holds `offsets.len()·MR` values, every `b[offsets[k]..offsets[k] + NV·LANES]` is readable and the `MR` rows
/// of `c` are writable.
#[inline(always)]
unsafe fn product_tile<S: Simd, const MR: usize, const NV: usize>(
    a: *const f32,
    offsets: &[usize],
    b: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    let mut acc = [[S::zero(); NV]; MR];
    for (kk, &off) in offsets.iter().enumerate() {
        unsafe {
            let bp = b.add(off);
            let mut bv = [S::zero(); NV];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = S::load(bp.add(j * S::LANES));
            }
            let ap = a.add(kk * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = S::splat(*ap.add(i));
                for (acc, &bv) in row.iter_mut().zip(&bv) {
                    *acc = S::fma(ai, bv, *acc);
                }
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            unsafe { S::store(c.add(i * ldc + j * S::LANES), v) };
        }
    }
}

/// `c[m·len + q] = Σ_k A[m][k] · b[offsets[k] + q]` for all rows `m` of the packed `a` (from [`pack_panels`] with
/// `MR`, `offsets.len()` columns) and positions `q < len` (a multiple of `NV·LANES`).
#[inline(always)]
pub(crate) fn shifted_product<S: Simd, const MR: usize, const NV: usize>(
    a: &[f32],
    offsets: &[usize],
    b: &[f32],
    c: &mut [f32],
    len: usize,
) {
    let k = offsets.len();
    let panels = a.len() / (k * MR).max(1);
    let tile = NV * S::LANES;
    assert!(len.is_multiple_of(tile) && c.len() >= panels * MR * len);
    let reach = offsets.iter().max().map_or(0, |&m| m + len);
    assert!(reach <= b.len(), "shifted product reads past its input");
    for t in (0..len).step_by(tile) {
        for p in 0..panels {
            // SAFETY: the asserts above bound every read of `a` and `b` and every write of `c`.
            unsafe {
                product_tile::<S, MR, NV>(
                    a.as_ptr().add(p * k * MR),
                    offsets,
                    b.as_ptr().add(t),
                    c.as_mut_ptr().add(p * MR * len + t),
                    len,
                )
            };
        }
    }
}

/// Dot products of `MC` rows `g[i]` with `NK` rows `b[j]` over `vectors` vectors each.
///
/// # Safety
/// Every row must be readable for `vectors·LANES` values.
#[inline(always)]
unsafe fn dots_tile<S: Simd, const MC: usize, const NK: usize>(
    g: [*const f32; MC],
    b: [*const f32; NK],
    vectors: usize,
) -> [[f32; NK]; MC] {
    // No closures here: a closure is compiled on its own, without the wrapper's target features.
    let mut acc = [[S::zero(); NK]; MC];
    for v in 0..vectors {
        let at = v * S::LANES;
        let mut gv = [S::zero(); MC];
        for i in 0..MC {
            gv[i] = unsafe { S::load(g[i].add(at)) };
        }
        for j in 0..NK {
            let bv = unsafe { S::load(b[j].add(at)) };
            for i in 0..MC {
                acc[i][j] = S::fma(gv[i], bv, acc[i][j]);
            }
        }
    }
    // Lanes summed four accumulators at a time (NK is a multiple of 4).
    let mut sums = [[0.0; NK]; MC];
    for i in 0..MC {
        for j in (0..NK).step_by(4) {
            let four = S::hsum4([acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]]);
            sums[i][j..j + 4].copy_from_slice(&four);
        }
    }
    sums
}

/// `d[m·offsets.len() + k] += Σ_{q < len} g[m·g_stride + q] · b[offsets[k] + q]` for `m < rows`.
#[inline(always)]
pub(crate) fn shifted_dots<S: Simd, const MC: usize, const NK: usize>(
    g: &[f32],
    g_stride: usize,
    rows: usize,
    offsets: &[usize],
    b: &[f32],
    len: usize,
    d: &mut [f32],
) {
    let k = offsets.len();
    assert!(len.is_multiple_of(S::LANES) && d.len() >= rows * k);
    assert!(rows == 0 || (rows - 1) * g_stride + len <= g.len(), "weight gradient reads past the gradient");
    assert!(offsets.iter().all(|&o| o + len <= b.len()), "weight gradient reads past its input");
    let vectors = len / S::LANES;
    // The gradient rows of a tile stay in L1 while the input streams by: its shifted rows are one or two channel
    // rows read at neighbouring offsets, so the tile's loads touch few cache lines.
    for m0 in (0..rows).step_by(MC) {
        // Rows past the end repeat the last row; their sums are dropped.
        let gp: [*const f32; MC] = std::array::from_fn(|i| g[(m0 + i).min(rows - 1) * g_stride..].as_ptr());
        for k0 in (0..k).step_by(NK) {
            let bp: [*const f32; NK] = std::array::from_fn(|j| b[offsets[(k0 + j).min(k - 1)]..].as_ptr());
            // SAFETY: the asserts above bound every row read.
            let sums = unsafe { dots_tile::<S, MC, NK>(gp, bp, vectors) };
            for (i, row) in sums.iter().enumerate().take(rows - m0) {
                for (j, &s) in row.iter().enumerate().take(k - k0) {
                    d[(m0 + i) * k + k0 + j] += s;
                }
            }
        }
    }
}
