//! Turning stored bytes into normalised, optionally augmented NCHW `f32` batches.

use crate::rng::Rng;

use super::{CHANNELS, Dataset, IMAGE_BYTES, IMAGE_SIDE, PLANE};

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
                let sum: f64 =
                    histogram.iter().enumerate().map(|(v, &n)| n as f64 * (v as f64 / 255.0).powi(power)).sum();
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

/// One image's random augmentation: where the 32×32 window sits in the image zero-padded by `pad` pixels on every
/// side, and whether the crop is then mirrored left to right.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Augmentation {
    pad: usize,
    top: usize,
    left: usize,
    flip: bool,
}

impl Augmentation {
    const IDENTITY: Augmentation = Augmentation { pad: 0, top: 0, left: 0, flip: false };

    fn sample(pad: usize, rng: &mut Rng) -> Self {
        let span = 2 * pad as u32 + 1;
        let top = rng.below(span) as usize;
        let left = rng.below(span) as usize;
        Augmentation { pad, top, left, flip: rng.bernoulli(0.5) }
    }
}

/// Fill `out` (resized to `indices.len() * 3072`) with an NCHW `f32` batch of the images at `indices`: pixel / 255,
/// then, with `augment = Some(pad)`, a random 32×32 crop of the image zero-padded by `pad` pixels on every side
/// (padding with raw value 0 before normalising, as torchvision does: a translation by up to `pad` pixels) and a
/// horizontal flip with p = 0.5, then `(x - mean) / std`. Deterministic given `rng`, which is only drawn from when
/// augmenting. The labels go to `labels_out` as `i64`.
pub fn fill_batch(
    ds: &Dataset,
    indices: &[usize],
    augment: Option<usize>,
    norm: &Normalizer,
    rng: &mut Rng,
    out: &mut Vec<f32>,
    labels_out: &mut Vec<i64>,
) {
    let table = norm.lookup_table();
    out.resize(indices.len() * IMAGE_BYTES, 0.0);
    for (&i, dst) in indices.iter().zip(out.chunks_exact_mut(IMAGE_BYTES)) {
        let augmentation = match augment {
            Some(pad) => Augmentation::sample(pad, rng),
            None => Augmentation::IDENTITY,
        };
        write_image(ds.image(i), augmentation, &table, dst);
    }
    labels_out.clear();
    labels_out.extend(indices.iter().map(|&i| ds.labels[i] as i64));
}

