//! BatchNorm with training statistics followed by an activation (none, ReLU or GELU), forward and backward, in one
//! pass per channel each way (plus the statistics pass).
//!
//! burn's `batch_norm_train` is a composition of about ten tensor operations (means over transposed copies,
//! centring, variance, then the affine map) and its backward another dozen, each a full pass over the activation;
//! the activation after it is one more each way. Here a channel's values (its maps in every image, a few hundred
//! kilobytes at most) are read three times forward (mean, variance, output) and three times backward, while they
//! sit in the L2 cache, with the activation and its derivative computed in registers.

use super::par;
use super::simd::{Isa, Scalar, Simd, erf, exp, isa_dispatch};

/// The activation after the normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NormAct {
    None,
    Relu,
    /// GELU, exact form: `u · Φ(u)` with Φ the standard normal CDF (PyTorch's default).
    Gelu,
}

/// The shape of an NCHW activation: `channels` maps of `hw` values in each of `batch` images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    pub batch: usize,
    pub channels: usize,
    pub hw: usize,
}

impl NormShape {
    fn len(&self) -> usize {
        self.batch * self.channels * self.hw
    }

    /// Values per channel.
    fn count(&self) -> usize {
        self.batch * self.hw
    }
}

/// The forward pass's results: the output, and the batch mean and (biased) variance of each channel.
#[derive(Clone, Debug)]
pub struct NormForward {
    pub y: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// Gradients of the input, the scale and the shift.
#[derive(Clone, Debug)]
pub struct NormGrads {
    pub x: Vec<f32>,
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
}

/// `act(scale · (x − mean) / √(var + eps) + shift)` with each channel's batch mean and biased variance.
pub fn norm_act_forward(
    shape: NormShape,
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    eps: f32,
    act: NormAct,
) -> NormForward {
    norm_forward_isa(Isa::detect(), shape, x, scale, shift, eps, act)
}

/// [`norm_act_forward`] on a given instruction set.
pub fn norm_forward_isa(
    isa: Isa,
    shape: NormShape,
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    eps: f32,
    act: NormAct,
) -> NormForward {
    let c = shape.channels;
    assert!(x.len() == shape.len() && scale.len() == c && shift.len() == c);
    let mut y = vec![0.0; x.len()];
    let mut stats: Vec<(usize, (f32, f32))> = (0..c).map(|ch| (ch, (0.0, 0.0))).collect();
    let out = par::Disjoint::new(&mut y);
    let n = shape.count() as f64;
    par::for_each(&mut stats, |channel| {
        let ch = channel.0;
        par::with_scratch(|xc, yc| {
            gather(shape, ch, x, xc);
            let mean = (sum_dev(isa, xc, 0.0, false) as f64 / n) as f32;
            let var = (sum_dev(isa, xc, mean, true) as f64 / n) as f32;
            let a = scale[ch] / (var + eps).sqrt();
            yc.resize(xc.len(), 0.0);
            affine_act(isa, xc, yc, a, shift[ch] - mean * a, act);
            scatter(shape, ch, yc, &out);
            channel.1 = (mean, var);
        });
    });
    let (mean, var) = stats.into_iter().map(|(_, s)| s).unzip();
    NormForward { y, mean, var }
}

/// Channel `ch`'s maps of every image, one after the other, into `dst` (contiguous, so each pass over a channel
/// is one long vector loop even for 3×3 maps).
fn gather(shape: NormShape, ch: usize, src: &[f32], dst: &mut Vec<f32>) {
    let hw = shape.hw;
    dst.resize(shape.count(), 0.0);
    for (b, map) in dst.chunks_exact_mut(hw).enumerate() {
        map.copy_from_slice(&src[(b * shape.channels + ch) * hw..][..hw]);
    }
}

/// The inverse of [`gather`]: `src` back to channel `ch`'s maps in `dst`.
fn scatter(shape: NormShape, ch: usize, src: &[f32], dst: &par::Disjoint) {
    let hw = shape.hw;
    for (b, map) in src.chunks_exact(hw).enumerate() {
        // SAFETY: channel `ch` writes only its own maps, which no other channel touches.
        unsafe { dst.slice((b * shape.channels + ch) * hw, hw) }.copy_from_slice(map);
    }
}

/// `act(scale · (x − mean) / √(var + eps) + shift)` with given per-channel statistics (evaluation mode).
#[allow(clippy::too_many_arguments)]
pub fn norm_act_eval(
    shape: NormShape,
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
    act: NormAct,
) -> Vec<f32> {
    let (c, hw) = (shape.channels, shape.hw);
    assert!(x.len() == shape.len() && [scale, shift, mean, var].iter().all(|v| v.len() == c));
    let isa = Isa::detect();
    let mut y = vec![0.0; x.len()];
    let mut images: Vec<(usize, &mut [f32])> = y.chunks_mut((c * hw).max(1)).enumerate().collect();
    let a: Vec<f32> = (0..c).map(|ch| scale[ch] / (var[ch] + eps).sqrt()).collect();
    let b: Vec<f32> = (0..c).map(|ch| shift[ch] - mean[ch] * a[ch]).collect();
    par::for_each(&mut images, |(img, out)| {
        affine_act_maps(isa, &x[*img * c * hw..][..c * hw], out, &a, &b, act);
    });
    y
}

isa_dispatch! {
    /// `Σ (v − center)²` if `square`, else `Σ v`.
    fn sum_dev(v: &[f32], center: f32, square: bool) -> f32 => sum_dev_generic { avx512: [], avx2: [], portable: [] }
}

/// Pieces of an elementwise pass: long enough to amortise a task, short enough to spread over the threads.
const ACT_PIECE: usize = 16 * 1024;

/// `act(x)` elementwise.
pub fn act_forward(x: &[f32], act: NormAct) -> Vec<f32> {
    let isa = Isa::detect();
    let mut y = vec![0.0; x.len()];
    let mut pieces: Vec<(usize, &mut [f32])> = y.chunks_mut(ACT_PIECE).enumerate().collect();
    par::for_each(&mut pieces, |(i, out)| {
        let n = out.len();
        affine_act(isa, &x[*i * ACT_PIECE..][..n], out, 1.0, 0.0, act);
    });
    y
}

/// The gradient of [`act_forward`]: `dy · act'(x)`.
pub fn act_backward(x: &[f32], dy: &[f32], act: NormAct) -> Vec<f32> {
    assert_eq!(x.len(), dy.len());
    let isa = Isa::detect();
    let mut dx = dy.to_vec();
    let mut pieces: Vec<(usize, &mut [f32])> = dx.chunks_mut(ACT_PIECE).enumerate().collect();
    par::for_each(&mut pieces, |(i, g)| {
        let n = g.len();
        grad_pre(isa, &x[*i * ACT_PIECE..][..n], g, 1.0, 0.0, 0.0, 1.0, act);
    });
    dx
}

isa_dispatch! {
    /// `out = act(a[c] · v + b[c])` over the consecutive maps of channels `c = 0, 1, …` of one image.
    fn affine_act_maps(v: &[f32], out: &mut [f32], a: &[f32], b: &[f32], act: NormAct)
        => affine_act_maps_generic { avx512: [], avx2: [], portable: [] }
}

isa_dispatch! {
    /// `out = act(a · v + b)`.
    fn affine_act(v: &[f32], out: &mut [f32], a: f32, b: f32, act: NormAct)
        => affine_act_generic { avx512: [], avx2: [], portable: [] }
}

isa_dispatch! {
    /// The backward pass over a channel, first half: `g ← g · act'(a·x + b)` (the output gradient becomes dz);
    /// returns (Σ dz, Σ dz·x̂) with x̂ = (x − mean) · rstd.
    fn grad_pre(x: &[f32], g: &mut [f32], a: f32, b: f32, mean: f32, rstd: f32, act: NormAct) -> (f32, f32)
        => grad_pre_generic { avx512: [], avx2: [], portable: [] }
}

isa_dispatch! {
    /// Second half: `g ← k · (g − m_dz − x̂ · m_dzx)` (dz becomes the input gradient).
    fn grad_input(x: &[f32], g: &mut [f32], k: f32, m_dz: f32, m_dzx: f32, mean: f32, rstd: f32)
        => grad_input_generic { avx512: [], avx2: [], portable: [] }
}

#[inline(always)]
fn sum_dev_generic<S: Simd>(v: &[f32], center: f32, square: bool) -> f32 {
    /// Over whole blocks of `U` vectors; returns the sum and how many values it covered.
    #[inline(always)]
    fn run<S: Simd, const U: usize>(v: &[f32], center: f32, square: bool) -> (f32, usize) {
        let (mut acc, c) = ([S::zero(); U], S::splat(center));
        let step = U * S::LANES;
        let whole = v.len() / step * step;
        for i in (0..whole).step_by(step) {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + step ≤ whole ≤ v.len().
                let x = unsafe { S::load(v.as_ptr().add(i + j * S::LANES)) };
                *acc = if square {
                    let d = S::sub(x, c);
                    S::fma(d, d, *acc)
                } else {
                    S::add(*acc, x)
                };
            }
        }
        let mut sum = 0.0;
        for a in acc {
            sum += S::hsum(a);
        }
        (sum, whole)
    }
    let (sum, whole) = run::<S, 4>(v, center, square);
    sum + run::<Scalar, 1>(&v[whole..], center, square).0
}

