//! A built-in, download-free CIFAR-sized data set of ten shape and pattern families.
//!
//! Each image is one shape drawn over a random background. The class decides the family (disc, square, …); the
//! position, size, rotation, family parameters (ring width, star depth, stripe count, …), colours, background
//! texture, edge softness, contrast and pixel noise are random per image, and some images get a small distractor
//! shape behind the main one or a bar occluding part of it. Foreground hues lean towards a class (within ±0.12 of
//! the colour wheel, so neighbouring classes overlap, and desaturated draws carry little hue at all): colour is a
//! quick first cue, shape is needed beyond it, and the hardest draws (low contrast, occlusion, a shape half out of
//! frame) keep a small CNN well short of 100%.
//!
//! Shapes are signed distance functions, so edges are anti-aliased by coverage: a pixel is covered in proportion
//! to how far inside the edge its centre lies, over a soft band a pixel or two wide.

use std::f32::consts::{FRAC_PI_4, TAU};

use crate::rng::Rng;

use super::{DataSplits, Dataset, IMAGE_BYTES, IMAGE_SIDE, PLANE};

pub const SYNTHETIC_CLASSES: [&str; 10] =
    ["disc", "square", "triangle", "ring", "cross", "star", "bars", "stripes", "checker", "blobs"];

/// Which half of the synthetic set an image belongs to; the halves are independent draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

const DISTRACTOR_PROBABILITY: f32 = 0.2;
const OCCLUDER_PROBABILITY: f32 = 0.1;
/// How far a class's foreground hue may stray from the class's own hue, as a fraction of the colour wheel.
const HUE_SPREAD: f32 = 0.12;

type Rgb = [f32; 3];

/// The synthetic set, named "synthetic": `n_train` and `n_test` images with classes in rotation (image `i` has
/// class `i % 10`), so every prefix is balanced.
pub fn synthetic(seed: u64, n_train: usize, n_test: usize) -> DataSplits {
    DataSplits {
        name: "synthetic".to_string(),
        train: generate(seed, Split::Train, n_train),
        test: generate(seed, Split::Test, n_test),
    }
}

fn generate(seed: u64, split: Split, n: usize) -> Dataset {
    // Checked: on wasm32 a size past DatasetSpec's ranges would wrap to a small buffer instead of failing.
    let bytes = n.checked_mul(IMAGE_BYTES).expect("synthetic sizes are validated (DatasetSpec::validate)");
    let mut images = vec![0; bytes];
    let mut labels = vec![0; n];
    // About half a millisecond an image, so 10,000 test images take seconds: natively they are drawn on all cores.
    let render = |(i, (out, label)): (usize, (&mut [u8], &mut u16))| *label = synthetic_image(seed, split, i, out);
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        images.par_chunks_exact_mut(IMAGE_BYTES).zip(labels.par_iter_mut()).enumerate().for_each(render);
    }
    #[cfg(target_arch = "wasm32")]
    images.chunks_exact_mut(IMAGE_BYTES).zip(labels.iter_mut()).enumerate().for_each(render);
    Dataset {
        images,
        labels,
        num_classes: SYNTHETIC_CLASSES.len(),
        class_names: SYNTHETIC_CLASSES.iter().map(|s| s.to_string()).collect(),
    }
}

