//! Deterministic pseudo-random numbers.
//!
//! Every random choice in ticketlab (data order, augmentation, initialisation, masks, synthetic images) draws from
//! an [`Rng`] derived from the run's seed and a named stream, so one seed reproduces a whole run bit for bit on any
//! platform. The generator is PCG-XSH-RR 64/32 (O'Neill 2014) seeded through SplitMix64; both are tiny, fast, and
//! have no platform-dependent behaviour.

/// SplitMix64 step: a good 64-bit mixer, used to derive seeds and stream ids.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash a stream name (FNV-1a), so streams can be named in code: `Rng::stream(seed, "augment")`.
fn name_hash(name: &str) -> u64 {
    fnv1a(name.as_bytes())
}

/// The 64-bit FNV-1a hash of `bytes`: stable across runs and platforms (names streams, keys cached results).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
    inc: u64,
}

impl Rng {
    const MUL: u64 = 6_364_136_223_846_793_005;

    pub fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0)
    }

    /// An independent generator for `(seed, stream)`.
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut rng = Rng { state: 0, inc: (splitmix64(stream ^ 0xDA3E_39CB_94B9_5BDB) << 1) | 1 };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(splitmix64(seed));
        rng.next_u32();
        rng
    }

    /// An independent generator for a named purpose, e.g. `Rng::stream(seed, "init")`.
    pub fn stream(seed: u64, name: &str) -> Self {
        Self::with_stream(seed, name_hash(name))
    }

    /// A child generator for item `index` of a purpose (e.g. epoch `e` of the data order).
    pub fn fork(&self, index: u64) -> Self {
        Self::with_stream(self.state ^ splitmix64(index), self.inc ^ splitmix64(index.wrapping_add(1)))
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MUL).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    pub fn next_u64(&mut self) -> u64 {
        ((self.next_u32() as u64) << 32) | self.next_u32() as u64
    }

    /// Uniform in `[0, 1)` with 24 bits of precision (exactly representable as f32).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)` without modulo bias (Lemire's method). `n` must be positive.
    pub fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0);
        let mut m = self.next_u32() as u64 * n as u64;
        if (m as u32) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u32) < threshold {
                m = self.next_u32() as u64 * n as u64;
            }
        }
        (m >> 32) as u32
    }

    /// Standard normal sample (Box–Muller, one value per call for simplicity and determinism). The logarithm and
    /// cosine come from `libm`, not the platform's maths library, so native and browser builds draw the same values.
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u32() >> 8) as f64 + 1.0) * (1.0 / 16_777_217.0);
        let u2 = (self.next_u32() >> 8) as f64 * (1.0 / 16_777_216.0);
        (libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)) as f32
    }

    pub fn bernoulli(&mut self, p: f32) -> bool {
        self.uniform() < p
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_streams_differ() {
        let a: Vec<u32> = (0..8)
            .map({
                let mut r = Rng::stream(7, "init");
                move |_| r.next_u32()
            })
            .collect();
        let b: Vec<u32> = (0..8)
            .map({
                let mut r = Rng::stream(7, "init");
                move |_| r.next_u32()
            })
            .collect();
        let c: Vec<u32> = (0..8)
            .map({
                let mut r = Rng::stream(7, "data");
                move |_| r.next_u32()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(1);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[r.below(10) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(3);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal() as f64).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(5).permutation(1000);
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
