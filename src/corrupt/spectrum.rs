//! Image spectra for the CARD-Deck gate (Diffenderfer et al. 2021): the mean DFT amplitude of a set of images, how
//! similar two spectra are, and which member's training spectrum a test batch is closest to.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, IMAGE_SIDE as SIDE, PLANE};

/// The mean, over a set of images, of the amplitude of the 2-D DFT of each image's grey level (ITU-R 601 luma,
/// pixels scaled to [0, 1]) after subtracting that image's mean, so the DC term is zero. `amplitude[ky * 32 + kx]`
/// is frequency (ky, kx) in cycles per image, unshifted (DC first), unnormalised: a cosine of amplitude A along x
/// at kx = k shows 512·A at kx = k and kx = 32 − k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    pub amplitude: Vec<f32>,
    /// How many images were averaged (0 gives an all-zero spectrum).
    pub images: usize,
}

impl Spectrum {
    /// The amplitude at frequency (ky, kx), each in 0..32.
    pub fn at(&self, ky: usize, kx: usize) -> f32 {
        self.amplitude[ky * SIDE + kx]
    }
}

/// The spectrum of the images of `ds` at `indices`. Panics if an index is out of range.
pub fn spectrum_of(ds: &Dataset, indices: impl IntoIterator<Item = usize>) -> Spectrum {
    spectrum_of_images(indices.into_iter().map(|i| ds.image(i)))
}

/// The spectrum of raw images (`IMAGE_BYTES` each, CIFAR layout).
pub fn spectrum_of_images<'a>(images: impl IntoIterator<Item = &'a [u8]>) -> Spectrum {
    // Twiddles: index k·n mod 32 of e^{-2πi k n / 32}.
    let (cos, sin): (Vec<f32>, Vec<f32>) =
        (0..SIDE).map(|j| (std::f32::consts::TAU * j as f32 / SIDE as f32).sin_cos()).map(|(s, c)| (c, s)).unzip();
    let mut sum = vec![0f64; PLANE];
    let mut count = 0;
    let (mut grey, mut re, mut im) = ([0f32; PLANE], [0f32; PLANE], [0f32; PLANE]);
    for image in images {
        for (p, g) in grey.iter_mut().enumerate() {
            let (r, gr, b) = (image[p] as f32, image[PLANE + p] as f32, image[2 * PLANE + p] as f32);
            *g = (0.299 * r + 0.587 * gr + 0.114 * b) / 255.0;
        }
        let mean = grey.iter().sum::<f32>() / PLANE as f32;
        grey.iter_mut().for_each(|g| *g -= mean);
        // Separable DFT: along rows (real input), then along columns.
        for y in 0..SIDE {
            let row = &grey[y * SIDE..(y + 1) * SIDE];
            for k in 0..SIDE {
                let (mut a, mut b) = (0f32, 0f32);
                for (n, &g) in row.iter().enumerate() {
                    let t = k * n % SIDE;
                    a += g * cos[t];
                    b -= g * sin[t];
                }
                (re[y * SIDE + k], im[y * SIDE + k]) = (a, b);
            }
        }
        for ky in 0..SIDE {
            for kx in 0..SIDE {
                let (mut a, mut b) = (0f32, 0f32);
                for y in 0..SIDE {
                    let t = ky * y % SIDE;
                    let (r, i) = (re[y * SIDE + kx], im[y * SIDE + kx]);
                    a += r * cos[t] + i * sin[t];
                    b += i * cos[t] - r * sin[t];
                }
                sum[ky * SIDE + kx] += a.hypot(b) as f64;
            }
        }
        count += 1;
    }
    let amplitude = sum.iter().map(|&s| if count == 0 { 0.0 } else { (s / count as f64) as f32 }).collect();
    Spectrum { amplitude, images: count }
}

/// Cosine similarity of the log1p amplitude spectra, in [0, 1] (0 when either spectrum is all zero). The log
/// keeps the strong low frequencies from drowning the high ones, where noise and blur differ most.
///
/// The CARD-Deck paper compares Fourier spectra of the test batch and of each member's augmented training data;
/// its exact measure could not be checked here, so this is the cosine of log amplitude spectra.
pub fn spectral_similarity(a: &Spectrum, b: &Spectrum) -> f64 {
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.amplitude.iter().zip(&b.amplitude) {
        let (x, y) = ((x as f64).ln_1p(), (y as f64).ln_1p());
        (dot, aa, bb) = (dot + x * y, aa + x * x, bb + y * y);
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { dot / (aa * bb).sqrt() }
}

/// The CARD-Deck gate: the index of the member spectrum most similar to the batch's (ties go to the lowest
/// index), or `None` when there are no members.
pub fn gate(batch: &Spectrum, members: &[Spectrum]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, member) in members.iter().enumerate() {
        let s = spectral_similarity(batch, member);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corrupt::{Corruption, corrupt_dataset};

    #[test]
    fn dft_puts_a_cosine_at_its_frequency_and_removes_dc() {
        // Grey image 0.5 + 0.25·cos(2π(3x + 5y)/32): amplitude 512·0.25 at (5, 3) and (27, 29).
        let plane: Vec<u8> = (0..PLANE)
            .map(|p| {
                let (y, x) = ((p / SIDE) as f32, (p % SIDE) as f32);
                let phase = std::f32::consts::TAU * (3.0 * x + 5.0 * y) / 32.0;
                ((0.5 + 0.25 * phase.cos()) * 255.0).round() as u8
            })
            .collect();
        let s = spectrum_of_images([plane.repeat(3).as_slice()]);
        assert_eq!(s.images, 1);
        for (ky, kx) in [(5, 3), (27, 29)] {
            assert!((s.at(ky, kx) - 128.0).abs() < 1.0, "({ky}, {kx}): {}", s.at(ky, kx));
        }
        assert!(s.at(0, 0) < 1e-3, "dc {}", s.at(0, 0));
        let elsewhere = s.amplitude.iter().sum::<f32>() - s.at(5, 3) - s.at(27, 29);
        assert!(elsewhere < 40.0, "{elsewhere}");
        assert_eq!(spectrum_of_images([]).amplitude, vec![0.0; PLANE]);
    }

    #[test]
    fn gate_sends_blurred_batches_to_the_blur_member() {
        let ds = crate::data::synthetic(2, 0, 60).test;
        let (first, second) = ((0..30).collect::<Vec<_>>(), (30..60).collect::<Vec<_>>());
        let spectrum = |c, idx: &[usize], seed| {
            let corrupted = corrupt_dataset(&ds.subset(idx), c, 4, seed).unwrap();
            spectrum_of(&corrupted, 0..corrupted.len())
        };
        let blur_member = spectrum(Corruption::GaussianBlur, &first, 1);
        let noise_member = spectrum(Corruption::GaussianNoise, &first, 1);
        let blurred_batch = spectrum(Corruption::DefocusBlur, &second, 2);
        let noisy_batch = spectrum(Corruption::ShotNoise, &second, 2);
        assert!(spectral_similarity(&blurred_batch, &blur_member) > spectral_similarity(&blurred_batch, &noise_member));
        let members = [noise_member, blur_member];
        assert_eq!(gate(&blurred_batch, &members), Some(1));
        assert_eq!(gate(&noisy_batch, &members), Some(0));
        assert_eq!(gate(&noisy_batch, &[members[1].clone(), members[1].clone()]), Some(0));
        assert_eq!(gate(&noisy_batch, &[]), None);
        assert!((spectral_similarity(&noisy_batch, &noisy_batch) - 1.0).abs() < 1e-9);
    }
}
