//! Per-layer binary masks over the prunable weights.
//!
//! A [`Masks`] holds one bit per prunable weight. Bits are the source of truth the rest of the program reads, sets,
//! saves and compares; the trainer uploads them as 0/1 tensors when they change.

use serde::{Deserialize, Serialize};

use crate::model::NetSpec;
use crate::rng::Rng;

/// A fixed-length bit set. Loading one checks that its words hold exactly `len` bits (see [`SavedBits`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SavedBits")]
pub struct Bits {
    len: usize,
    words: Vec<u64>,
}

/// [`Bits`] as a file holds it, before it is checked: every other method may index `words` by any bit below `len`.
#[derive(Deserialize)]
struct SavedBits {
    len: usize,
    words: Vec<u64>,
}

impl TryFrom<SavedBits> for Bits {
    type Error = String;

    fn try_from(saved: SavedBits) -> Result<Self, String> {
        let SavedBits { len, words } = saved;
        if words.len() != len.div_ceil(64) {
            return Err(format!("a mask of {len} bits is stored in {} words, not {}", len.div_ceil(64), words.len()));
        }
        let bits = Bits { len, words };
        let mut tail = bits.clone();
        tail.clear_tail();
        if tail != bits {
            return Err(format!("a mask of {len} bits has bits set beyond its length"));
        }
        Ok(bits)
    }
}

impl Bits {
    pub fn zeros(len: usize) -> Self {
        Bits { len, words: vec![0; len.div_ceil(64)] }
    }

    pub fn ones(len: usize) -> Self {
        let mut b = Bits { len, words: vec![u64::MAX; len.div_ceil(64)] };
        b.clear_tail();
        b
    }

    pub fn from_bools(bools: impl IntoIterator<Item = bool>) -> Self {
        let mut words = Vec::new();
        let mut len = 0;
        for b in bools {
            if len % 64 == 0 {
                words.push(0);
            }
            words[len / 64] |= (b as u64) << (len % 64);
            len += 1;
        }
        Bits { len, words }
    }

    fn clear_tail(&mut self) {
        if !self.len.is_multiple_of(64) {
            let last = self.words.len() - 1;
            self.words[last] &= (1u64 << (self.len % 64)) - 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] >> (i % 64) & 1 == 1
    }

    pub fn set(&mut self, i: usize, value: bool) {
        let bit = 1u64 << (i % 64);
        if value {
            self.words[i / 64] |= bit;
        } else {
            self.words[i / 64] &= !bit;
        }
    }

    pub fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn zip(&self, other: &Bits, f: impl Fn(u64, u64) -> u64) -> Bits {
        assert_eq!(self.len, other.len, "bit sets of different lengths");
        Bits { len: self.len, words: self.words.iter().zip(&other.words).map(|(&a, &b)| f(a, b)).collect() }
    }

    pub fn and(&self, other: &Bits) -> Bits {
        self.zip(other, |a, b| a & b)
    }

    pub fn or(&self, other: &Bits) -> Bits {
        self.zip(other, |a, b| a | b)
    }

    pub fn xor(&self, other: &Bits) -> Bits {
        self.zip(other, |a, b| a ^ b)
    }

    pub fn not(&self) -> Bits {
        let mut b = Bits { len: self.len, words: self.words.iter().map(|w| !w).collect() };
        b.clear_tail();
        b
    }

    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// Indices of the set bits, ascending.
    pub fn ones_indices(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.count_ones());
        for (w, &word) in self.words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                out.push(w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
        out
    }

    /// 1.0 where set, 0.0 elsewhere: the form the trainer multiplies by.
    pub fn to_f32(&self) -> Vec<f32> {
        self.iter().map(|b| b as u8 as f32).collect()
    }

    /// Exactly `k` set bits at positions chosen uniformly at random (a partial Fisher–Yates shuffle).
    pub fn random(len: usize, k: usize, rng: &mut Rng) -> Bits {
        assert!(k <= len, "cannot keep {k} of {len} weights");
        let mut idx: Vec<usize> = (0..len).collect();
        let mut bits = Bits::zeros(len);
        for i in 0..k {
            let j = i + rng.below((len - i) as u32) as usize;
            idx.swap(i, j);
            bits.set(idx[i], true);
        }
        bits
    }
}

