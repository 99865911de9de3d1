//! The convolutions' dense products on AMX tiles ([`Isa::Amx`], the default on CPUs with AMX-BF16): bfloat16
//! inputs, f32 sums, as `bf16.rs` computes them with AVX512-BF16, but one `TDPBF16PS` multiplies a 16 × 32 tile by a
//! 32 × 16 one (8,192 multiply-adds, against 32 for a `VDPBF16PS`).
//!
//! A tile is up to 16 rows of 64 bytes loaded with one stride, and the products take their right-hand tile with
//! pairs of bfloat16 values along the sum (the layout `bf16.rs` calls pairs). Both products of `kernels.rs` map onto
//! that without an im2col copy:
//! - forward and input gradient, `C[m][q] = Σ_{c,t} A[m][c,t] · X[c][shift_t + q]`: the right-hand tile is 16
//!   channel pairs at one tap and 16 positions, rows one channel-pair row apart in the paired grid
//!   ([`super::bf16::pair_channels`]); the weights are packed tap by tap with channel pairs along the row ([`pack`]);
//! - weight gradient, `D[m][c,t] = Σ_q G[m][q] · X[c][shift_t + q]`, computed transposed (`D[c,t][m]`): the left-hand
//!   tile is 16 channels at one tap, 32 positions (16 pairs of neighbours), rows one grid row apart; the right-hand
//!   one is the output gradient with its positions paired and transposed ([`transpose_pairs`]).
//!
//! The tiles hold at most 2 × 2 results (four of the eight tile registers), two left and two right operands. Rows,
//! channels and positions are padded with zeros to whole tiles. Rust has no stable AMX intrinsics, so the
//! instructions are inline assembly; Linux hands out the tile registers only to a process that asks
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM)`), which [`available`] does once.

use super::bf16::pair;

/// Rows of a tile, and f32 (or bfloat16 pairs) per tile row.
const TILE: usize = 16;

/// Whether this CPU and OS run the AMX kernels: AMX-TILE and AMX-BF16 (CPUID 7.0 EDX bits 24 and 22), AVX512-BF16
/// for the rest of the bfloat16 path, and the tile data permission granted to this process. Asked once.
pub(crate) fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::OnceLock;
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            // CPUID leaf 7 exists on every CPU with AVX512-BF16 (checked first).
            let tiles = || std::arch::x86_64::__cpuid_count(7, 0).edx & (1 << 24 | 1 << 22) == 1 << 24 | 1 << 22;
            let cpu = super::simd::Isa::bf16_available() && tiles();
            // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA: 0 once the kernel lets this process use the tiles.
            // SAFETY: a plain system call with integer arguments.
            cpu && unsafe { libc::syscall(libc::SYS_arch_prctl, 0x1023, 18) } == 0
        })
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
    false
}

/// Weights packed for [`product`]: `rows` (padded to whole tiles) × `taps` × `pairs` channel pairs (padded to whole
/// groups of `group`), row-major, each value a pair of bfloat16 (channel 2p low, 2p + 1 high).
#[derive(Clone, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the x86-64 kernels only
pub(crate) struct Packed {
    data: Vec<u32>,
    pub rows: usize,
    taps: usize,
    /// Channel pairs per tap (padded), and pairs per tile along the sum: all of them up to 16, else 16.
    pub pairs: usize,
    group: usize,
}

/// Pack a `rows × (channels · taps)` weight, `get(row, channel, tap)`, for [`product`].
pub(crate) fn pack(rows: usize, channels: usize, taps: usize, get: impl Fn(usize, usize, usize) -> f32) -> Packed {
    let real_pairs = channels.div_ceil(2);
    let group = real_pairs.clamp(1, TILE);
    let pairs = real_pairs.next_multiple_of(group);
    let padded_rows = rows.next_multiple_of(TILE);
    let mut data = vec![0; padded_rows * taps * pairs];
    for row in 0..rows {
        for t in 0..taps {
            let out = &mut data[(row * taps + t) * pairs..][..real_pairs];
            for (p, o) in out.iter_mut().enumerate() {
                let hi = if 2 * p + 1 < channels { get(row, 2 * p + 1, t) } else { 0.0 };
                *o = pair(get(row, 2 * p, t), hi);
            }
        }
    }
    Packed { data, rows: padded_rows, taps, pairs, group }
}

/// `c[m·len + q] = Σ_{t, p} A[m][t][p] · b[p·stride + shifts[t] + q]` for every (padded) row of `a` and `q < len` (a
/// multiple of 16): `b` from `bf16::pair_channels` with `a.pairs` pair rows `stride` apart.
pub(crate) fn product(a: &Packed, shifts: &[usize], stride: usize, b: &[u32], c: &mut [f32], len: usize) {
    assert!(shifts.len() == a.taps && len.is_multiple_of(TILE) && c.len() >= a.rows * len);
    let reach = (a.pairs - 1) * stride + shifts.iter().max().copied().unwrap_or(0) + len;
    assert!(a.pairs > 0 && reach <= b.len(), "AMX product reads past its input");
    assert!(available(), "AMX product on a CPU without AMX");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the asserts bound every tile read and write; the CPU runs AMX and the process may use it.
    unsafe {
        x86::product(a, shifts, stride, b, c, len)
    };
}

/// The output gradient `g` (`rows` rows of `len` values, `g_stride` apart) as right-hand tiles of the weight
/// gradient: `out[i·rows_pad + m]` pairs positions 2i and 2i + 1 of row m (zero past `len` and `rows`), for `i` up
/// to `len` rounded up to 32, over half. Returns `rows_pad` (rows rounded up to 16).
pub(crate) fn transpose_pairs(g: &[f32], g_stride: usize, rows: usize, len: usize, out: &mut Vec<u32>) -> usize {
    let rows_pad = rows.next_multiple_of(TILE);
    let pairs = len.next_multiple_of(2 * TILE) / 2;
    assert!(rows == 0 || (rows - 1) * g_stride + len <= g.len());
    assert!(available(), "AMX transposition on a CPU without AMX");
    out.clear();
    out.reserve(pairs * rows_pad);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AMX implies AVX-512 F and BW; the assert bounds the rows read, and the kernel writes all
    // `pairs · rows_pad` values.
    unsafe {
        x86::transpose_pairs(g, g_stride, rows, len, &mut out.spare_capacity_mut()[..pairs * rows_pad], rows_pad);
        out.set_len(pairs * rows_pad);
    }
    rows_pad
}

/// `src` (`channels` grid rows `stride` apart) rounded to bfloat16, zero-padded to whole tiles of channels and 64
/// values past the last row: the left-hand operand of [`weight_gradient`].
pub(crate) fn round_grid(src: &[f32], channels: usize, stride: usize, out: &mut Vec<u16>) {
    let len = channels.next_multiple_of(TILE) * stride + 4 * TILE;
    let real = (channels * stride).min(src.len());
    out.clear();
    super::bf16::extend_rounded(out, &src[..real]);
    out.resize(len, 0);
}

/// `d[m·channels·taps + c·taps + t] += Σ_q G[m][q] · X[c][shifts[t] + q]` for `m < rows`, `c < channels`: `x` from
/// [`round_grid`] (rows `stride` apart), `gt` from [`transpose_pairs`] (`rows_pad` columns, `len` positions rounded
/// up to 32).
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_gradient(
    x: &[u16],
    channels: usize,
    stride: usize,
    shifts: &[usize],
    gt: &[u32],
    rows: usize,
    rows_pad: usize,
    d: &mut [f32],
) {
    let taps = shifts.len();
    let channels_pad = channels.next_multiple_of(TILE);
    let positions = 2 * gt.len() / rows_pad.max(1);
    assert!(rows_pad.is_multiple_of(TILE) && rows <= rows_pad && positions.is_multiple_of(2 * TILE));
    assert!(d.len() >= rows * channels * taps);
    let reach = (channels_pad - 1) * stride + shifts.iter().max().copied().unwrap_or(0) + positions;
    assert!(reach <= x.len(), "AMX weight gradient reads past its input");
    assert!(available(), "AMX weight gradient on a CPU without AMX");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `product`.
    unsafe {
        x86::weight_gradient(x, channels, stride, shifts, gt, rows, rows_pad, positions, d)
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Packed, TILE};
    use crate::cpu::bf16::x86::neighbour_pairs;
    use std::arch::asm;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// See `super::transpose_pairs`: blocks of 16 rows × 16 pairs, each row's 32 positions rounded and paired in
    /// one vector, the 16 vectors transposed.
    ///
    /// # Safety
    /// The CPU runs AVX-512 F and BW; rows `0..rows` of `g` have `len` values; `out` holds `pairs · rows_pad`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transpose_pairs(
        g: &[f32],
        g_stride: usize,
        rows: usize,
        len: usize,
        out: &mut [MaybeUninit<u32>],
        rows_pad: usize,
    ) {
        let pairs = out.len() / rows_pad;
        for m0 in (0..rows_pad).step_by(TILE) {
            for i0 in (0..pairs).step_by(TILE) {
                let q0 = 2 * i0;
                let mut v: [__m512i; TILE] = std::array::from_fn(|r| {
                    let m = m0 + r;
                    if m < rows {
                        neighbour_pairs(&g[m * g_stride + q0..m * g_stride + len])
                    } else {
                        _mm512_setzero_si512()
                    }
                });
                transpose(&mut v);
                for (j, v) in v.iter().enumerate() {
                    // SAFETY: pair i0 + j's 16 rows from m0 lie inside `out` (`rows_pad` a multiple of 16).
                    unsafe { _mm512_storeu_si512(out.as_mut_ptr().add((i0 + j) * rows_pad + m0).cast(), *v) };
                }
            }
        }
    }

    /// Transpose 16 × 16 lanes of 32 bits: lane j of vector i goes to lane i of vector j.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: &mut [__m512i; TILE]) {
        // Pairs of rows interleaved, then quadruples: u[4k + j] holds, in its 128-bit lane l, column 4l + j of
        // rows 4k..4k + 4.
        let t: [__m512i; TILE] = std::array::from_fn(|i| {
            let (a, b) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 { _mm512_unpacklo_epi32(a, b) } else { _mm512_unpackhi_epi32(a, b) }
        });
        let u: [__m512i; TILE] = std::array::from_fn(|i| {
            let (k, j) = (i / 4, i % 4);
            let (a, b) = (t[4 * k + j / 2], t[4 * k + j / 2 + 2]);
            if j % 2 == 0 { _mm512_unpacklo_epi64(a, b) } else { _mm512_unpackhi_epi64(a, b) }
        });
        // Then the 4 × 4 blocks of 128-bit lanes: column 4l + j is lane l of u[j], u[4 + j], u[8 + j], u[12 + j].
        for j in 0..4 {
            let s0 = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
            let s1 = _mm512_shuffle_i32x4::<0xee>(u[j], u[4 + j]);
            let s2 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
            let s3 = _mm512_shuffle_i32x4::<0xee>(u[8 + j], u[12 + j]);
            r[j] = _mm512_shuffle_i32x4::<0x88>(s0, s2);
            r[4 + j] = _mm512_shuffle_i32x4::<0xdd>(s0, s2);
            r[8 + j] = _mm512_shuffle_i32x4::<0x88>(s1, s3);
            r[12 + j] = _mm512_shuffle_i32x4::<0xdd>(s1, s3);
        }
    }

    /// The tile configuration `LDTILECFG` reads: palette 1; tiles 0–3 the results (16 rows × 64 bytes), 4–5 the
    /// left operands (16 rows × `left_bytes`), 6–7 the right ones (`right_rows` × 64 bytes).
    #[repr(C, align(64))]
    struct Config([u8; 64]);

    impl Config {
        fn new(left_bytes: usize, right_rows: usize) -> Config {
            let mut c = [0u8; 64];
            c[0] = 1;
            for tile in 0..8 {
                let (rows, bytes) = match tile {
                    0..4 => (TILE, 64),
                    4 | 5 => (TILE, left_bytes),
                    _ => (right_rows, 64),
                };
                c[16 + 2 * tile..][..2].copy_from_slice(&(bytes as u16).to_le_bytes());
                c[48 + tile] = rows as u8;
            }
            Config(c)
        }

        /// # Safety
        /// The CPU runs AMX and the process may use it.
        unsafe fn load(&self) {
            unsafe { asm!("ldtilecfg [{}]", in(reg) self.0.as_ptr(), options(nostack, readonly)) };
        }
    }

    /// # Safety
    /// After [`Config::load`].
    #[inline(always)]
    unsafe fn release() {
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    #[inline(always)]
    unsafe fn zero<const T: u8>() {
        unsafe { asm!("tilezero tmm{t}", t = const T, options(nostack, nomem)) };
    }

    /// Tile `T` from rows `stride` bytes apart at `p`.
    #[inline(always)]
    unsafe fn load<const T: u8>(p: *const u8, stride: usize) {
        unsafe {
            asm!("tileloadd tmm{t}, [{p} + {s}*1]", t = const T, p = in(reg) p, s = in(reg) stride,
            options(nostack, readonly))
        };
    }

    #[inline(always)]
    unsafe fn store<const T: u8>(p: *mut u8, stride: usize) {
        unsafe {
            asm!("tilestored [{p} + {s}*1], tmm{t}", t = const T, p = in(reg) p, s = in(reg) stride,
            options(nostack))
        };
    }

    /// Tile `C` += tile `A` · tile `B`.
    #[inline(always)]
    unsafe fn dot<const C: u8, const A: u8, const B: u8>() {
        unsafe {
            asm!("tdpbf16ps tmm{c}, tmm{a}, tmm{b}", c = const C, a = const A, b = const B,
            options(nostack, nomem))
        };
    }

    /// Up to 2 × 2 result tiles: `MT` left operands (tiles 4, 5) against `NT` right ones (6, 7), into tiles
    /// `2i + j`; `left(i)` and `right(j)` give each step's operand addresses, `steps` of them.
    #[inline(always)]
    unsafe fn block<const MT: usize, const NT: usize>(
        steps: usize,
        left: impl Fn(usize, usize) -> *const u8,
        left_stride: usize,
        right: impl Fn(usize, usize) -> *const u8,
        right_stride: usize,
    ) {
        unsafe {
            zero::<0>();
            if NT == 2 {
                zero::<1>();
            }
            if MT == 2 {
                zero::<2>();
                if NT == 2 {
                    zero::<3>();
                }
            }
            for s in 0..steps {
                load::<4>(left(s, 0), left_stride);
                load::<6>(right(s, 0), right_stride);
                dot::<0, 4, 6>();
                if NT == 2 {
                    load::<7>(right(s, 1), right_stride);
                    dot::<1, 4, 7>();
                }
                if MT == 2 {
                    load::<5>(left(s, 1), left_stride);
                    dot::<2, 5, 6>();
                    if NT == 2 {
                        dot::<3, 5, 7>();
                    }
                }
            }
        }
    }

    /// Store result tile `2i + j` at `at(i, j)`, rows `stride` bytes apart.
    #[inline(always)]
    unsafe fn store_block(mt: usize, nt: usize, at: impl Fn(usize, usize) -> *mut u8, stride: usize) {
        unsafe {
            store::<0>(at(0, 0), stride);
            if nt == 2 {
                store::<1>(at(0, 1), stride);
            }
            if mt == 2 {
                store::<2>(at(1, 0), stride);
                if nt == 2 {
                    store::<3>(at(1, 1), stride);
                }
            }
        }
    }

    /// Run `block::<mt, nt>` for the runtime tile counts.
    macro_rules! by_counts {
        ($mt:expr, $nt:expr, $($args:expr),*) => {
            match ($mt, $nt) {
                (2, 2) => block::<2, 2>($($args),*),
                (2, _) => block::<2, 1>($($args),*),
                (_, 2) => block::<1, 2>($($args),*),
                _ => block::<1, 1>($($args),*),
            }
        };
    }

    /// See `super::product`.
    pub(super) unsafe fn product(a: &Packed, shifts: &[usize], stride: usize, b: &[u32], c: &mut [f32], len: usize) {
        let row_bytes = a.taps * a.pairs * 4;
        let groups = a.pairs / a.group;
        let steps = a.taps * groups;
        let (ap, bp, cp) = (a.data.as_ptr().cast::<u8>(), b.as_ptr().cast::<u8>(), c.as_mut_ptr().cast::<u8>());
        unsafe {
            Config::new(a.group * 4, a.group).load();
            for n0 in (0..len).step_by(2 * TILE) {
                let nt = ((len - n0) / TILE).min(2);
                for m0 in (0..a.rows).step_by(2 * TILE) {
                    let mt = ((a.rows - m0) / TILE).min(2);
                    // Step s: tap s / groups, channel pairs of group s % groups.
                    let left = |s: usize, i: usize| {
                        let column = (s / groups) * a.pairs + (s % groups) * a.group;
                        ap.add((m0 + i * TILE) * row_bytes + column * 4)
                    };
                    let right = |s: usize, j: usize| {
                        let at = (s % groups) * a.group * stride + shifts[s / groups] + n0 + j * TILE;
                        bp.add(at * 4)
                    };
                    by_counts!(mt, nt, steps, left, row_bytes, right, stride * 4);
                    let out = |i: usize, j: usize| cp.add(((m0 + i * TILE) * len + n0 + j * TILE) * 4);
                    store_block(mt, nt, out, len * 4);
                }
            }
            release();
        }
    }

    /// See `super::weight_gradient`.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn weight_gradient(
        x: &[u16],
        channels: usize,
        stride: usize,
        shifts: &[usize],
        gt: &[u32],
        rows: usize,
        rows_pad: usize,
        positions: usize,
        d: &mut [f32],
    ) {
        let taps = shifts.len();
        let channels_pad = channels.next_multiple_of(TILE);
        let steps = positions / (2 * TILE);
        let (xp, gp) = (x.as_ptr().cast::<u8>(), gt.as_ptr().cast::<u8>());
        // The four result tiles, 16 × 16 each, as stored for adding into `d`.
        let mut tiles = [0f32; 4 * TILE * TILE];
        let tp = tiles.as_mut_ptr();
        unsafe {
            Config::new(64, TILE).load();
            for (t, &shift) in shifts.iter().enumerate() {
                for c0 in (0..channels_pad).step_by(2 * TILE) {
                    let ct = ((channels_pad - c0) / TILE).min(2);
                    for m0 in (0..rows_pad).step_by(2 * TILE) {
                        let mt = ((rows_pad - m0) / TILE).min(2);
                        // Step s: positions 32s..32s + 32; left i: channels c0 + 16i.., right j: rows m0 + 16j...
                        let left = |s: usize, i: usize| xp.add(((c0 + i * TILE) * stride + shift + s * 2 * TILE) * 2);
                        let right = |s: usize, j: usize| gp.add((s * TILE * rows_pad + m0 + j * TILE) * 4);
                        by_counts!(ct, mt, steps, left, stride * 2, right, rows_pad * 4);
                        let out = |i: usize, j: usize| tp.add((2 * i + j) * TILE * TILE).cast::<u8>();
                        store_block(ct, mt, out, TILE * 4);
                        for i in 0..ct {
                            for j in 0..mt {
                                let tile = std::slice::from_raw_parts(tp.add((2 * i + j) * TILE * TILE), TILE * TILE);
                                for (ci, sums) in tile.chunks_exact(TILE).enumerate() {
                                    let ch = c0 + i * TILE + ci;
                                    if ch >= channels {
                                        break;
                                    }
                                    for (mi, &v) in sums.iter().enumerate() {
                                        let m = m0 + j * TILE + mi;
                                        if m >= rows {
                                            break;
                                        }
                                        d[(m * channels + ch) * taps + t] += v;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::bf16::to_bf16;
    use crate::rng::Rng;

    fn rounded(x: f32) -> f64 {
        f64::from(f32::from_bits(u32::from(to_bf16(x)) << 16))
    }

    #[track_caller]
    fn assert_close(what: &str, got: &[f32], want: &[f64]) {
        let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((f64::from(g) - w).abs() <= 1e-5 * scale, "{what}: entry {i} is {g}, expected {w}");
        }
    }

    /// A grid of `channels` rows `stride` apart, a `rows × channels × taps` weight and an output gradient.
    struct Case {
        channels: usize,
        shifts: Vec<usize>,
        stride: usize,
        x: Vec<f32>,
        w: Vec<f32>,
    }

    impl Case {
        fn new(rng: &mut Rng, rows: usize, channels: usize, len: usize) -> Case {
            let shifts = vec![0, 1, 2, 13, 14, 15, 26, 27, 28];
            let stride = len + 32;
            let x = (0..channels * stride).map(|_| rng.normal()).collect();
            let w = (0..rows * channels * shifts.len()).map(|_| rng.normal()).collect();
            Case { channels, shifts, stride, x, w }
        }

        fn weight(&self, row: usize, c: usize, t: usize) -> f32 {
            self.w[(row * self.channels + c) * self.shifts.len() + t]
        }
    }

    /// Whether the kernels run on this machine; says so on stderr where they do not.
    fn runs_here() -> bool {
        if !available() {
            eprintln!("skipping: this CPU or OS does not run AMX (the conv tests cover the other sets)");
        }
        available()
    }

    #[test]
    fn the_product_on_tiles_matches_the_rounded_inputs_product() {
        if !runs_here() {
            return;
        }
        let mut rng = Rng::new(31);
        // Rows past whole tiles and tile pairs; 1, 12 and 20 channel pairs (a group of 16 and a padded one); 48 and
        // 96 positions (one and three pairs of 16-position tiles).
        for (rows, channels, len) in [(16, 2, 48), (11, 3, 96), (40, 24, 48), (33, 40, 96)] {
            let case = Case::new(&mut rng, rows, channels, len);
            let taps = case.shifts.len();
            let packed = pack(rows, channels, taps, |r, c, t| case.weight(r, c, t));
            let mut pairs = vec![];
            crate::cpu::bf16::pair_channels(&case.x, channels, case.stride, &mut pairs, packed.pairs * case.stride);
            let mut c = vec![f32::NAN; packed.rows * len];
            product(&packed, &case.shifts, case.stride, &pairs, &mut c, len);
            let mut want = vec![0.0; rows * len];
            for (row, out) in want.chunks_exact_mut(len).enumerate() {
                for (q, o) in out.iter_mut().enumerate() {
                    *o = (0..channels)
                        .flat_map(|ch| (0..taps).map(move |t| (ch, t)))
                        .map(|(ch, t)| {
                            rounded(case.weight(row, ch, t)) * rounded(case.x[ch * case.stride + case.shifts[t] + q])
                        })
                        .sum();
                }
            }
            assert_close(&format!("{rows}×{channels}×{len}"), &c[..rows * len], &want);
            assert!(c[rows * len..].iter().all(|&v| v == 0.0), "padded rows are zero");
        }
    }

    #[test]
    fn the_weight_gradient_on_tiles_matches_the_rounded_inputs_sums() {
        if !runs_here() {
            return;
        }
        let mut rng = Rng::new(32);
        // Rows and channels past whole tiles and tile pairs; 48 positions (rounded up to 64, the rest zero). The
        // buffers are reused, as the training's are, so that a later case finds them longer than it needs.
        let (mut gt, mut x16) = (vec![], vec![]);
        for (rows, channels, len) in [(16, 16, 64), (11, 3, 48), (40, 24, 96), (5, 33, 48)] {
            let case = Case::new(&mut rng, rows, channels, len);
            let taps = case.shifts.len();
            let g: Vec<f32> = (0..rows * case.stride).map(|_| rng.normal()).collect();
            let rows_pad = transpose_pairs(&g, case.stride, rows, len, &mut gt);
            round_grid(&case.x, channels, case.stride, &mut x16);
            // The kernel adds to what is there.
            let mut d = vec![1.0; rows * channels * taps];
            weight_gradient(&x16, channels, case.stride, &case.shifts, &gt, rows, rows_pad, &mut d);
            let mut want = vec![0.0; d.len()];
            for m in 0..rows {
                for ch in 0..channels {
                    for (t, &shift) in case.shifts.iter().enumerate() {
                        want[(m * channels + ch) * taps + t] = 1.0
                            + (0..len)
                                .map(|q| {
                                    rounded(g[m * case.stride + q]) * rounded(case.x[ch * case.stride + shift + q])
                                })
                                .sum::<f64>();
                    }
                }
            }
            assert_close(&format!("{rows}×{channels}×{len}"), &d, &want);
        }
    }
}
