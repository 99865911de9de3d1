//! The vector instructions the CPU kernels are written in, chosen once at run time.
//!
//! Kernels are generic over [`Simd`] and instantiated per instruction set inside a `#[target_feature]` wrapper
//! ([`isa_dispatch!`]): every method here is `#[inline(always)]`, so the intrinsics inline into code compiled for
//! AVX-512 or AVX2 while the binary itself targets baseline x86-64 (and still runs where neither exists).
//! [`Portable`] is plain Rust over 8-lane arrays: the other architectures and wasm32 use it (LLVM vectorises it
//! where it can).

use std::cell::Cell;

/// One SIMD width: lanes of f32, loads, stores and arithmetic.
pub(crate) trait Simd: Copy {
    const LANES: usize;
    type V: Copy;
    fn zero() -> Self::V;
    fn splat(x: f32) -> Self::V;
    /// # Safety
    /// `p..p + LANES` must be readable.
    unsafe fn load(p: *const f32) -> Self::V;
    /// # Safety
    /// `p..p + LANES` must be writable.
    unsafe fn store(p: *mut f32, v: Self::V);
    /// `a * b + c`.
    fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn add(a: Self::V, b: Self::V) -> Self::V;
    fn sub(a: Self::V, b: Self::V) -> Self::V;
    fn mul(a: Self::V, b: Self::V) -> Self::V;
    fn div(a: Self::V, b: Self::V) -> Self::V;
    fn max(a: Self::V, b: Self::V) -> Self::V;
    fn min(a: Self::V, b: Self::V) -> Self::V;
    /// Round to the nearest integer (ties to even).
    fn round(a: Self::V) -> Self::V;
    /// 2ⁿ for integral `n` in [-126, 127].
    fn pow2(n: Self::V) -> Self::V;
    /// Lanes where `a > b` keep `x`, the others get `y`.
    fn select_gt(a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// The sum of the lanes.
    fn hsum(v: Self::V) -> f32;
    /// The sums of the lanes of four vectors (cheaper than four [`Simd::hsum`] where lanes can be shuffled).
    #[inline(always)]
    fn hsum4(v: [Self::V; 4]) -> [f32; 4] {
        v.map(Self::hsum)
    }
}

thread_local! {
    /// Set while an [`Isa::f32_products`] guard lives on this thread.
    static F32_PRODUCTS: Cell<bool> = const { Cell::new(false) };
}

/// The guard of [`Isa::f32_products`].
#[must_use = "f32 products last only while the guard lives"]
pub struct F32Products {
    before: bool,
}

impl Drop for F32Products {
    fn drop(&mut self) {
        F32_PRODUCTS.set(self.before);
    }
}

/// The instruction sets the kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 with AVX-512 (F, VL, DQ, BW: every AVX-512 CPU since 2017): 16 lanes, 32 registers.
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 lanes, 16 registers.
    Avx2,
    /// Anything else (plain Rust).
    Portable,
    /// AVX-512 with the convolutions' dense products in bfloat16 (AVX512-BF16, `bf16.rs`): inputs rounded to 8
    /// significant bits, sums in f32, as GPUs train airbench in half precision. The default where the CPU has it
    /// but not AMX (`TICKETLAB_CPU_ISA=avx512` keeps f32 products): its results differ from the f32 kernels' by that
    /// rounding.
    Avx512Bf16,
    /// [`Isa::Avx512Bf16`] with the convolutions' dense products on AMX tiles (AMX-BF16, `amx.rs`): the same
    /// rounding of the inputs, the sums in another order. The default where the CPU and OS run it
    /// (`TICKETLAB_CPU_ISA=avx512-bf16` keeps the vector products).
    Amx,
}

impl Isa {
    /// The best instruction set this CPU runs, detected once: bfloat16 products where it has AVX512-BF16, on AMX
    /// tiles where it has those too. `TICKETLAB_CPU_ISA` caps it: `avx512-bf16` keeps the products on vectors,
    /// `avx512` keeps them in f32 (the kernels' results before bfloat16 became the default), `avx2` and `portable`
    /// measure or test the fallbacks; `amx` names the best. A value this CPU cannot run, or none of these, is said
    /// on stderr and the best available set is used.
    pub fn detect() -> Isa {
        use std::sync::OnceLock;
        static ISA: OnceLock<Isa> = OnceLock::new();
        let isa = *ISA.get_or_init(|| {
            let var = std::env::var("TICKETLAB_CPU_ISA").ok();
            let products = Self::products_available();
            let (isa, note) = Self::choose(var.as_deref(), Self::best_available(), products);
            if let Some(note) = note {
                eprintln!("note: {note}");
            }
            isa
        });
        if isa.bf16() && F32_PRODUCTS.with(Cell::get) { Isa::Avx512 } else { isa }
    }

