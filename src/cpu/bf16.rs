//! The convolutions' dense products with bfloat16 inputs and f32 sums ([`Isa::Avx512Bf16`], the default
//! on CPUs with AVX512-BF16; `TICKETLAB_CPU_ISA=avx512` keeps f32), as mixed-precision training runs them on GPUs
//! (airbench trains in half precision).
//!
//! `VDPBF16PS` multiplies two pairs of bfloat16 values per f32 lane and adds both products to it: twice the
//! multiply-adds of an f32 FMA per instruction, from half the bytes. The two products of `kernels.rs` pair up as
//! follows:
//! - forward and input gradient, `C[m][q] = Σ_k A[m][k] · B[offset_k + q]`: the taps of channels 2c and 2c + 1 have
//!   the same shift, so the grid is laid out again with those channels interleaved position by position
//!   ([`pair_channels`]) and the weights packed in the same pairs ([`pack_pair_panels`]); one instruction then
//!   applies two taps to 16 positions;
//! - weight gradient, `D[m][k] = Σ_q G[m][q] · B[offset_k + q]`: neighbouring positions pair up as they lie, so the
//!   rows are only rounded ([`round_rows`]).
//!
//! Rounding is to nearest, ties to even. [`product`] and [`dots`] on any other instruction set run the same
//! arithmetic in plain Rust: the reference the tests hold the vector code to. The conversions ([`pair_channels`],
//! [`extend_rounded`]) run on AVX-512 vectors wherever the products do, bit for bit as [`to_bf16`] rounds.

use std::cell::RefCell;

use super::simd::Isa;

/// `x` rounded to bfloat16 (nearest, ties to even; NaN stays NaN), as its 16 bits.
pub(crate) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `lo` and `hi` rounded, `lo` in the low half.
pub(crate) fn pair(lo: f32, hi: f32) -> u32 {
    u32::from(to_bf16(lo)) | (u32::from(to_bf16(hi)) << 16)
}

/// The rows of a grid buffer (`channels` rows `stride` apart) with channels 2p and 2p + 1 interleaved: `out[p·stride
/// + i]` holds channel 2p at position i in its low half and channel 2p + 1 (zero past the last channel) in its high
/// half. `out` gets `len` values, zero past the pairs.
pub(crate) fn pair_channels(src: &[f32], channels: usize, stride: usize, out: &mut Vec<u32>, len: usize) {
    let pairs = channels.div_ceil(2);
    assert!(pairs * stride <= len && channels * stride <= src.len());
    out.clear();
    out.reserve(len);
    let rows = &mut out.spare_capacity_mut()[..pairs * stride];
    for (p, row) in rows.chunks_exact_mut(stride.max(1)).enumerate() {
        let lo = &src[2 * p * stride..][..stride];
        let hi = (2 * p + 1 < channels).then(|| &src[(2 * p + 1) * stride..][..stride]);
        #[cfg(target_arch = "x86_64")]
        if vector_rounding() {
            // SAFETY: the CPU runs AVX-512 (F, BW); `lo`, `hi` and `row` have `stride` values each.
            unsafe { x86::pair_row(lo, hi, row) };
            continue;
        }
        for (i, o) in row.iter_mut().enumerate() {
            o.write(pair(lo[i], hi.map_or(0.0, |hi| hi[i])));
        }
    }
    // SAFETY: the loop wrote every one of the first `pairs · stride` values.
    unsafe { out.set_len(pairs * stride) };
    out.resize(len, 0);
}

/// `src` rounded to bfloat16, appended to `out`.
pub(crate) fn extend_rounded(out: &mut Vec<u16>, src: &[f32]) {
    let start = out.len();
    out.reserve(src.len());
    let dst = &mut out.spare_capacity_mut()[..src.len()];
    if vector_rounding() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs AVX-512 (F, BW); `dst` has as many values as `src`.
        unsafe {
            x86::round_to(src, dst)
        };
    } else {
        for (o, &x) in dst.iter_mut().zip(src) {
            o.write(to_bf16(x));
        }
    }
    // SAFETY: either branch wrote all of them.
    unsafe { out.set_len(start + src.len()) };
}