/// Render image `index` of `split` into `out` (`IMAGE_BYTES` long, CIFAR layout) and return its label. The image
/// depends only on `(seed, split, index)`, so images can be made in any order, in parallel, or one at a time.
pub fn synthetic_image(seed: u64, split: Split, index: usize, out: &mut [u8]) -> u16 {
    let class = index % SYNTHETIC_CLASSES.len();
    let stream = match split {
        Split::Train => "synthetic/train",
        Split::Test => "synthetic/test",
    };
    let mut rng = Rng::stream(seed, stream).fork(index as u64);

    let mut canvas = Canvas::background(&mut rng);
    if rng.bernoulli(DISTRACTOR_PROBABILITY) {
        let family = rng.below(SYNTHETIC_CLASSES.len() as u32) as usize;
        let distractor = Shape::random(family, rng.range_f32(2.5, 4.5), &mut rng);
        let colour = random_colour(rng.uniform(), &mut rng);
        canvas.draw(&distractor, colour, [0.0; 2]);
    }
    let shape = Shape::random(class, rng.range_f32(7.0, 12.0), &mut rng);
    let class_hue = class as f32 / SYNTHETIC_CLASSES.len() as f32;
    let colour = random_colour(class_hue + rng.range_f32(-HUE_SPREAD, HUE_SPREAD), &mut rng);
    let shading = [rng.range_f32(-0.3, 0.3), rng.range_f32(-0.3, 0.3)];
    canvas.draw(&shape, colour, shading);
    if rng.bernoulli(OCCLUDER_PROBABILITY) {
        let occluder = shape.occluder(&mut rng);
        let colour = random_colour(rng.uniform(), &mut rng);
        canvas.draw(&occluder, colour, [0.0; 2]);
    }
    canvas.finish(&mut rng, out);
    class as u16
}

/// A moderately saturated colour of the given hue (wrapping) with random saturation and brightness.
fn random_colour(hue: f32, rng: &mut Rng) -> Rgb {
    let saturation = rng.range_f32(0.3, 1.0);
    let value = rng.range_f32(0.35, 1.0);
    hsv(hue, saturation, value)
}

fn hsv(hue: f32, saturation: f32, value: f32) -> Rgb {
    let h = hue.rem_euclid(1.0) * 6.0;
    let chroma = value * saturation;
    let x = chroma * (1.0 - ((h % 2.0) - 1.0).abs());
    let m = value - chroma;
    let [r, g, b] = match h as u32 {
        0 => [chroma, x, 0.0],
        1 => [x, chroma, 0.0],
        2 => [0.0, chroma, x],
        3 => [0.0, x, chroma],
        4 => [x, 0.0, chroma],
        _ => [chroma, 0.0, x],
    };
    [r + m, g + m, b + m]
}

fn lerp(a: Rgb, b: Rgb, t: f32) -> Rgb {
    std::array::from_fn(|c| a[c] + (b[c] - a[c]) * t)
}

/// A shape family with its parameters, as a signed distance function in shape units: the shape fits in a circle
/// of radius about 1 around the origin, negative inside.
#[derive(Clone, Copy, Debug)]
enum Form {
    Disc,
    Rect { half_width: f32, half_height: f32 },
    Triangle,
    Ring { inner: f32 },
    Cross { arm: f32 },
    Star { depth: f32 },
    Bars { count: f32 },
    Stripes { count: f32 },
    Checker { cells: f32 },
    Blobs { gap: f32, small: f32 },
}

impl Form {
    /// The family of class `class` with random parameters, and its rotation.
    fn random(class: usize, rng: &mut Rng) -> (Form, f32) {
        let form = match class {
            0 => Form::Disc,
            1 => {
                let aspect = rng.range_f32(0.85, 1.15);
                Form::Rect { half_width: 0.8 * aspect, half_height: 0.8 / aspect }
            }
            2 => Form::Triangle,
            3 => Form::Ring { inner: rng.range_f32(0.35, 0.7) },
            4 => Form::Cross { arm: rng.range_f32(0.22, 0.4) },
            5 => Form::Star { depth: rng.range_f32(0.3, 0.6) },
            6 => Form::Bars { count: (3 + rng.below(2)) as f32 },
            7 => Form::Stripes { count: (4 + rng.below(3)) as f32 },
            8 => Form::Checker { cells: (3 + rng.below(2)) as f32 },
            _ => Form::Blobs { gap: rng.range_f32(0.0, 0.5), small: rng.range_f32(0.35, 0.55) },
        };
        // Bars stay roughly horizontal and stripes roughly diagonal: orientation is part of those classes.
        let angle = match form {
            Form::Bars { .. } => rng.range_f32(-0.3, 0.3),
            Form::Stripes { .. } => {
                let diagonal = if rng.bernoulli(0.5) { FRAC_PI_4 } else { -FRAC_PI_4 };
                diagonal + rng.range_f32(-0.3, 0.3)
            }
            _ => rng.range_f32(0.0, TAU),
        };
        (form, angle)
    }

