//! airbench's first layer: a frozen 2×2 convolution that whitens image patches.
//!
//! Its filters are the eigenvectors of the (uncentred) covariance of all 2×2×3 patches of normalised training
//! images, each scaled by 1/√(eigenvalue + ε), and each also negated (so a GELU after it keeps both signs): the
//! layer's output channels are decorrelated with unit variance, which lets the next layers learn fast from the first
//! step. Computed on the CPU in f64 from the image bytes, so every backend starts from the same bits.

use crate::data::{Dataset, IMAGE_SIDE, Normalizer, PLANE};

/// Images the covariance is estimated from (airbench uses 5,000).
const IMAGES: usize = 5000;
/// Added to each eigenvalue before scaling, so near-null directions are not blown up.
const EPSILON: f64 = 5e-4;
const K: usize = super::WHITENING_KERNEL;
/// Patch dimension: 3 channels × 2 × 2.
const D: usize = 3 * K * K;

/// The whitening layer's weight, `[2·12, 3, 2, 2]` flat: eigenvectors in order of decreasing eigenvalue, then their
/// negations.
pub fn weights(set: &Dataset, normalizer: &Normalizer) -> Vec<f32> {
    let covariance = patch_covariance(set, normalizer);
    let (values, vectors) = symmetric_eigen(covariance);
    let mut order: Vec<usize> = (0..D).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut w = Vec::with_capacity(2 * D * D);
    for sign in [1.0, -1.0] {
        for &k in &order {
            let scale = sign / (values[k].max(0.0) + EPSILON).sqrt();
            w.extend((0..D).map(|i| (vectors[i][k] * scale) as f32));
        }
    }
    w
}

/// Mean of `p pᵀ` over every 2×2 patch `p` (flattened channel-major, like a conv filter) of the first images.
#[allow(clippy::needless_range_loop)] // matrix code: the indices read as the formulas
fn patch_covariance(set: &Dataset, normalizer: &Normalizer) -> [[f64; D]; D] {
    let n = set.len().min(IMAGES);
    let mut sum = [[0.0f64; D]; D];
    let mut pixels = vec![0.0f64; 3 * PLANE];
    let side = IMAGE_SIDE;
    for i in 0..n {
        for (c, (plane, out)) in set.image(i).chunks_exact(PLANE).zip(pixels.chunks_exact_mut(PLANE)).enumerate() {
            let (mean, std) = (normalizer.mean[c] as f64, normalizer.std[c] as f64);
            for (o, &p) in out.iter_mut().zip(plane) {
                *o = (p as f64 / 255.0 - mean) / std;
            }
        }
        let mut patch = [0.0f64; D];
        for y in 0..side - K + 1 {
            for x in 0..side - K + 1 {
                for c in 0..3 {
                    for dy in 0..K {
                        for dx in 0..K {
                            patch[(c * K + dy) * K + dx] = pixels[c * PLANE + (y + dy) * side + x + dx];
                        }
                    }
                }
                for a in 0..D {
                    for b in a..D {
                        sum[a][b] += patch[a] * patch[b];
                    }
                }
            }
        }
    }
    let count = (n * (side - K + 1) * (side - K + 1)).max(1) as f64;
    for a in 0..D {
        for b in a..D {
            sum[a][b] /= count;
            sum[b][a] = sum[a][b];
        }
    }
    sum
}

/// Eigenvalues and eigenvectors (as the columns of the second result) of a symmetric matrix, by cyclic Jacobi
/// rotations: exact to rounding for a 12×12 matrix in a few sweeps, and deterministic.
#[allow(clippy::needless_range_loop)] // matrix code: the indices read as the formulas
fn symmetric_eigen(mut a: [[f64; D]; D]) -> ([f64; D], [[f64; D]; D]) {
    let mut v = [[0.0f64; D]; D];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..64 {
        let off: f64 = (0..D).flat_map(|p| (p + 1..D).map(move |q| (p, q))).map(|(p, q)| a[p][q] * a[p][q]).sum();
        let scale: f64 = (0..D).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * scale.max(1e-300) {
            break;
        }
        for p in 0..D {
            for q in p + 1..D {
                if a[p][q] == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, algorithm 8.4.2).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..D {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..D {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    (std::array::from_fn(|i| a[i][i]), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let mut m = [[0.0f64; D]; D];
        for i in 0..D {
            for j in 0..D {
                m[i][j] = 1.0 / (1.0 + i as f64 + j as f64) + if i == j { 2.0 } else { 0.0 };
            }
        }
        let (values, vectors) = symmetric_eigen(m);
        // M v = λ v for every pair, and the vectors are orthonormal.
        for k in 0..D {
            for i in 0..D {
                let mv: f64 = (0..D).map(|j| m[i][j] * vectors[j][k]).sum();
                assert!((mv - values[k] * vectors[i][k]).abs() < 1e-10, "pair {k}, row {i}");
            }
            for l in 0..D {
                let dot: f64 = (0..D).map(|i| vectors[i][k] * vectors[i][l]).sum();
                assert!((dot - if k == l { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn whitened_patches_are_decorrelated_with_unit_variance() {
        let data = synthetic(1, 200, 10);
        let norm = Normalizer::fit(&data.train);
        let w = weights(&data.train, &norm);
        assert_eq!(w.len(), 2 * D * D);
        // The first D filters applied to the patches give uncorrelated outputs of variance λ/(λ + ε) ≈ 1.
        let cov = patch_covariance(&data.train, &norm);
        let (mut values, _) = symmetric_eigen(cov);
        values.sort_by(|a, b| b.total_cmp(a));
        for a in 0..D {
            for b in 0..D {
                let wa = &w[a * D..(a + 1) * D];
                let wb = &w[b * D..(b + 1) * D];
                let c: f64 = (0..D).map(|i| (0..D).map(|j| wa[i] as f64 * cov[i][j] * wb[j] as f64).sum::<f64>()).sum();
                let expected = if a == b { values[a] / (values[a] + EPSILON) } else { 0.0 };
                assert!((c - expected).abs() < 1e-3, "output covariance [{a}][{b}] = {c}, expected {expected}");
            }
        }
        // The second half is the negation of the first.
        assert!(w[..D * D].iter().zip(&w[D * D..]).all(|(x, y)| *x == -*y));
    }
}