/// Overlap measures between two masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub intersection: usize,
    pub union: usize,
    pub hamming: usize,
    pub iou: f64,
}

impl Overlap {
    pub fn between(a: &Bits, b: &Bits) -> Overlap {
        let intersection = a.and(b).count_ones();
        let union = a.or(b).count_ones();
        Overlap { intersection, union, hamming: a.xor(b).count_ones(), iou: ratio(intersection, union) }
    }

    fn add(self, o: Overlap) -> Overlap {
        let (intersection, union) = (self.intersection + o.intersection, self.union + o.union);
        Overlap { intersection, union, hamming: self.hamming + o.hamming, iou: ratio(intersection, union) }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The mask of one prunable parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerMask {
    /// Index into `NetSpec::params`.
    pub param: usize,
    pub bits: Bits,
}

/// Masks for every prunable parameter of a network, in forward order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masks {
    pub layers: Vec<LayerMask>,
}

impl Masks {
    /// All weights active.
    pub fn dense(spec: &NetSpec) -> Self {
        Masks {
            layers: spec
                .prunable()
                .into_iter()
                .map(|param| LayerMask { param, bits: Bits::ones(spec.params[param].numel()) })
                .collect(),
        }
    }

    /// Random masks keeping exactly `counts[l]` weights in layer `l`.
    pub fn random(spec: &NetSpec, counts: &[usize], rng: &mut Rng) -> Self {
        Masks {
            layers: spec
                .prunable()
                .into_iter()
                .zip(counts)
                .map(|(param, &k)| LayerMask { param, bits: Bits::random(spec.params[param].numel(), k, rng) })
                .collect(),
        }
    }

