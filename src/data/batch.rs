//! Turning stored bytes into normalised, optionally augmented NCHW `f32` batches.

use crate::rng::Rng;

use super::{CHANNELS, Dataset, IMAGE_BYTES, IMAGE_SIDE, PLANE};

/// Zero padding on every side before the random crop (the standard CIFAR recipe).
const PAD: usize = 4;

/// Per-channel mean and standard deviation, in `[0, 1]` pixel units.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalizer {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalizer {
    /// Fit to a (training) set. A constant channel gets std 1 rather than 0, so normalising never divides by zero;
    /// an empty set gives the identity.
    pub fn fit(ds: &Dataset) -> Self {
        // Exact byte histograms: no accumulated rounding, and cheaper than summing floats.
        let mut histograms = [[0u64; 256]; CHANNELS];
        for image in ds.images.chunks_exact(IMAGE_BYTES) {
            for (histogram, plane) in histograms.iter_mut().zip(image.chunks_exact(PLANE)) {
                for &p in plane {
                    histogram[p as usize] += 1;
                }
            }
        }
        let mut norm = Normalizer { mean: [0.0; 3], std: [1.0; 3] };
        for (c, histogram) in histograms.iter().enumerate() {
            let count: u64 = histogram.iter().sum();
            if count == 0 {
                continue;
            }
            let moment = |power: i32| {
                let sum: f64 = histogram.iter().enumerate().map(|(v, &n)| n as f64 * (v as f64 / 255.0).powi(power)).sum();
                sum / count as f64
            };
            let mean = moment(1);
            let std = (moment(2) - mean * mean).max(0.0).sqrt();
            norm.mean[c] = mean as f32;
            norm.std[c] = if std > 1e-6 { std as f32 } else { 1.0 };
        }
        norm
    }

    /// `(p / 255 - mean) / std` for every byte value of every channel.
    fn lookup_table(&self) -> [[f32; 256]; CHANNELS] {
        std::array::from_fn(|c| std::array::from_fn(|p| (p as f32 / 255.0 - self.mean[c]) / self.std[c]))
    }
}

/// One image's random augmentation: where the 32×32 window sits in the 40×40 padded image, and whether the crop
/// is then mirrored left to right.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Augmentation {
    top: usize,
    left: usize,
    flip: bool,
}

impl Augmentation {
    const IDENTITY: Augmentation = Augmentation { top: PAD, left: PAD, flip: false };

    fn sample(rng: &mut Rng) -> Self {
        let span = 2 * PAD as u32 + 1;
        let top = rng.below(span) as usize;
        let left = rng.below(span) as usize;
        Augmentation { top, left, flip: rng.bernoulli(0.5) }
    }
}

/// Fill `out` (resized to `indices.len() * 3072`) with an NCHW `f32` batch of the images at `indices`: pixel / 255,
/// then, if `augment`, a random 32×32 crop of the image zero-padded by 4 pixels on every side (padding with raw
/// value 0 before normalising, as torchvision does) and a horizontal flip with p = 0.5, then `(x - mean) / std`.
/// Deterministic given `rng`, which is only drawn from when augmenting. The labels go to `labels_out` as `i64`.
pub fn fill_batch(
    ds: &Dataset,
    indices: &[usize],
    augment: bool,
    norm: &Normalizer,
    rng: &mut Rng,
    out: &mut Vec<f32>,
    labels_out: &mut Vec<i64>,
) {
    let table = norm.lookup_table();
    out.resize(indices.len() * IMAGE_BYTES, 0.0);
    for (&i, dst) in indices.iter().zip(out.chunks_exact_mut(IMAGE_BYTES)) {
        let augmentation = if augment { Augmentation::sample(rng) } else { Augmentation::IDENTITY };
        write_image(ds.image(i), augmentation, &table, dst);
    }
    labels_out.clear();
    labels_out.extend(indices.iter().map(|&i| ds.labels[i] as i64));
}

/// Write one normalised image into `dst`. Output pixel `(y, x)` comes from source pixel
/// `(y + top - PAD, x' + left - PAD)` with `x' = 31 - x` when flipped, or from the zero padding outside the image.
fn write_image(image: &[u8], aug: Augmentation, table: &[[f32; 256]; CHANNELS], dst: &mut [f32]) {
    for ((plane, dst), table) in image.chunks_exact(PLANE).zip(dst.chunks_exact_mut(PLANE)).zip(table) {
        for (y, dst_row) in dst.chunks_exact_mut(IMAGE_SIDE).enumerate() {
            let Some(src_y) = (y + aug.top).checked_sub(PAD).filter(|&sy| sy < IMAGE_SIDE) else {
                dst_row.fill(table[0]);
                continue;
            };
            let src_row = &plane[src_y * IMAGE_SIDE..(src_y + 1) * IMAGE_SIDE];
            for (x, value) in dst_row.iter_mut().enumerate() {
                let x = if aug.flip { IMAGE_SIDE - 1 - x } else { x };
                let pixel = (x + aug.left).checked_sub(PAD).and_then(|sx| src_row.get(sx)).copied().unwrap_or(0);
                *value = table[pixel as usize];
            }
        }
    }
}