    /// f32 products on this thread, where [`Isa::detect`] would pick bfloat16 ones, until the guard drops: for
    /// comparisons with f32 references (the tests that hold the kernels, and the CPU backend's training, to burn's
    /// and wgpu's results). The kernels read the set on the thread that calls them, so the guard covers what this
    /// thread runs, backward passes included.
    pub fn f32_products() -> F32Products {
        F32Products { before: F32_PRODUCTS.replace(true) }
    }

    /// The set [`Isa::detect`] picks for `TICKETLAB_CPU_ISA=var` on a CPU whose best f32 set is `best` and whose
    /// best bfloat16 set is `products` (if any), and a note when the request cannot be met.
    fn choose(var: Option<&str>, best: Isa, products: Option<Isa>) -> (Isa, Option<String>) {
        let default = products.unwrap_or(best);
        let requested = match var {
            None | Some("") => return (default, None),
            Some("amx") => Isa::Amx,
            Some("avx512-bf16") => Isa::Avx512Bf16,
            Some("avx512") => Isa::Avx512,
            Some("avx2") => Isa::Avx2,
            Some("portable") => return (Isa::Portable, None),
            Some(other) => {
                let note = format!(
                    "TICKETLAB_CPU_ISA={other} is not one of amx, avx512-bf16, avx512, avx2, portable; using \
                     {default:?}"
                );
                return (default, Some(note));
            }
        };
        let runs = match requested {
            Isa::Amx => products == Some(Isa::Amx),
            Isa::Avx512Bf16 => products.is_some(),
            Isa::Avx512 => best == Isa::Avx512,
            _ => best != Isa::Portable,
        };
        if runs {
            (requested, None)
        } else {
            (default, Some(format!("this CPU cannot run {requested:?} kernels (TICKETLAB_CPU_ISA); using {default:?}")))
        }
    }

    /// Whether this set multiplies the convolutions' dense products in bfloat16.
    pub fn bf16(self) -> bool {
        matches!(self, Isa::Avx512Bf16 | Isa::Amx)
    }

    /// The best set with bfloat16 products this CPU runs: [`Isa::Amx`], [`Isa::Avx512Bf16`] or none.
    pub fn products_available() -> Option<Isa> {
        match (Self::bf16_available(), super::amx::available()) {
            (true, true) => Some(Isa::Amx),
            (true, false) => Some(Isa::Avx512Bf16),
            _ => None,
        }
    }

    /// Every set with bfloat16 products this CPU runs (what the tests hold to f32 results with one tolerance).
    pub fn bf16_sets() -> Vec<Isa> {
        match Self::products_available() {
            Some(Isa::Amx) => vec![Isa::Avx512Bf16, Isa::Amx],
            Some(isa) => vec![isa],
            None => vec![],
        }
    }

    /// Whether this CPU runs [`Isa::Avx512Bf16`].
    pub fn bf16_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        if Self::best_available() == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512bf16") {
            return true;
        }
        false
    }

    fn best_available() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512bw");
            if avx512 {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every instruction set this CPU can run with f32 products (what the tests compare with one tolerance).
    pub fn available() -> Vec<Isa> {
        let best = Self::best_available();
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|&i| match best {
                Isa::Avx512 | Isa::Avx512Bf16 | Isa::Amx => true,
                Isa::Avx2 => i != Isa::Avx512,
                Isa::Portable => i == Isa::Portable,
            })
            .collect()
    }
}

