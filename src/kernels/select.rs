//! Owner of `shaders/select_{histogram,pick,mark}.wgsl`: exact top-k selection on the device, for pruning and
//! regrowth.
//!
//! Every candidate gets a distinct 64-bit key: its score mapped to an order-preserving u32, then `n − 1 − index`, so
//! among equal scores the lower index ranks higher. A radix select over the key bytes (a 256-bin histogram and a
//! one-thread pick per byte, never a sort) finds the k-th largest key; marking the keys at or above it selects exactly
//! k candidates. Nothing is read back: the prefix lives in a small device buffer between passes.

use burn::backend::wgpu::into_contiguous;
use burn::backend::{Cube, Dispatch, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

use super::{Wgsl, empty_like, launch_grid, uses_gpu_kernels};

const HISTOGRAM: Wgsl = Wgsl { id: "select_histogram", source: include_str!("../../shaders/select_histogram.wgsl") };
const PICK: Wgsl = Wgsl { id: "select_pick", source: include_str!("../../shaders/select_pick.wgsl") };
const MARK: Wgsl = Wgsl { id: "select_mark", source: include_str!("../../shaders/select_mark.wgsl") };

// The histogram shader clears and flushes one bin per thread.
const _: () = assert!(super::WORKGROUP == 256);

/// The order-preserving map from f32 to u32 the shaders use (−0.0 ranks just below +0.0; NaNs at the ends).
pub fn order_key(score: f32) -> u32 {
    let u = score.to_bits();
    if u & 0x8000_0000 != 0 { !u } else { u | 0x8000_0000 }
}

fn full_key(scores: &[f32], i: usize) -> u64 {
    ((order_key(scores[i]) as u64) << 32) | (scores.len() - 1 - i) as u64
}

/// The CPU reference (and the CPU backend's path): the `k` candidates with the largest scores, lower index first
/// among equal scores. `k` beyond the number of candidates selects them all.
pub fn top_k_reference(scores: &[f32], candidates: &[bool], k: usize) -> Vec<bool> {
    assert_eq!(scores.len(), candidates.len(), "scores and candidates differ in length");
    let mut keys: Vec<u64> = (0..scores.len()).filter(|&i| candidates[i]).map(|i| full_key(scores, i)).collect();
    if k == 0 {
        return vec![false; scores.len()];
    }
    if k >= keys.len() {
        return candidates.to_vec();
    }
    let (_, &mut threshold, _) = keys.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    (0..scores.len()).map(|i| candidates[i] && full_key(scores, i) >= threshold).collect()
}

/// The byte passes of the radix select over keys of `n` elements: `(word, shift, fixed hi bits, fixed lo bits)`.
/// The four score bytes come first; the index bytes only as many as `n − 1` needs.
fn passes(n: usize) -> Vec<[u32; 4]> {
    let above = |byte: u32| if byte == 3 { 0 } else { u32::MAX << (8 * (byte + 1)) };
    let index_bytes = (usize::BITS - (n.max(1) - 1).leading_zeros()).div_ceil(8);
    let hi = (0..4).rev().map(|b| [0, 8 * b, above(b), 0]);
    let lo = (0..index_bytes).rev().map(|b| [1, 8 * b, u32::MAX, above(b)]);
    hi.chain(lo).collect()
}

#[backend_extension(Cube)]
pub trait SelectBackend: burn::backend::Backend {
    /// 1.0 where a candidate (non-zero in `candidates`) is among the `k` largest scores, else 0.0.
    fn top_k(scores: FloatTensor<Self>, candidates: FloatTensor<Self>, k: u32) -> FloatTensor<Self>;
}

impl SelectBackend for Cube {
    fn top_k(scores: FloatTensor<Self>, candidates: FloatTensor<Self>, k: u32) -> FloatTensor<Self> {
        let [scores, candidates] = [scores, candidates].map(into_contiguous);
        let n = scores.meta.shape().num_elements();
        let client = scores.client.clone();
        let buffer = |words: &[u32]| client.create_from_slice(bytemuck::cast_slice(words));
        let state = buffer(&[0, 0, k]);
        let hist = buffer(&[0; 256]);
        for pass in passes(n) {
            let bindings = vec![
                scores.handle.clone().binding(),
                candidates.handle.clone().binding(),
                state.clone().binding(),
                hist.clone().binding(),
            ];
            launch_grid(HISTOGRAM, &scores, n, bindings, &pass);
            launch_grid(PICK, &scores, 1, vec![state.clone().binding(), hist.clone().binding()], &pass[..2]);
        }
        let selected = empty_like(&scores);
        let bindings = vec![
            scores.handle.clone().binding(),
            candidates.handle.binding(),
            state.binding(),
            selected.handle.clone().binding(),
        ];
        launch_grid(MARK, &scores, n, bindings, &[]);
        selected
    }
}

/// A 0/1 tensor marking the `k` candidates (non-zero entries of `candidates`) with the largest `scores`, lower index
/// first among ties; all candidates if there are `k` or fewer. On wgpu the WGSL radix select runs on the device with
/// no read-back; elsewhere the CPU reference.
pub fn top_k_mask(scores: Tensor<1>, candidates: Tensor<1>, k: usize) -> Tensor<1> {
    let device = scores.device();
    if k == 0 {
        return candidates.zeros_like();
    }
    if uses_gpu_kernels(&device) {
        let k = k.min(u32::MAX as usize) as u32;
        return Tensor::from_dispatch(<Dispatch as SelectBackend>::top_k(
            scores.into_dispatch(),
            candidates.into_dispatch(),
            k,
        ));
    }
    // The CPU backend holds f32 tensors in host memory: reading them is a copy, not a device round trip.
    let host = |t: Tensor<1>| t.into_data().try_into_vec_as::<f32>().unwrap_or_default();
    let scores = host(scores);
    let candidates: Vec<bool> = host(candidates).iter().map(|&c| c != 0.0).collect();
    let selected: Vec<f32> = top_k_reference(&scores, &candidates, k).into_iter().map(|b| b as u8 as f32).collect();
    let n = selected.len();
    Tensor::from_data(TensorData::new(selected, [n]), &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn order_key_preserves_order() {
        let values = [f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::INFINITY];
        for w in values.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        assert!(order_key(-1.0) < order_key(1.0));
    }

    #[test]
    fn reference_selects_exactly_k_with_index_tie_break() {
        let scores = [1.0, 3.0, 3.0, 2.0, 3.0, 0.0];
        let all = [true; 6];
        assert_eq!(top_k_reference(&scores, &all, 2), [false, true, true, false, false, false]);
        assert_eq!(top_k_reference(&scores, &all, 0), [false; 6]);
        let some = [true, false, true, true, false, true];
        assert_eq!(top_k_reference(&scores, &some, 2), [false, false, true, true, false, false]);
        assert_eq!(top_k_reference(&scores, &some, 9), some);
    }

    #[test]
    fn reference_counts_are_exact_under_heavy_ties() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let n = 1 + rng.below(300) as usize;
            let scores: Vec<f32> = (0..n).map(|_| rng.below(4) as f32 - 1.5).collect();
            let candidates: Vec<bool> = (0..n).map(|_| rng.bernoulli(0.6)).collect();
            let count = candidates.iter().filter(|&&c| c).count();
            let k = rng.below(count as u32 + 2) as usize;
            let sel = top_k_reference(&scores, &candidates, k);
            assert_eq!(sel.iter().filter(|&&s| s).count(), k.min(count));
            // Every selected score is at least every unselected candidate's score.
            let min_sel = (0..n).filter(|&i| sel[i]).map(|i| scores[i]).fold(f32::INFINITY, f32::min);
            assert!((0..n).filter(|&i| candidates[i] && !sel[i]).all(|i| scores[i] <= min_sel));
            assert!((0..n).all(|i| !sel[i] || candidates[i]));
        }
    }

    #[test]
    fn passes_cover_the_score_and_needed_index_bytes() {
        assert_eq!(passes(1).len(), 4);
        assert_eq!(passes(256).len(), 5);
        assert_eq!(passes(257).len(), 6);
        assert_eq!(passes(1 << 24).len(), 7);
        assert_eq!(passes(100)[0], [0, 24, 0, 0]);
        assert_eq!(passes(100)[4], [1, 0, u32::MAX, u32::MAX << 8]);
    }

    #[test]
    fn cpu_path_matches_reference() {
        let device = Device::flex();
        let scores = vec![0.5, -1.0, 0.5, 2.0];
        let t = Tensor::<1>::from_data(TensorData::new(scores, [4]), &device);
        let c = Tensor::<1>::from_data(TensorData::new(vec![1.0, 1.0, 1.0, 0.0], [4]), &device);
        let sel = top_k_mask(t, c, 2).into_data().try_into_vec_as::<f32>().unwrap();
        assert_eq!(sel, [1.0, 0.0, 1.0, 0.0]);
    }
}