/// Whether the conversions to bfloat16 run on AVX-512 vectors (F and BW; every CPU with AVX512-BF16 has both):
/// the same rounding as [`to_bf16`], 16 values at a time.
fn vector_rounding() -> bool {
    cfg!(target_arch = "x86_64") && Isa::bf16_available()
}

/// Pack a `rows × (channels · taps)` matrix, `get(row, channel, tap)`, into panels of `mr` rows of channel pairs:
/// panel `p` holds, for each pair tap `j = (c / 2)·taps + tap`, `mr` values (row `p·mr + i` at slot `i`) with
/// channel 2·(c / 2) in the low half and the next channel in the high half; zero for rows and channels past the end.
pub(crate) fn pack_pair_panels(
    mr: usize,
    rows: usize,
    channels: usize,
    taps: usize,
    get: impl Fn(usize, usize, usize) -> f32,
) -> Vec<u32> {
    let k = channels.div_ceil(2) * taps;
    let panels = rows.div_ceil(mr);
    let mut out = vec![0; panels * k * mr];
    for row in 0..rows {
        let (p, i) = (row / mr, row % mr);
        for c in (0..channels).step_by(2) {
            for t in 0..taps {
                let hi = if c + 1 < channels { get(row, c + 1, t) } else { 0.0 };
                out[(p * k + (c / 2) * taps + t) * mr + i] = pair(get(row, c, t), hi);
            }
        }
    }
    out
}

/// `rows` rows of `len` values, `src_stride` apart in `src`, rounded to bfloat16 with their stride rounded up to 32
/// (two positions per lane, 16 lanes), zero past `len`. Returns that stride.
pub(crate) fn round_rows(src: &[f32], src_stride: usize, rows: usize, len: usize, out: &mut Vec<u16>) -> usize {
    let stride = len.next_multiple_of(32);
    out.clear();
    for r in 0..rows {
        extend_rounded(out, &src[r * src_stride..][..len]);
        out.resize((r + 1) * stride, 0);
    }
    stride
}

/// Every value of `src` rounded to bfloat16, then 32 zeros: a grid whose rows [`dots`] may read up to 31 positions
/// past their length (where the other side is zero).
pub(crate) fn round_all(src: &[f32], out: &mut Vec<u16>) {
    out.clear();
    extend_rounded(out, src);
    out.extend([0; 32]);
}

thread_local! {
    static SCRATCH: RefCell<(Vec<u32>, Vec<u16>, Vec<u16>)> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// This thread's bfloat16 buffers (one of pairs, two of values), kept between calls like `par::with_scratch`'s.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u32>, &mut Vec<u16>, &mut Vec<u16>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (a, b, c) = &mut *bufs;
            f(a, b, c)
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new(), &mut Vec::new()),
    })
}

/// Panel height and position vectors of the product's register tile (as the f32 AVX-512 kernel's).
pub(crate) const MR: usize = 8;
const NV: usize = 3;
const LANES: usize = 16;

/// `c[m·len + q] = Σ_j A[m][j] · B[offsets[j] + q]` over pair taps `j`, each term the sum of the pair's two
/// products, for every row of the packed `a` (from [`pack_pair_panels`] with [`MR`]) and `q < len` (a multiple of
/// 48); `b` from [`pair_channels`].
pub(crate) fn product(isa: Isa, a: &[u32], offsets: &[usize], b: &[u32], c: &mut [f32], len: usize) {
    let k = offsets.len();
    let panels = a.len() / (k * MR).max(1);
    assert!(len.is_multiple_of(NV * LANES) && c.len() >= panels * MR * len);
    let reach = offsets.iter().max().map_or(0, |&m| m + len);
    assert!(reach <= b.len(), "bfloat16 product reads past its input");
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512Bf16 {
        // SAFETY: `Avx512Bf16` is only detected where the CPU runs it; the asserts bound every access.
        unsafe { x86::product(a, offsets, b, c, len, panels) };
        return;
    }
    let _ = isa;
    for p in 0..panels {
        for i in 0..MR {
            let out = &mut c[(p * MR + i) * len..][..len];
            out.fill(0.0);
            for (j, &off) in offsets.iter().enumerate() {
                let w = a[(p * k + j) * MR + i];
                for (q, o) in out.iter_mut().enumerate() {
                    *o = pair_dot(*o, w, b[off + q]);
                }
            }
        }
    }
}