/// The activation and its derivative, generic over the vector width.
#[inline(always)]
fn activate<S: Simd>(u: S::V, act: NormAct) -> S::V {
    match act {
        NormAct::None => u,
        NormAct::Relu => S::select_gt(u, S::zero(), u, S::zero()),
        NormAct::Gelu => {
            let cdf =
                S::fma(erf::<S>(S::mul(u, S::splat(std::f32::consts::FRAC_1_SQRT_2))), S::splat(0.5), S::splat(0.5));
            S::mul(u, cdf)
        }
    }
}

#[inline(always)]
fn derivative<S: Simd>(u: S::V, act: NormAct) -> S::V {
    match act {
        NormAct::None => S::splat(1.0),
        NormAct::Relu => S::select_gt(u, S::zero(), S::splat(1.0), S::zero()),
        NormAct::Gelu => {
            // Φ(u) + u·φ(u), φ(u) = e^(−u²/2) / √(2π).
            let cdf =
                S::fma(erf::<S>(S::mul(u, S::splat(std::f32::consts::FRAC_1_SQRT_2))), S::splat(0.5), S::splat(0.5));
            let pdf = S::mul(exp::<S>(S::mul(S::mul(u, u), S::splat(-0.5))), S::splat(0.398_942_3));
            S::fma(u, pdf, cdf)
        }
    }
}

