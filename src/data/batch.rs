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

/// What fills the pixels a translation uncovers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// Black (raw value 0), as torchvision's `RandomCrop(32, padding)`.
    #[default]
    Zero,
    /// The image mirrored at its edge, the edge pixel itself not repeated (PyTorch's `reflect`), as airbench: no
    /// black border that test images never show.
    Reflect,
}

/// How training mirrors images left to right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flip {
    /// Each time an image is drawn, with probability 1/2.
    #[default]
    Random,
    /// airbench's alternating flip: a coin per image, fixed for the run, says whether it is mirrored in even epochs,
    /// and odd epochs mirror it the other way, so every two consecutive epochs show each image both ways.
    Alternating,
}

impl Padding {
    pub const ALL: [Padding; 2] = [Padding::Zero, Padding::Reflect];

    pub fn name(self) -> &'static str {
        match self {
            Padding::Zero => "zero",
            Padding::Reflect => "reflect",
        }
    }
}

impl Flip {
    pub const ALL: [Flip; 2] = [Flip::Random, Flip::Alternating];

    pub fn name(self) -> &'static str {
        match self {
            Flip::Random => "random",
            Flip::Alternating => "alternating",
        }
    }
}

impl std::str::FromStr for Padding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Padding::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown padding '{s}' (expected zero or reflect)"))
    }
}

impl std::str::FromStr for Flip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Flip::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown flip '{s}' (expected random or alternating)"))
    }
}

/// Train-time augmentation for [`fill_batch`]: a translation by up to `translate` pixels, then a flip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub translate: usize,
    pub padding: Padding,
    pub flip: Flip,
    /// The seed of the data order; alternating flips draw their fixed coins from it.
    pub seed: u64,
    /// The epoch the batch belongs to; alternating flips depend on its parity.
    pub epoch: usize,
}

/// One image's augmentation: where the 32×32 window sits in the image padded by `pad` pixels on every side, and
/// whether the crop is then mirrored left to right.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Augmentation {
    pad: usize,
    padding: Padding,
    top: usize,
    left: usize,
    flip: bool,
}

impl Augmentation {
    const IDENTITY: Augmentation = Augmentation { pad: 0, padding: Padding::Zero, top: 0, left: 0, flip: false };

    /// A random window, and with random flips a random flip, drawn from `rng` in that order; `alternate_flip` is
    /// the flip when alternating.
    fn sample(pad: usize, padding: Padding, alternate_flip: Option<bool>, rng: &mut Rng) -> Self {
        let span = 2 * pad as u32 + 1;
        let top = rng.below(span) as usize;
        let left = rng.below(span) as usize;
        let flip = alternate_flip.unwrap_or_else(|| rng.bernoulli(0.5));
        Augmentation { pad, padding, top, left, flip }
    }

    /// The source coordinate of output coordinate `out` along one axis when the window starts at `start` of the
    /// padded image; `None` in zero padding.
    fn source(&self, out: usize, start: usize) -> Option<usize> {
        let s = (out + start) as isize - self.pad as isize;
        let last = IMAGE_SIDE as isize - 1;
        match self.padding {
            Padding::Zero => (0..=last).contains(&s).then_some(s as usize),
            // Mirrored at the first or the last pixel, whichever side `s` fell off (|s| ≤ pad ≤ 8).
            Padding::Reflect => Some(s.abs().min(2 * last - s) as usize),
        }
    }
}

/// Fill `out` (resized to `indices.len() * 3072`) with an NCHW `f32` batch of the images at `indices`: pixel / 255,
/// then, with `augment`, a random 32×32 crop of the image padded by `augment.translate` pixels on every side (a
/// translation by up to that many pixels; zero padding is raw value 0 before normalising, as torchvision does) and
/// a horizontal flip, then `(x - mean) / std`. Deterministic given `rng`, which is only drawn from when augmenting.
/// The labels go to `labels_out` as `i64`.
pub fn fill_batch(
    ds: &Dataset,
    indices: &[usize],
    augment: Option<Augment>,
    norm: &Normalizer,
    rng: &mut Rng,
    out: &mut Vec<f32>,
    labels_out: &mut Vec<i64>,
) {
    let table = norm.lookup_table();
    let coins = augment.filter(|a| a.flip == Flip::Alternating).map(|a| Rng::stream(a.seed, "flip"));
    out.resize(indices.len() * IMAGE_BYTES, 0.0);
    for (&i, dst) in indices.iter().zip(out.chunks_exact_mut(IMAGE_BYTES)) {
        let augmentation = match augment {
            Some(a) => {
                // Image i's coin says how even epochs show it; odd epochs turn it over.
                let alternate = coins.as_ref().map(|c| c.fork(i as u64).bernoulli(0.5) ^ (a.epoch % 2 == 1));
                Augmentation::sample(a.translate, a.padding, alternate, rng)
            }
            None => Augmentation::IDENTITY,
        };
        write_image(ds.image(i), augmentation, &table, dst);
    }
    labels_out.clear();
    labels_out.extend(indices.iter().map(|&i| ds.labels[i] as i64));
}