/// `d[m·offsets.len() + j] += Σ_{q < len} g[m·g_stride + q] · b[offsets[j] + q]` for `m < rows`, over bfloat16
/// values (from [`round_rows`] and [`round_all`]; `len` a multiple of 32).
#[allow(clippy::too_many_arguments)]
pub(crate) fn dots(
    isa: Isa,
    g: &[u16],
    g_stride: usize,
    rows: usize,
    offsets: &[usize],
    b: &[u16],
    len: usize,
    d: &mut [f32],
) {
    let k = offsets.len();
    assert!(len.is_multiple_of(2 * LANES) && d.len() >= rows * k);
    assert!(rows == 0 || (rows - 1) * g_stride + len <= g.len(), "bfloat16 weight gradient reads past the gradient");
    assert!(offsets.iter().all(|&o| o + len <= b.len()), "bfloat16 weight gradient reads past its input");
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512Bf16 {
        // SAFETY: as in `product`.
        unsafe { x86::dots(g, g_stride, rows, offsets, b, len, d) };
        return;
    }
    let _ = isa;
    for m in 0..rows {
        let gr = &g[m * g_stride..][..len];
        for (j, &off) in offsets.iter().enumerate() {
            // Lane by lane as the vector code sums: lane l takes positions 32v + 2l and 32v + 2l + 1.
            let mut lanes = [0f32; LANES];
            for (q, pair) in gr.chunks_exact(2).enumerate() {
                let (gl, gh) = (from_bf16(pair[0]), from_bf16(pair[1]));
                let (bl, bh) = (from_bf16(b[off + 2 * q]), from_bf16(b[off + 2 * q + 1]));
                let lane = &mut lanes[q % LANES];
                *lane = (*lane + gh * bh) + gl * bl;
            }
            d[m * k + j] += lanes.iter().sum::<f32>();
        }
    }
}