/// Define `$vis fn $name(isa: Isa, args…)` that runs `$generic::<S, consts…>(args…)` for the given instruction set,
/// compiled with its target features. Each arm names the const generic parameters used for that set.
macro_rules! isa_dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? =>
            $generic:ident { avx512: [$($c512:expr),*], avx2: [$($c256:expr),*], portable: [$($cp:expr),*] }
    ) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name(isa: $crate::cpu::simd::Isa, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $generic::<$crate::cpu::simd::Avx512, $($c512),*>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic::<$crate::cpu::simd::Avx2, $($c256),*>($($arg),*)
                }
                match isa {
                    // SAFETY: `Isa::detect` / `Isa::available` only return a set this CPU runs.
                    $crate::cpu::simd::Isa::Avx512
                    | $crate::cpu::simd::Isa::Avx512Bf16
                    | $crate::cpu::simd::Isa::Amx => {
                        return unsafe { avx512($($arg),*) };
                    }
                    $crate::cpu::simd::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::simd::Isa::Portable => {}
                }
            }
            let _ = isa;
            $generic::<$crate::cpu::simd::Portable, $($cp),*>($($arg),*)
        }
    };
}
pub(crate) use isa_dispatch;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Simd;
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub struct Avx512;

    // SAFETY (all methods): only called from code compiled with `avx512f` enabled (see `isa_dispatch!`).
    impl Simd for Avx512 {
        const LANES: usize = 16;
        type V = __m512;
        #[inline(always)]
        fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        fn div(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_div_ps(a, b) }
        }
        #[inline(always)]
        fn max(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_max_ps(a, b) }
        }
        #[inline(always)]
        fn min(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_min_ps(a, b) }
        }
        #[inline(always)]
        fn round(a: __m512) -> __m512 {
            unsafe { _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
        }
        #[inline(always)]
        fn pow2(n: __m512) -> __m512 {
            unsafe {
                let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)));
                _mm512_castsi512_ps(bits)
            }
        }
        #[inline(always)]
        fn select_gt(a: __m512, b: __m512, x: __m512, y: __m512) -> __m512 {
            unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b), y, x) }
        }
        #[inline(always)]
        fn hsum(v: __m512) -> f32 {
            unsafe { _mm512_reduce_add_ps(v) }
        }
        #[inline(always)]
        fn hsum4([a, b, c, d]: [__m512; 4]) -> [f32; 4] {
            unsafe {
                // Per 128-bit block: pairwise sums interleaved, then (a, b, c, d) partial sums; then add the blocks.
                let ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
                let cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
                let abcd = _mm512_add_ps(_mm512_shuffle_ps::<0x44>(ab, cd), _mm512_shuffle_ps::<0xEE>(ab, cd));
                let half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps::<1>(abcd));
                let quarter = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps::<1>(half));
                let mut out = [0.0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), quarter);
                out
            }
        }
    }

    #[derive(Clone, Copy)]
    pub struct Avx2;

    // SAFETY (all methods): only called from code compiled with `avx2` and `fma` enabled.
    impl Simd for Avx2 {
        const LANES: usize = 8;
        type V = __m256;
        #[inline(always)]
        fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn splat(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn div(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        fn max(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_max_ps(a, b) }
        }
        #[inline(always)]
        fn min(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_min_ps(a, b) }
        }
        #[inline(always)]
        fn round(a: __m256) -> __m256 {
            unsafe { _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
        }
        #[inline(always)]
        fn pow2(n: __m256) -> __m256 {
            unsafe {
                let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
                _mm256_castsi256_ps(bits)
            }
        }
        #[inline(always)]
        fn select_gt(a: __m256, b: __m256, x: __m256, y: __m256) -> __m256 {
            unsafe { _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_GT_OQ>(a, b)) }
        }
        #[inline(always)]
        fn hsum(v: __m256) -> f32 {
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
                _mm_cvtss_f32(s)
            }
        }
        #[inline(always)]
        fn hsum4([a, b, c, d]: [__m256; 4]) -> [f32; 4] {
            unsafe {
                let ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
                let cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
                let abcd = _mm256_add_ps(_mm256_shuffle_ps::<0x44>(ab, cd), _mm256_shuffle_ps::<0xEE>(ab, cd));
                let quarter = _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps::<1>(abcd));
                let mut out = [0.0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), quarter);
                out
            }
        }
    }
}
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

/// Plain Rust over 8 lanes.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Simd for Portable {
    const LANES: usize = 8;
    type V = [f32; 8];
    #[inline(always)]
    fn zero() -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    fn splat(x: f32) -> [f32; 8] {
        [x; 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> [f32; 8] {
        unsafe { p.cast::<[f32; 8]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: [f32; 8]) {
        unsafe { p.cast::<[f32; 8]>().write_unaligned(v) }
    }
    #[inline(always)]
    fn fma(a: [f32; 8], b: [f32; 8], c: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn add(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sub(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn mul(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    fn div(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i] / b[i])
    }
    #[inline(always)]
    fn max(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i].max(b[i]))
    }
    #[inline(always)]
    fn min(a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| a[i].min(b[i]))
    }
    #[inline(always)]
    fn round(a: [f32; 8]) -> [f32; 8] {
        a.map(f32::round_ties_even)
    }
    #[inline(always)]
    fn pow2(n: [f32; 8]) -> [f32; 8] {
        n.map(Scalar::pow2)
    }
    #[inline(always)]
    fn select_gt(a: [f32; 8], b: [f32; 8], x: [f32; 8], y: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|i| if a[i] > b[i] { x[i] } else { y[i] })
    }
    #[inline(always)]
    fn hsum(v: [f32; 8]) -> f32 {
        v.iter().sum()
    }
}

/// One lane: the tails of rows whose length is not a multiple of a vector.
#[derive(Clone, Copy)]
pub(crate) struct Scalar;