    /// Radius of a circle around the origin that holds the whole shape.
    fn extent(self) -> f32 {
        match self {
            Form::Rect { half_width, half_height } => half_width.hypot(half_height),
            Form::Triangle => 1.16,
            Form::Cross { arm } => arm.hypot(1.0),
            Form::Bars { .. } | Form::Checker { .. } => 1.35,
            Form::Blobs { gap, .. } => 1.0 + gap,
            Form::Disc | Form::Ring { .. } | Form::Star { .. } | Form::Stripes { .. } => 1.0,
        }
    }

    /// Signed distance from `(u, v)` to the shape's edge, negative inside. Exact for most families; the star and
    /// the pattern edges are close approximations, which only affects how soft an edge looks.
    fn distance(self, u: f32, v: f32) -> f32 {
        match self {
            Form::Disc => length(u, v) - 1.0,
            Form::Rect { half_width, half_height } => rect(u, v, half_width, half_height),
            Form::Triangle => triangle(u, v),
            Form::Ring { inner } => (length(u, v) - (1.0 + inner) / 2.0).abs() - (1.0 - inner) / 2.0,
            Form::Cross { arm } => rect(u, v, 1.0, arm).min(rect(u, v, arm, 1.0)),
            Form::Star { depth } => {
                // Radius 1 at the five tips and 1 - depth between them; cos 5θ from cos θ avoids an atan2.
                let r = length(u, v);
                let c = if r > 1e-6 { u / r } else { 1.0 };
                let cos5 = c * (16.0 * c.powi(4) - 20.0 * c * c + 5.0);
                // Scaled down because the radius changes quickly with angle, so the radial gap overstates distance.
                0.7 * (r - (1.0 - depth * 0.5 * (1.0 - cos5)))
            }
            Form::Bars { count } => rect(u, v, 1.0, 0.9).max(stripes(v, 0.9, count)),
            Form::Stripes { count } => (length(u, v) - 1.0).max(stripes(v, 1.0, count)),
            Form::Checker { cells } => rect(u, v, 0.9, 0.9).max(checker(u, v, 0.9, cells)),
            Form::Blobs { gap, small } => {
                let big = length(u + 0.4 + gap / 2.0, v) - 0.55;
                let little = length(u - 0.4 - gap / 2.0, v) - small;
                smooth_min(big, little, 0.2)
            }
        }
    }
}

/// `hypot` without its overflow care, which shape-sized numbers do not need and which costs several times more.
fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

fn rect(u: f32, v: f32, half_width: f32, half_height: f32) -> f32 {
    let (qu, qv) = (u.abs() - half_width, v.abs() - half_height);
    length(qu.max(0.0), qv.max(0.0)) + qu.max(qv).min(0.0)
}

/// Equilateral triangle centred on the origin with circumradius 2/√3 (after Inigo Quilez's formula).
fn triangle(u: f32, v: f32) -> f32 {
    let k = 3f32.sqrt();
    let (mut px, mut py) = (u.abs() - 1.0, v + 1.0 / k);
    if px + k * py > 0.0 {
        (px, py) = ((px - k * py) / 2.0, (-k * px - py) / 2.0);
    }
    px -= px.clamp(-2.0, 0.0);
    -length(px, py) * py.signum()
}

/// `count` bands across `-half..half` along `v`, each half a period thick and centred in its period.
fn stripes(v: f32, half: f32, count: f32) -> f32 {
    let period = 2.0 * half / count;
    let t = (v + half) / period;
    ((t - t.floor() - 0.5).abs() - 0.25) * period
}