/// Write one normalised image into `dst`. Output pixel `(y, x)` comes from source pixel
/// `(y + top - pad, x' + left - pad)` with `x' = 31 - x` when flipped, reflected at the border or, with zero
/// padding, raw 0 outside the image.
fn write_image(image: &[u8], aug: Augmentation, table: &[[f32; 256]; CHANNELS], dst: &mut [f32]) {
    let columns: [Option<usize>; IMAGE_SIDE] = std::array::from_fn(|x| {
        let x = if aug.flip { IMAGE_SIDE - 1 - x } else { x };
        aug.source(x, aug.left)
    });
    for ((plane, dst), table) in image.chunks_exact(PLANE).zip(dst.chunks_exact_mut(PLANE)).zip(table) {
        for (y, dst_row) in dst.chunks_exact_mut(IMAGE_SIDE).enumerate() {
            let Some(src_y) = aug.source(y, aug.top) else {
                dst_row.fill(table[0]);
                continue;
            };
            let src_row = &plane[src_y * IMAGE_SIDE..(src_y + 1) * IMAGE_SIDE];
            for (value, column) in dst_row.iter_mut().zip(&columns) {
                *value = table[column.map_or(0, |sx| src_row[sx]) as usize];
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
        let shifted = sources(Augmentation { pad: 4, top: 0, left: 0, ..Augmentation::IDENTITY });
        assert_eq!(shifted[at(3, 10)], None);
        assert_eq!(shifted[at(10, 3)], None);
        assert_eq!(shifted[at(4, 4)], Some((0, 0)));
        assert_eq!(shifted[at(31, 31)], Some((27, 27)));

        // Bottom-right window, flipped: output (x, y) shows source (31 - x + 4, y + 4).
        let flipped = sources(Augmentation { pad: 4, top: 8, left: 8, flip: true, ..Augmentation::IDENTITY });
        assert_eq!(flipped[at(0, 0)], None);
        assert_eq!(flipped[at(4, 0)], Some((31, 4)));
        assert_eq!(flipped[at(31, 27)], Some((4, 31)));
        assert_eq!(flipped[at(31, 28)], None);

        let mirrored = sources(Augmentation { flip: true, ..Augmentation::IDENTITY });
        assert_eq!(mirrored[at(0, 5)], Some((31, 5)));
    }

    #[test]
    fn reflect_padding_mirrors_the_image_at_its_edge() {
        let at = |x: usize, y: usize| y * IMAGE_SIDE + x;
        let reflect = Augmentation { pad: 2, padding: Padding::Reflect, ..Augmentation::IDENTITY };
        // Top-left window: content shifts right and down by 2; columns and rows -2 and -1 show 2 and 1.
        let shifted = sources(Augmentation { top: 0, left: 0, ..reflect });
        assert_eq!(shifted[at(0, 0)], Some((2, 2)));
        assert_eq!(shifted[at(1, 0)], Some((1, 2)));
        assert_eq!(shifted[at(2, 2)], Some((0, 0)));
        assert_eq!(shifted[at(31, 31)], Some((29, 29)));
        // Bottom-right window: rows and columns 32 and 33 show 30 and 29.
        let other_corner = sources(Augmentation { top: 4, left: 4, ..reflect });
        assert_eq!(other_corner[at(31, 30)], Some((29, 30)));
        assert_eq!(other_corner[at(29, 29)], Some((31, 31)));
        assert!(other_corner.iter().all(Option::is_some), "reflection leaves no padding");
    }

    #[test]
    fn alternating_flips_show_each_image_both_ways_every_two_epochs() {
        let ds = synthetic(1, 400, 0).train;
        let norm = Normalizer::fit(&ds);
        let indices: Vec<usize> = (0..ds.len()).collect();
        let flipped_in = |epoch: usize, seed: u64| -> Vec<bool> {
            let augment = Augment { translate: 0, padding: Padding::Zero, flip: Flip::Alternating, seed, epoch };
            let (mut out, mut flipped, mut labels) = (vec![], vec![], vec![]);
            let mut plain = vec![];
            fill_batch(&ds, &indices, Some(augment), &norm, &mut Rng::new(epoch as u64), &mut out, &mut labels);
            fill_batch(&ds, &indices, None, &norm, &mut Rng::new(0), &mut plain, &mut labels);
            for (image, original) in out.chunks_exact(IMAGE_BYTES).zip(plain.chunks_exact(IMAGE_BYTES)) {
                let mirror: Vec<f32> =
                    original.chunks_exact(IMAGE_SIDE).flat_map(|r| r.iter().rev().copied()).collect();
                assert!(image == original || image == mirror, "only flips, no translation");
                flipped.push(image != original);
            }
            flipped
        };
        let (even, odd) = (flipped_in(0, 7), flipped_in(1, 7));
        assert!(even.iter().zip(&odd).all(|(a, b)| a != b), "each image one way in epoch 0, the other in epoch 1");
        assert_eq!(flipped_in(2, 7), even, "the coins are fixed for the run");
        let heads = even.iter().filter(|&&f| f).count();
        assert!((150..250).contains(&heads), "{heads} of 400 mirrored");
        assert_ne!(flipped_in(0, 8), even, "another seed, other coins");
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
        let augment = Augment { translate: 2, padding: Padding::Zero, flip: Flip::Random, seed: 0, epoch: 0 };
        fill_batch(&ds, &indices, Some(augment), &norm, &mut rng, &mut out, &mut labels);
        let mut replay = before.clone();
        let table = norm.lookup_table();
        let mut expected = vec![0.0; IMAGE_BYTES];
        for (k, &i) in indices.iter().enumerate() {
            write_image(ds.image(i), Augmentation::sample(2, Padding::Zero, None, &mut replay), &table, &mut expected);
            assert_eq!(out[k * IMAGE_BYTES..(k + 1) * IMAGE_BYTES], expected[..]);
        }
        assert_eq!(rng, replay);
    }

    #[test]
    fn augmentation_covers_all_crops_and_flips_half() {
        let mut rng = Rng::new(9);
        let draws: Vec<Augmentation> =
            (0..9000).map(|_| Augmentation::sample(4, Padding::Zero, None, &mut rng)).collect();
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