impl Simd for Scalar {
    const LANES: usize = 1;
    type V = f32;
    #[inline(always)]
    fn zero() -> f32 {
        0.0
    }
    #[inline(always)]
    fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        unsafe { *p = v }
    }
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn max(a: f32, b: f32) -> f32 {
        a.max(b)
    }
    #[inline(always)]
    fn min(a: f32, b: f32) -> f32 {
        a.min(b)
    }
    #[inline(always)]
    fn round(a: f32) -> f32 {
        a.round_ties_even()
    }
    #[inline(always)]
    fn pow2(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) << 23) as u32)
    }
    #[inline(always)]
    fn select_gt(a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a > b { x } else { y }
    }
    #[inline(always)]
    fn hsum(v: f32) -> f32 {
        v
    }
}

/// eˣ for every lane (Cephes' single-precision method: a degree-5 polynomial on x − n·ln 2, times 2ⁿ; relative
/// error below 1e-7), the argument clamped to [−87, 88] so the result stays a normal float.
#[inline(always)]
pub(crate) fn exp<S: Simd>(x: S::V) -> S::V {
    let x = S::min(S::max(x, S::splat(-87.0)), S::splat(88.0));
    let n = S::round(S::mul(x, S::splat(std::f32::consts::LOG2_E)));
    let r = S::fma(n, S::splat(-0.693_359_4), x);
    let r = S::fma(n, S::splat(2.121_944_4e-4), r);
    let mut p = S::splat(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = S::fma(p, r, S::splat(c));
    }
    let p = S::fma(S::mul(p, r), r, S::add(r, S::splat(1.0)));
    S::mul(p, S::pow2(n))
}

/// erf(x) for every lane: a rational approximation on [−4, 4] (odd degree-13 numerator, even degree-8
/// denominator; Eigen's and TensorFlow's single-precision coefficients), ±1 beyond; absolute error below 5e-7.
#[inline(always)]
pub(crate) fn erf<S: Simd>(x: S::V) -> S::V {
    let x = S::min(S::max(x, S::splat(-4.0)), S::splat(4.0));
    let x2 = S::mul(x, x);
    let mut p = S::splat(-2.726_142_3e-10);
    for c in [2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_600_1e-3, -1.609_603_3e-2] {
        p = S::fma(p, x2, S::splat(c));
    }
    let p = S::mul(p, x);
    let mut q = S::splat(-1.456_607_2e-5);
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329_4e-3, -1.426_473_9e-2] {
        q = S::fma(q, x2, S::splat(c));
    }
    S::div(p, q)
}

#[cfg(test)]
mod tests {
    use super::Isa::{self, *};

    #[test]
    fn the_default_is_the_fastest_set_and_a_request_the_cpu_cannot_run_falls_back_with_a_note() {
        let choose = |var, best, products| Isa::choose(var, best, products);
        // Unset: AMX products where the CPU has them, else AVX512-BF16 ones, else its best f32 set.
        assert_eq!(choose(None, Avx512, Some(Amx)), (Amx, None));
        assert_eq!(choose(None, Avx512, Some(Avx512Bf16)), (Avx512Bf16, None));
        assert_eq!(choose(None, Avx512, None), (Avx512, None));
        assert_eq!(choose(Some(""), Avx2, None), (Avx2, None));
        // Vector bfloat16 or f32 products on a CPU with AMX, and the lesser sets.
        assert_eq!(choose(Some("avx512-bf16"), Avx512, Some(Amx)), (Avx512Bf16, None));
        assert_eq!(choose(Some("avx512"), Avx512, Some(Amx)), (Avx512, None));
        assert_eq!(choose(Some("avx2"), Avx512, Some(Avx512Bf16)), (Avx2, None));
        assert_eq!(choose(Some("portable"), Avx2, None), (Portable, None));
        // What the CPU cannot run, and what is not a set, fall back to the default and say so.
        let (isa, note) = choose(Some("amx"), Avx512, Some(Avx512Bf16));
        assert_eq!(isa, Avx512Bf16);
        assert!(note.unwrap().contains("cannot run Amx"));
        let (isa, note) = choose(Some("avx512-bf16"), Avx2, None);
        assert_eq!(isa, Avx2);
        assert!(note.unwrap().contains("cannot run Avx512Bf16"));
        let (isa, note) = choose(Some("avx512"), Avx2, None);
        assert_eq!(isa, Avx2);
        assert!(note.is_some());
        let (isa, note) = choose(Some("avx-512"), Avx512, Some(Avx512Bf16));
        assert_eq!(isa, Avx512Bf16);
        assert!(note.unwrap().contains("avx-512 is not one of"));
    }

    #[test]
    fn the_f32_guard_swaps_bfloat16_products_for_f32_on_its_thread_while_it_lives() {
        let outside = Isa::detect();
        let (inside, other_thread) = {
            let _f32 = Isa::f32_products();
            (Isa::detect(), std::thread::spawn(Isa::detect).join().unwrap())
        };
        assert_eq!(inside, if outside.bf16() { Avx512 } else { outside });
        assert_eq!(other_thread, outside);
        assert_eq!(Isa::detect(), outside, "the guard restores the set when it drops");
    }
}