/// A `cells`×`cells` checkerboard over `-half..half` in both directions.
fn checker(u: f32, v: f32, half: f32, cells: f32) -> f32 {
    let cell = 2.0 * half / cells;
    let (cu, cv) = ((u + half) / cell, (v + half) / cell);
    let edge = |t: f32| 0.5 - (t - t.floor() - 0.5).abs();
    let to_edge = edge(cu).min(edge(cv)) * cell;
    let dark = (cu.floor() + cv.floor()).rem_euclid(2.0) < 0.5;
    if dark { -to_edge } else { to_edge }
}

/// Union of two distance fields that melts them together near where they meet.
fn smooth_min(a: f32, b: f32, k: f32) -> f32 {
    let h = (k - (a - b).abs()).max(0.0) / k;
    a.min(b) - h * h * k / 4.0
}

/// A form placed in the image.
struct Shape {
    form: Form,
    centre: [f32; 2],
    /// Pixels per shape unit.
    scale: f32,
    cos: f32,
    sin: f32,
    /// Width of the anti-aliased edge band, in pixels.
    softness: f32,
}

impl Shape {
    /// A random member of family `class`, `scale` pixels per unit, placed so that most of it is in frame.
    fn random(class: usize, scale: f32, rng: &mut Rng) -> Shape {
        let (form, angle) = Form::random(class, rng);
        let margin = 0.7 * scale;
        let mut coordinate = || rng.range_f32(margin, IMAGE_SIDE as f32 - margin);
        let centre = [coordinate(), coordinate()];
        Shape { form, centre, scale, cos: angle.cos(), sin: angle.sin(), softness: rng.range_f32(0.8, 2.0) }
    }

    /// A long bar of random colour crossing this shape somewhere near its middle.
    fn occluder(&self, rng: &mut Rng) -> Shape {
        let form = Form::Rect { half_width: rng.range_f32(0.12, 0.3), half_height: 3.0 };
        let mut offset = || rng.range_f32(-0.9, 0.9) * self.scale;
        let centre = [self.centre[0] + offset(), self.centre[1] + offset()];
        let angle = rng.range_f32(0.0, TAU);
        Shape { form, centre, scale: self.scale, cos: angle.cos(), sin: angle.sin(), softness: 1.0 }
    }

    /// Shape-unit coordinates of image point `(x, y)`.
    fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        ((dx * self.cos + dy * self.sin) / self.scale, (dy * self.cos - dx * self.sin) / self.scale)
    }

    /// Fraction of the pixel centred at `(x, y)` that the shape covers.
    fn coverage(&self, u: f32, v: f32) -> f32 {
        (0.5 - self.form.distance(u, v) * self.scale / self.softness).clamp(0.0, 1.0)
    }

    /// The pixel rows or columns `lo..hi` that the shape can touch along one axis.
    fn pixel_range(&self, axis: usize) -> std::ops::Range<usize> {
        let reach = self.form.extent() * self.scale + self.softness;
        let clamp = |t: f32| t.clamp(0.0, IMAGE_SIDE as f32) as usize;
        clamp((self.centre[axis] - reach).floor())..clamp((self.centre[axis] + reach).ceil())
    }
}

/// Set every pixel to `colour_at(x, y)`.
fn paint(pixels: &mut [Rgb; PLANE], mut colour_at: impl FnMut(f32, f32) -> Rgb) {
    for (i, pixel) in pixels.iter_mut().enumerate() {
        *pixel = colour_at((i % IMAGE_SIDE) as f32, (i / IMAGE_SIDE) as f32);
    }
}

/// An image being painted, in linear `[0, 1]` RGB, pixel-interleaved.
struct Canvas {
    pixels: [Rgb; PLANE],
}