    /// The same number of active weights in every layer at positions drawn anew: Frankle et al.'s (2021) layer-wise
    /// shuffle, which keeps what a pruning method chose per layer (its densities) and discards where.
    pub fn shuffled_within_layers(&self, rng: &mut Rng) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| LayerMask { param: l.param, bits: Bits::random(l.bits.len(), l.bits.count_ones(), rng) })
            .collect();
        Masks { layers }
    }

    /// Whether these are masks of `spec`'s network: one per prunable parameter, in order, each as long as it.
    pub fn check_shape(&self, spec: &NetSpec) -> Result<(), String> {
        let prunable = spec.prunable();
        if self.layers.len() != prunable.len() {
            return Err(format!("{} layers, but the network has {} prunable ones", self.layers.len(), prunable.len()));
        }
        for (layer, &param) in self.layers.iter().zip(&prunable) {
            let (name, numel) = (&spec.params[param].name, spec.params[param].numel());
            if layer.param != param || layer.bits.len() != numel {
                return Err(format!(
                    "layer {} has {} bits where {name} has {numel} weights",
                    layer.param,
                    layer.bits.len()
                ));
            }
        }
        Ok(())
    }

    pub fn active_counts(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.bits.count_ones()).collect()
    }

    pub fn active(&self) -> usize {
        self.active_counts().iter().sum()
    }

    pub fn total(&self) -> usize {
        self.layers.iter().map(|l| l.bits.len()).sum()
    }

    pub fn density(&self) -> f64 {
        ratio(self.active(), self.total())
    }

    pub fn layer_densities(&self) -> Vec<f64> {
        self.layers.iter().map(|l| ratio(l.bits.count_ones(), l.bits.len())).collect()
    }

    /// Per-layer overlap with another mask of the same network, and the total.
    pub fn overlap(&self, other: &Masks) -> (Vec<Overlap>, Overlap) {
        let per_layer: Vec<Overlap> =
            self.layers.iter().zip(&other.layers).map(|(a, b)| Overlap::between(&a.bits, &b.bits)).collect();
        let total = per_layer.iter().fold(Overlap { iou: 1.0, ..Default::default() }, |acc, &o| acc.add(o));
        (per_layer, total)
    }

    /// Whether every weight active in `self` is also active in `outer` (IMP masks are nested).
    pub fn is_subset_of(&self, outer: &Masks) -> bool {
        self.layers.iter().zip(&outer.layers).all(|(a, b)| a.bits.and(&b.bits) == a.bits)
    }

    /// Layer-wise union (for the in-time over-parameterisation rate).
    pub fn union(&self, other: &Masks) -> Masks {
        self.combine(other, Bits::or)
    }

    /// Layer-wise intersection (COLT keeps the weights two masks share).
    pub fn intersect(&self, other: &Masks) -> Masks {
        self.combine(other, Bits::and)
    }

    fn combine(&self, other: &Masks, f: impl Fn(&Bits, &Bits) -> Bits) -> Masks {
        let layers = self.layers.iter().zip(&other.layers);
        Masks { layers: layers.map(|(a, b)| LayerMask { param: a.param, bits: f(&a.bits, &b.bits) }).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Randomised property checks: many (length, count, seed) cases drawn from a fixed seed.
    #[test]
    fn random_bits_have_exact_count() {
        let mut cases = Rng::new(11);
        for _ in 0..300 {
            let len = 1 + cases.below(5000) as usize;
            let k = cases.below(len as u32 + 1) as usize;
            let b = Bits::random(len, k, &mut Rng::new(cases.next_u64()));
            assert_eq!(b.count_ones(), k);
            assert_eq!(b.ones_indices().len(), k);
            assert_eq!(b.not().count_ones(), len - k);
        }
    }

    #[test]
    fn a_layer_wise_shuffle_keeps_every_layer_count_and_moves_the_positions() {
        let spec = crate::model::NetSpec::new(crate::model::Arch::Conv2, 0.25, 10);
        let counts: Vec<usize> = spec.prunable().iter().map(|&p| spec.params[p].numel() / 10).collect();
        let masks = Masks::random(&spec, &counts, &mut Rng::new(1));
        let shuffled = masks.shuffled_within_layers(&mut Rng::new(2));
        assert_eq!(shuffled.active_counts(), masks.active_counts());
        assert!(
            shuffled.layers.iter().zip(&masks.layers).all(|(a, b)| a.param == b.param && a.bits.len() == b.bits.len())
        );
        assert!(shuffled.overlap(&masks).1.iou < 0.2, "10% masks drawn anew overlap by chance only");
    }

    #[test]
    fn from_bools_round_trips() {
        let mut cases = Rng::new(12);
        for _ in 0..300 {
            let bools: Vec<bool> = (0..cases.below(300)).map(|_| cases.bernoulli(0.5)).collect();
            let b = Bits::from_bools(bools.iter().copied());
            assert_eq!(b.iter().collect::<Vec<_>>(), bools);
            assert_eq!(b.count_ones(), bools.iter().filter(|&&x| x).count());
        }
    }

    /// A saved mask whose `len` disagrees with its `words` would index past them (a panic in the viewer); loading
    /// refuses it, as it does set bits past the end, which would change every count.
    #[test]
    fn loading_checks_length_against_words() {
        let ok: Bits = serde_json::from_str(r#"{"len":65,"words":[1,1]}"#).unwrap();
        assert_eq!((ok.len(), ok.count_ones()), (65, 2));
        assert_eq!(serde_json::from_str::<Bits>(&serde_json::to_string(&ok).unwrap()).unwrap(), ok);
        for bad in [
            r#"{"len":1000,"words":[1]}"#,
            r#"{"len":3,"words":[1,0]}"#,
            r#"{"len":3,"words":[8]}"#,
            r#"{"len":0,"words":[0]}"#,
        ] {
            let e = serde_json::from_str::<Bits>(bad).unwrap_err().to_string();
            assert!(e.contains("mask of"), "{bad}: {e}");
        }
    }

    #[test]
    fn overlap_measures() {
        let a = Bits::from_bools([true, true, false, false]);
        let b = Bits::from_bools([true, false, true, false]);
        let o = Overlap::between(&a, &b);
        assert_eq!((o.intersection, o.union, o.hamming), (1, 3, 2));
        assert!((o.iou - 1.0 / 3.0).abs() < 1e-12);
    }
}