/// One lane of `VDPBF16PS`: `acc` plus the high halves' product, plus the low halves' (each product exact in f32).
fn pair_dot(acc: f32, a: u32, b: u32) -> f32 {
    let (al, ah) = (from_bf16(a as u16), from_bf16((a >> 16) as u16));
    let (bl, bh) = (from_bf16(b as u16), from_bf16((b >> 16) as u16));
    (acc + ah * bh) + al * bl
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::{LANES, MR, NV};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Each lane's f32 rounded as [`super::to_bf16`] rounds it, in the lane's high 16 bits (the low ones are not
    /// cleared).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn round_high(x: __m512) -> __m512i {
        let bits = _mm512_castps_si512(x);
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        let rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(bits, _mm512_set1_epi32(0x40_0000)))
    }

    /// The first `n` (≤ 16) lanes' mask.
    #[inline]
    fn first(n: usize) -> u16 {
        ((1u32 << n.min(16)) - 1) as u16
    }

    /// `n` (≤ 16) values from `p`, zero in the other lanes.
    ///
    /// # Safety
    /// `p..p + n` is readable (the other lanes are not read).
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(first(n), p) }
    }

    /// Positions `0..32` of `row` (zero past its end) rounded to bfloat16, neighbours paired: lane i holds position
    /// 2i in its low half and 2i + 1 in its high half.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(in crate::cpu) fn neighbour_pairs(row: &[f32]) -> __m512i {
        let n = row.len().min(32);
        // SAFETY: the loads read the first `n` values of `row`.
        let (a, b) = unsafe { (load(row.as_ptr(), n), load(row.as_ptr().wrapping_add(16), n.saturating_sub(16))) };
        _mm512_permutex2var_epi16(round_high(a), high_halves(), round_high(b))
    }

    /// The 16-bit indices that pick the high half of each lane of two vectors, in order.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn high_halves() -> __m512i {
        const ODD: [u16; 32] = {
            let mut odd = [0; 32];
            let mut i = 0;
            while i < 32 {
                odd[i] = 2 * i as u16 + 1;
                i += 1;
            }
            odd
        };
        // SAFETY: 64 bytes.
        unsafe { _mm512_loadu_si512(ODD.as_ptr().cast()) }
    }

    /// `out[i]` = `super::pair(lo[i], hi[i])` (`hi` zero where `None`).
    ///
    /// # Safety
    /// The CPU runs AVX-512 F and BW; `lo`, `hi` and `out` have the same length.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn pair_row(lo: &[f32], hi: Option<&[f32]>, out: &mut [MaybeUninit<u32>]) {
        let keep_high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        for i in (0..out.len()).step_by(16) {
            let n = (out.len() - i).min(16);
            unsafe {
                let l = _mm512_srli_epi32::<16>(round_high(load(lo.as_ptr().add(i), n)));
                let h = hi.map_or(_mm512_setzero_si512(), |hi| round_high(load(hi.as_ptr().add(i), n)));
                let v = _mm512_or_si512(l, _mm512_and_si512(h, keep_high));
                _mm512_mask_storeu_epi32(out.as_mut_ptr().add(i).cast(), first(n), v);
            }
        }
    }

    /// `out[i]` = `super::to_bf16(src[i])`.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F and BW; `out` has as many values as `src`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn round_to(src: &[f32], out: &mut [MaybeUninit<u16>]) {
        for (i, chunk) in src.chunks(32).enumerate() {
            let v = neighbour_pairs(chunk);
            let mask = if chunk.len() == 32 { u32::MAX } else { (1u32 << chunk.len()) - 1 };
            unsafe { _mm512_mask_storeu_epi16(out.as_mut_ptr().add(32 * i).cast(), mask, v) };
        }
    }

    /// Rows and taps of the weight gradient's tile.
    const MC: usize = 3;
    const NK: usize = 8;

    #[inline(always)]
    unsafe fn pairs(p: *const u32) -> __m512bh {
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())) }
    }

    #[inline(always)]
    unsafe fn halves(p: *const u16) -> __m512bh {
        unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(p.cast())) }
    }

    /// # Safety
    /// The CPU runs AVX512-BF16 and the caller checked every access (`super::product`'s asserts).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn product(a: &[u32], offsets: &[usize], b: &[u32], c: &mut [f32], len: usize, panels: usize) {
        let k = offsets.len();
        let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        for t in (0..len).step_by(NV * LANES) {
            for p in 0..panels {
                unsafe {
                    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
                    let ap = a.add(p * k * MR);
                    for (kk, &off) in offsets.iter().enumerate() {
                        let bp = b.add(off + t);
                        let bv = [pairs(bp), pairs(bp.add(LANES)), pairs(bp.add(2 * LANES))];
                        let w = ap.add(kk * MR);
                        for (i, row) in acc.iter_mut().enumerate() {
                            let wi = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*w.add(i) as i32));
                            for (acc, &bv) in row.iter_mut().zip(&bv) {
                                *acc = _mm512_dpbf16_ps(*acc, wi, bv);
                            }
                        }
                    }
                    for (i, row) in acc.iter().enumerate() {
                        for (j, &v) in row.iter().enumerate() {
                            _mm512_storeu_ps(c.add((p * MR + i) * len + t + j * LANES), v);
                        }
                    }
                }
            }
        }
    }

    /// # Safety
    /// As [`product`] (`super::dots`' asserts).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn dots(
        g: &[u16],
        g_stride: usize,
        rows: usize,
        offsets: &[usize],
        b: &[u16],
        len: usize,
        d: &mut [f32],
    ) {
        let k = offsets.len();
        let vectors = len / (2 * LANES);
        for m0 in (0..rows).step_by(MC) {
            // Rows past the end repeat the last row; their sums are dropped.
            let gp: [*const u16; MC] = std::array::from_fn(|i| g[(m0 + i).min(rows - 1) * g_stride..].as_ptr());
            for k0 in (0..k).step_by(NK) {
                let bp: [*const u16; NK] = std::array::from_fn(|j| b[offsets[(k0 + j).min(k - 1)]..].as_ptr());
                let mut acc = [[_mm512_setzero_ps(); NK]; MC];
                for v in 0..vectors {
                    let at = v * 2 * LANES;
                    unsafe {
                        let mut gv = [halves(gp[0].add(at)); MC];
                        for i in 1..MC {
                            gv[i] = halves(gp[i].add(at));
                        }
                        for j in 0..NK {
                            let bv = halves(bp[j].add(at));
                            for i in 0..MC {
                                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], gv[i], bv);
                            }
                        }
                    }
                }
                for i in 0..MC.min(rows - m0) {
                    for j in 0..NK.min(k - k0) {
                        d[(m0 + i) * k + k0 + j] += _mm512_reduce_add_ps(acc[i][j]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.normal()).collect()
    }

    fn rounded(x: f32) -> f64 {
        f64::from(from_bf16(to_bf16(x)))
    }

    #[track_caller]
    fn assert_close(what: &str, got: &[f32], want: &[f64], tolerance: f64) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(g) - w).abs() <= tolerance * scale, "{what}: entry {i} is {g}, expected {w}");
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(to_bf16(-2.5), 0xc020);
        // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even 1; a hair above goes up.
        assert_eq!(to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80);
        assert_eq!(to_bf16(f32::from_bits(0x3f80_8001)), 0x3f81);
        // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ and 1 + 2·2⁻⁷: the even one is up.
        assert_eq!(to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(to_bf16(f32::MAX), 0x7f80, "the largest f32 rounds to infinity");
        assert_eq!(to_bf16(f32::INFINITY), 0x7f80);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(to_bf16(0.1), 0x3dcd, "0.1 is 0x3dcc_cccd: up");
    }

    #[test]
    fn the_vector_conversions_round_as_to_bf16_does() {
        if !Isa::bf16_available() {
            eprintln!("skipping: this CPU converts with `to_bf16` itself (no AVX512-BF16)");
            return;
        }
        // Ties both ways, infinities, NaNs with payloads, the largest finite value, subnormals, signed zeros, then
        // random values; 101 of them (a vector tail); every second value made negative.
        let special =
            [0x3f80_8000, 0x3f80_8001, 0x3f81_8000, 0x7f80_0000, 0x7fc0_0001, 0x7f80_0001, 0x7f7f_ffff, 1, 0x8000];
        let mut rng = crate::rng::Rng::new(7);
        let x: Vec<f32> = (0..101)
            .map(|i| {
                let v = special.get(i).map_or_else(|| rng.normal() * 100.0, |&b| f32::from_bits(b));
                if i % 2 == 1 { -v } else { v }
            })
            .collect();
        let mut rounded = vec![];
        extend_rounded(&mut rounded, &x);
        let want: Vec<u16> = x.iter().map(|&v| to_bf16(v)).collect();
        assert_eq!(rounded, want);
        // Channel pairs: an odd channel count (the last pair's high half zero), rows of 50 (a tail).
        let (channels, stride) = (3, 50);
        let src: Vec<f32> = x.iter().cycle().take(channels * stride).copied().collect();
        let mut pairs = vec![7];
        pair_channels(&src, channels, stride, &mut pairs, 2 * stride + 9);
        let want: Vec<u32> = (0..2 * stride)
            .map(|i| {
                let (p, q) = (i / stride, i % stride);
                let hi = if 2 * p + 1 < channels { src[(2 * p + 1) * stride + q] } else { 0.0 };
                pair(src[2 * p * stride + q], hi)
            })
            .chain([0; 9])
            .collect();
        assert_eq!(pairs, want);
    }

    /// A grid of `channels` rows and its product with a `rows × channels × taps` weight at tap shifts `shifts`,
    /// in f64 over the rounded inputs.
    struct Case {
        x: Vec<f32>,
        w: Vec<f32>,
        rows: usize,
        channels: usize,
        stride: usize,
        shifts: Vec<usize>,
        len: usize,
    }

    impl Case {
        fn new(rng: &mut Rng, rows: usize, channels: usize) -> Case {
            let (len, shifts) = (96, vec![0, 1, 2, 13, 14, 15, 26, 27, 28]);
            let stride = len + 32;
            let x = values(rng, channels * stride + 256);
            let w = values(rng, rows * channels * shifts.len());
            Case { x, w, rows, channels, stride, shifts, len }
        }

        fn weight(&self, row: usize, c: usize, t: usize) -> f32 {
            self.w[(row * self.channels + c) * self.shifts.len() + t]
        }

        fn want(&self) -> Vec<f64> {
            let taps = self.shifts.len();
            let mut out = vec![0.0; self.rows * self.len];
            for row in 0..self.rows {
                for q in 0..self.len {
                    out[row * self.len + q] = (0..self.channels)
                        .flat_map(|c| (0..taps).map(move |t| (c, t)))
                        .map(|(c, t)| {
                            rounded(self.weight(row, c, t)) * rounded(self.x[c * self.stride + self.shifts[t] + q])
                        })
                        .sum();
                }
            }
            out
        }

        fn product(&self, isa: Isa) -> Vec<f32> {
            let packed =
                pack_pair_panels(MR, self.rows, self.channels, self.shifts.len(), |r, c, t| self.weight(r, c, t));
            let pair_rows = self.channels.div_ceil(2);
            let mut pairs = vec![];
            pair_channels(&self.x, self.channels, self.stride, &mut pairs, pair_rows * self.stride + 256);
            let offsets: Vec<usize> =
                (0..pair_rows).flat_map(|p| self.shifts.iter().map(move |s| p * self.stride + s)).collect();
            let mut c = vec![0.0; self.rows.next_multiple_of(MR) * self.len];
            product(isa, &packed, &offsets, &pairs, &mut c, self.len);
            c.truncate(self.rows * self.len);
            c
        }
    }

    #[test]
    fn the_product_pairs_channels_and_rounds_its_inputs() {
        let mut rng = Rng::new(21);
        // Odd channel counts leave the last pair half empty; 11 rows leave the last panel part empty.
        for (rows, channels) in [(8, 2), (11, 3), (16, 5), (3, 1)] {
            let case = Case::new(&mut rng, rows, channels);
            let want = case.want();
            assert_close(&format!("{rows}×{channels}, plain Rust"), &case.product(Isa::Portable), &want, 1e-5);
            if Isa::bf16_available() {
                assert_close(&format!("{rows}×{channels}, AVX512-BF16"), &case.product(Isa::Avx512Bf16), &want, 1e-5);
            }
        }
    }

    #[test]
    fn the_weight_gradient_pairs_positions_and_rounds_its_inputs() {
        let mut rng = Rng::new(22);
        // 4 and 7 rows (tiles of 3), 9 and 11 taps (tiles of 8), 80 positions (rounded up to 96, the rest zero).
        for (rows, channels) in [(4, 1), (7, 2)] {
            let case = Case::new(&mut rng, rows, channels);
            let len = 80;
            let g = values(&mut rng, rows * case.stride);
            let offsets: Vec<usize> =
                (0..channels).flat_map(|c| case.shifts.iter().map(move |s| c * case.stride + s)).collect();
            let k = offsets.len();
            let mut want = vec![0.0; rows * k];
            for m in 0..rows {
                for (j, &off) in offsets.iter().enumerate() {
                    want[m * k + j] =
                        (0..len).map(|q| rounded(g[m * case.stride + q]) * rounded(case.x[off + q])).sum();
                }
            }
            let (mut g16, mut x16) = (vec![], vec![]);
            let stride = round_rows(&g, case.stride, rows, len, &mut g16);
            assert_eq!(stride, 96);
            round_all(&case.x, &mut x16);
            for isa in [Isa::Portable, Isa::Avx512Bf16] {
                if isa == Isa::Avx512Bf16 && !Isa::bf16_available() {
                    continue;
                }
                // The kernel adds to what is there.
                let mut d = vec![1.0; rows * k];
                dots(isa, &g16, stride, rows, &offsets, &x16, stride, &mut d);
                let want: Vec<f64> = want.iter().map(|w| w + 1.0).collect();
                assert_close(&format!("{rows}×{channels}, {isa:?}"), &d, &want, 1e-5);
            }
        }
    }
}