#[inline(always)]
fn affine_act_maps_generic<S: Simd>(v: &[f32], out: &mut [f32], a: &[f32], b: &[f32], act: NormAct) {
    let hw = v.len() / a.len().max(1);
    for c in 0..a.len() {
        let range = c * hw..(c + 1) * hw;
        affine_act_generic::<S>(&v[range.clone()], &mut out[range], a[c], b[c], act);
    }
}

#[inline(always)]
fn affine_act_generic<S: Simd>(v: &[f32], out: &mut [f32], a: f32, b: f32, act: NormAct) {
    #[inline(always)]
    fn run<S: Simd>(v: &[f32], out: &mut [f32], a: f32, b: f32, act: NormAct) -> usize {
        let whole = v.len() / S::LANES * S::LANES;
        let (a, b) = (S::splat(a), S::splat(b));
        for i in (0..whole).step_by(S::LANES) {
            // SAFETY: i + LANES ≤ whole ≤ len of both.
            unsafe { S::store(out.as_mut_ptr().add(i), activate::<S>(S::fma(S::load(v.as_ptr().add(i)), a, b), act)) };
        }
        whole
    }
    assert_eq!(v.len(), out.len());
    let whole = run::<S>(v, out, a, b, act);
    run::<Scalar>(&v[whole..], &mut out[whole..], a, b, act);
}

#[inline(always)]
fn grad_pre_generic<S: Simd>(
    x: &[f32],
    g: &mut [f32],
    a: f32,
    b: f32,
    mean: f32,
    rstd: f32,
    act: NormAct,
) -> (f32, f32) {
    /// Over whole vectors; returns the two sums and how many values it covered.
    #[inline(always)]
    fn run<S: Simd>(x: &[f32], g: &mut [f32], a: f32, b: f32, mean: f32, rstd: f32, act: NormAct) -> (f32, f32, usize) {
        let whole = x.len() / S::LANES * S::LANES;
        let (a, b, mean, rstd) = (S::splat(a), S::splat(b), S::splat(mean), S::splat(rstd));
        let (mut s, mut sx) = (S::zero(), S::zero());
        for i in (0..whole).step_by(S::LANES) {
            // SAFETY: i + LANES ≤ whole ≤ len of both.
            unsafe {
                let xv = S::load(x.as_ptr().add(i));
                let dz = S::mul(S::load(g.as_ptr().add(i)), derivative::<S>(S::fma(xv, a, b), act));
                S::store(g.as_mut_ptr().add(i), dz);
                s = S::add(s, dz);
                sx = S::fma(dz, S::mul(S::sub(xv, mean), rstd), sx);
            }
        }
        (S::hsum(s), S::hsum(sx), whole)
    }
    assert_eq!(x.len(), g.len());
    let (s, sx, whole) = run::<S>(x, g, a, b, mean, rstd, act);
    let (t, tx, _) = run::<Scalar>(&x[whole..], &mut g[whole..], a, b, mean, rstd, act);
    (s + t, sx + tx)
}