/// Write one normalised image into `dst`. Output pixel `(y, x)` comes from source pixel
/// `(y + top - pad, x' + left - pad)` with `x' = 31 - x` when flipped, or from the zero padding outside the image.
fn write_image(image: &[u8], aug: Augmentation, table: &[[f32; 256]; CHANNELS], dst: &mut [f32]) {
    for ((plane, dst), table) in image.chunks_exact(PLANE).zip(dst.chunks_exact_mut(PLANE)).zip(table) {
        for (y, dst_row) in dst.chunks_exact_mut(IMAGE_SIDE).enumerate() {
            let Some(src_y) = (y + aug.top).checked_sub(aug.pad).filter(|&sy| sy < IMAGE_SIDE) else {
                dst_row.fill(table[0]);
                continue;
            };
            let src_row = &plane[src_y * IMAGE_SIDE..(src_y + 1) * IMAGE_SIDE];
            for (x, value) in dst_row.iter_mut().enumerate() {
                let x = if aug.flip { IMAGE_SIDE - 1 - x } else { x };
                let pixel = (x + aug.left).checked_sub(aug.pad).and_then(|sx| src_row.get(sx)).copied().unwrap_or(0);
                *value = table[pixel as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    const IDENTITY: Normalizer = Normalizer { mean: [0.0; 3], std: [1.0; 3] };

    /// One image whose red plane encodes x, green encodes y, and blue is constant 100.
    fn coordinate_image() -> Dataset {
        let mut images = vec![0u8; IMAGE_BYTES];
        for y in 0..IMAGE_SIDE {
            for x in 0..IMAGE_SIDE {
                images[y * IMAGE_SIDE + x] = 1 + x as u8 * 7;
                images[PLANE + y * IMAGE_SIDE + x] = 1 + y as u8 * 7;
                images[2 * PLANE + y * IMAGE_SIDE + x] = 100;
            }
        }
        Dataset { images, labels: vec![3], num_classes: 10, class_names: vec![] }
    }

    /// Render with a given augmentation, returning per output pixel the source (x, y) it came from, or None for
    /// padding, checking that the constant blue plane agrees.
    fn sources(aug: Augmentation) -> Vec<Option<(usize, usize)>> {
        let mut out = vec![0.0; IMAGE_BYTES];
        write_image(&coordinate_image().images, aug, &IDENTITY.lookup_table(), &mut out);
        (0..PLANE)
            .map(|i| {
                let byte = |c: usize| (out[c * PLANE + i] * 255.0).round() as usize;
                match (byte(0), byte(1), byte(2)) {
                    (0, 0, 0) => None,
                    (r, g, 100) => Some(((r - 1) / 7, (g - 1) / 7)),
                    other => panic!("pixel {i} mixes padding and image: {other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn crop_and_flip_move_pixels_as_torchvision_does() {
        let at = |x: usize, y: usize| y * IMAGE_SIDE + x;
        let identity = sources(Augmentation::IDENTITY);
        assert!((0..PLANE).all(|i| identity[i] == Some((i % IMAGE_SIDE, i / IMAGE_SIDE))));

        // Window at the top-left of the padded image: content shifts right and down by 4, padding fills the rest.
        let shifted = sources(Augmentation { pad: 4, top: 0, left: 0, flip: false });
        assert_eq!(shifted[at(3, 10)], None);
        assert_eq!(shifted[at(10, 3)], None);
        assert_eq!(shifted[at(4, 4)], Some((0, 0)));
        assert_eq!(shifted[at(31, 31)], Some((27, 27)));

        // Bottom-right window, flipped: output (x, y) shows source (31 - x + 4, y + 4).
        let flipped = sources(Augmentation { pad: 4, top: 8, left: 8, flip: true });
        assert_eq!(flipped[at(0, 0)], None);
        assert_eq!(flipped[at(4, 0)], Some((31, 4)));
        assert_eq!(flipped[at(31, 27)], Some((4, 31)));
        assert_eq!(flipped[at(31, 28)], None);

        let mirrored = sources(Augmentation { flip: true, ..Augmentation::IDENTITY });
        assert_eq!(mirrored[at(0, 5)], Some((31, 5)));
    }

    #[test]
    fn fill_batch_shapes_labels_and_augmentation_draws() {
        let ds = synthetic(1, 20, 0).train;
        let norm = Normalizer::fit(&ds);
        let (mut out, mut labels) = (vec![1.0; 7], vec![99]);
        let indices = [4, 0, 19, 4];
        let mut rng = Rng::new(5);
        let before = rng.clone();
        fill_batch(&ds, &indices, None, &norm, &mut rng, &mut out, &mut labels);
        assert_eq!(out.len(), 4 * IMAGE_BYTES);
        assert_eq!(labels, [4, 0, 9, 4]);
        assert_eq!(rng, before, "no augmentation, no draws");
        assert_eq!(out[..IMAGE_BYTES], out[3 * IMAGE_BYTES..]);

        // With augmentation, each image uses the next sampled crop and flip, in order.
        fill_batch(&ds, &indices, Some(2), &norm, &mut rng, &mut out, &mut labels);
        let mut replay = before.clone();
        let table = norm.lookup_table();
        let mut expected = vec![0.0; IMAGE_BYTES];
        for (k, &i) in indices.iter().enumerate() {
            write_image(ds.image(i), Augmentation::sample(2, &mut replay), &table, &mut expected);
            assert_eq!(out[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES], expected[..]);
        }
        assert_eq!(rng, replay);
    }

    #[test]
    fn augmentation_covers_all_crops_and_flips_half() {
        let mut rng = Rng::new(9);
        let draws: Vec<Augmentation> = (0..9000).map(|_| Augmentation::sample(4, &mut rng)).collect();
        for offset in 0..=8 {
            assert!(draws.iter().any(|a| a.top == offset) && draws.iter().any(|a| a.left == offset));
        }
        assert!(draws.iter().all(|a| a.top <= 8 && a.left <= 8));
        let flips = draws.iter().filter(|a| a.flip).count();
        assert!((4200..4800).contains(&flips), "{flips}");
    }

    #[test]
    fn normalised_batch_has_zero_mean_unit_std() {
        let ds = synthetic(2, 2000, 0).train;
        let norm = Normalizer::fit(&ds);
        let indices: Vec<usize> = (0..ds.len()).collect();
        let (mut out, mut labels) = (Vec::new(), Vec::new());
        fill_batch(&ds, &indices, None, &norm, &mut Rng::new(0), &mut out, &mut labels);
        for c in 0..CHANNELS {
            let values: Vec<f64> =
                out.chunks_exact(PLANE).skip(c).step_by(CHANNELS).flatten().map(|&v| v as f64).collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(mean.abs() < 1e-4 && (var.sqrt() - 1.0).abs() < 1e-4, "channel {c}: {mean} {var}");
            assert!((0.2..0.8).contains(&norm.mean[c]) && (0.1..0.4).contains(&norm.std[c]), "{norm:?}");
        }
    }

    #[test]
    fn fit_handles_constant_and_empty_sets() {
        let constant =
            Dataset { images: vec![51; 2 * IMAGE_BYTES], labels: vec![0, 0], num_classes: 1, class_names: vec![] };
        let norm = Normalizer::fit(&constant);
        assert_eq!(norm.std, [1.0; 3]);
        assert!(norm.mean.iter().all(|&m| (m - 0.2).abs() < 1e-6));
        let empty = Dataset { images: vec![], labels: vec![], num_classes: 1, class_names: vec![] };
        assert_eq!(Normalizer::fit(&empty), IDENTITY);
    }
}