impl Canvas {
    /// One of three background textures in random colours: a linear gradient, smooth blotches (bilinear value
    /// noise on a 4×4 grid), or soft stripes.
    fn background(rng: &mut Rng) -> Canvas {
        let mut colour = || {
            let (hue, saturation, value) = (rng.uniform(), rng.range_f32(0.0, 0.7), rng.range_f32(0.15, 0.95));
            hsv(hue, saturation, value)
        };
        let (a, b) = (colour(), colour());
        let angle = rng.range_f32(0.0, TAU);
        let (cos, sin) = (angle.cos(), angle.sin());
        let side = IMAGE_SIDE as f32;
        let mut pixels = [[0.0; 3]; PLANE];
        match rng.below(3) {
            0 => paint(&mut pixels, |x, y| {
                let t = ((x - side / 2.0) * cos + (y - side / 2.0) * sin) / side + 0.5;
                lerp(a, b, t.clamp(0.0, 1.0))
            }),
            1 => {
                const GRID: usize = 4;
                let jitter = rng.range_f32(0.15, 0.5);
                let nodes: Vec<Rgb> =
                    (0..GRID * GRID).map(|_| std::array::from_fn(|c| a[c] + jitter * (rng.uniform() - 0.5))).collect();
                let step = (side - 1.0) / (GRID - 1) as f32;
                paint(&mut pixels, |x, y| {
                    let (gx, gy) = (x / step, y / step);
                    let (ix, iy) = ((gx as usize).min(GRID - 2), (gy as usize).min(GRID - 2));
                    let (fx, fy) = (gx - ix as f32, gy - iy as f32);
                    let node = |dx: usize, dy: usize| nodes[(iy + dy) * GRID + ix + dx];
                    lerp(lerp(node(0, 0), node(1, 0), fx), lerp(node(0, 1), node(1, 1), fx), fy)
                })
            }
            _ => {
                // Faint, so a striped background is not mistaken for the striped shape families.
                let b = lerp(a, b, 0.35);
                let period = rng.range_f32(3.0, 9.0);
                let phase = rng.uniform();
                paint(&mut pixels, |x, y| {
                    let t = (x * cos + y * sin) / period + phase;
                    let triangle_wave = 2.0 * (t - t.floor() - 0.5).abs();
                    lerp(a, b, triangle_wave * triangle_wave * (3.0 - 2.0 * triangle_wave))
                })
            }
        }
        Canvas { pixels }
    }

    /// Paint `shape` in `colour`, brightened or darkened linearly across it by `shading` (per shape unit along x
    /// and y) as if lit from one side.
    fn draw(&mut self, shape: &Shape, colour: Rgb, shading: [f32; 2]) {
        for y in shape.pixel_range(1) {
            for x in shape.pixel_range(0) {
                let (u, v) = shape.local(x as f32 + 0.5, y as f32 + 0.5);
                let alpha = shape.coverage(u, v);
                if alpha > 0.0 {
                    let light = 1.0 + shading[0] * u + shading[1] * v;
                    let pixel = &mut self.pixels[y * IMAGE_SIDE + x];
                    *pixel = std::array::from_fn(|c| pixel[c] + (colour[c] * light - pixel[c]) * alpha);
                }
            }
        }
    }