#[inline(always)]
fn grad_input_generic<S: Simd>(x: &[f32], g: &mut [f32], k: f32, m_dz: f32, m_dzx: f32, mean: f32, rstd: f32) {
    #[inline(always)]
    fn run<S: Simd>(x: &[f32], g: &mut [f32], k: f32, m_dz: f32, m_dzx: f32, mean: f32, rstd: f32) -> usize {
        let whole = x.len() / S::LANES * S::LANES;
        let (k, m_dz, m_dzx, mean, rstd) =
            (S::splat(k), S::splat(m_dz), S::splat(m_dzx), S::splat(mean), S::splat(rstd));
        for i in (0..whole).step_by(S::LANES) {
            // SAFETY: i + LANES ≤ whole ≤ len of both.
            unsafe {
                let xhat = S::mul(S::sub(S::load(x.as_ptr().add(i)), mean), rstd);
                let dz = S::sub(S::sub(S::load(g.as_ptr().add(i)), m_dz), S::mul(xhat, m_dzx));
                S::store(g.as_mut_ptr().add(i), S::mul(dz, k));
            }
        }
        whole
    }
    assert_eq!(x.len(), g.len());
    let whole = run::<S>(x, g, k, m_dz, m_dzx, mean, rstd);
    run::<Scalar>(&x[whole..], &mut g[whole..], k, m_dz, m_dzx, mean, rstd);
}

/// Backward pass of [`norm_act_forward`] from its input `x`, the output gradient `dy` and the batch statistics
/// it returned.
#[allow(clippy::too_many_arguments)]
pub fn norm_act_backward(
    shape: NormShape,
    x: &[f32],
    dy: &[f32],
    scale: &[f32],
    shift: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
    act: NormAct,
) -> NormGrads {
    norm_backward_isa(Isa::detect(), shape, x, dy, scale, shift, mean, var, eps, act)
}

/// [`norm_act_backward`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn norm_backward_isa(
    isa: Isa,
    shape: NormShape,
    x: &[f32],
    dy: &[f32],
    scale: &[f32],
    shift: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
    act: NormAct,
) -> NormGrads {
    let c = shape.channels;
    assert!(x.len() == shape.len() && dy.len() == x.len());
    assert!([scale, shift, mean, var].iter().all(|v| v.len() == c));
    let mut dx = vec![0.0; x.len()];
    let mut sums: Vec<(usize, (f32, f32))> = (0..c).map(|ch| (ch, (0.0, 0.0))).collect();
    let out = par::Disjoint::new(&mut dx);
    let n = shape.count() as f32;
    par::for_each(&mut sums, |channel| {
        let (ch, result) = (channel.0, &mut channel.1);
        let rstd = 1.0 / (var[ch] + eps).sqrt();
        let a = scale[ch] * rstd;
        let b = shift[ch] - mean[ch] * a;
        par::with_scratch(|xc, gc| {
            gather(shape, ch, x, xc);
            gather(shape, ch, dy, gc);
            // In place: the output gradient becomes dz = dy · act'(u), then the input gradient.
            let (s, sx) = grad_pre(isa, xc, gc, a, b, mean[ch], rstd, act);
            let (m_dz, m_dzx) = (s / n, sx / n);
            grad_input(isa, xc, gc, a, m_dz, m_dzx, mean[ch], rstd);
            scatter(shape, ch, gc, &out);
            // Σ dz is the shift's gradient; Σ dz·x̂ the scale's.
            *result = (sx, s);
        });
    });
    let (dscale, dshift) = sums.into_iter().map(|(_, s)| s).unzip();
    NormGrads { x: dx, scale: dscale, shift: dshift }
}