    /// Apply a random contrast and brightness change and per-pixel noise, and write the CIFAR-layout bytes.
    fn finish(&self, rng: &mut Rng, out: &mut [u8]) {
        let contrast = rng.range_f32(0.75, 1.15);
        let brightness = rng.range_f32(-0.08, 0.08);
        // Uniform noise, one 10-bit draw per channel from a single u32 per pixel; √12 scales it to unit variance.
        let sigma = rng.range_f32(0.01, 0.07) * 12f32.sqrt();
        for (i, pixel) in self.pixels.iter().enumerate() {
            let bits = rng.next_u32();
            for (c, value) in pixel.iter().enumerate() {
                let noise = ((bits >> (10 * c)) & 0x3ff) as f32 / 1024.0 - 0.5;
                let v = (value - 0.5) * contrast + 0.5 + brightness + sigma * noise;
                out[c * PLANE + i] = (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_images_are_independent() {
        let a = synthetic(7, 300, 50);
        let b = synthetic(7, 300, 50);
        assert_eq!((a.name.as_str(), a.train.len(), a.test.len()), ("synthetic", 300, 50));
        assert_eq!(a.train.images, b.train.images);
        assert_eq!(a.test.images, b.test.images);
        assert_ne!(synthetic(8, 300, 0).train.images, a.train.images);
        assert_ne!(a.test.images[..IMAGE_BYTES], a.train.images[..IMAGE_BYTES]);

        // An image depends only on (seed, split, index): rendering one alone, or from a longer set, agrees.
        let mut alone = vec![0; IMAGE_BYTES];
        assert_eq!(synthetic_image(7, Split::Train, 123, &mut alone), a.train.labels[123]);
        assert_eq!(alone, a.train.image(123));
        assert_eq!(synthetic(7, 1000, 0).train.images[..300 * IMAGE_BYTES], a.train.images[..]);
    }

    #[test]
    fn classes_are_balanced_and_named() {
        let ds = synthetic(3, 1000, 0).train;
        assert_eq!(ds.class_counts(), [100; 10]);
        assert_eq!(ds.class_names, SYNTHETIC_CLASSES);
        assert_eq!(synthetic(3, 25, 0).train.class_counts(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn generation_is_fast() {
        // A debug build is many times slower, so it only makes a smaller set.
        let (n_train, n_test) = if cfg!(debug_assertions) { (1000, 200) } else { (10_000, 2_000) };
        let start = std::time::Instant::now();
        let splits = synthetic(1, n_train, n_test);
        let elapsed = start.elapsed();
        eprintln!("synthetic: {n_train} train + {n_test} test images in {elapsed:.2?}");
        assert_eq!(splits.train.len() + splits.test.len(), n_train + n_test);
        assert!(elapsed.as_secs_f32() < 10.0, "{elapsed:?}");
    }

    /// Mean colour alone should say little about the class: a nearest-centroid classifier on it stays far from
    /// the shape information a CNN can use.
    #[test]
    fn colour_is_only_a_weak_cue() {
        let splits = synthetic(4, 2000, 1000);
        let mean_colour = |image: &[u8]| -> [f32; 3] {
            std::array::from_fn(|c| {
                image[c * PLANE..(c + 1) * PLANE].iter().map(|&p| p as f32).sum::<f32>() / PLANE as f32
            })
        };
        let mut centroids = [[0.0f32; 3]; 10];
        for i in 0..splits.train.len() {
            let colour = mean_colour(splits.train.image(i));
            let centroid = &mut centroids[splits.train.labels[i] as usize];
            for c in 0..3 {
                centroid[c] += colour[c] / 200.0;
            }
        }
        let correct = (0..splits.test.len())
            .filter(|&i| {
                let colour = mean_colour(splits.test.image(i));
                let distance = |k: &usize| (0..3).map(|c| (colour[c] - centroids[*k][c]).powi(2)).sum::<f32>();
                let nearest = (0..10).min_by(|a, b| distance(a).total_cmp(&distance(b))).unwrap();
                nearest == splits.test.labels[i] as usize
            })
            .count();
        let accuracy = correct as f32 / splits.test.len() as f32;
        eprintln!("synthetic: nearest mean colour accuracy {accuracy:.3}");
        assert!(accuracy < 0.3, "{accuracy}");
    }

    #[test]
    fn shapes_are_inside_their_extent() {
        let mut rng = Rng::new(6);
        for class in 0..SYNTHETIC_CLASSES.len() {
            for _ in 0..20 {
                let (form, _) = Form::random(class, &mut rng);
                let inside = |u: f32, v: f32| form.distance(u, v) < 0.0;
                assert!(inside(0.0, 0.0) || !matches!(form, Form::Disc | Form::Rect { .. } | Form::Triangle));
                for step in 0..360 {
                    let angle = step as f32 * TAU / 360.0;
                    let r = form.extent() + 1e-3;
                    assert!(!inside(r * angle.cos(), r * angle.sin()), "{form:?} pokes out at {angle}");
                }
            }
        }
    }
}
