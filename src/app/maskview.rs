//! Masks as pictures: one image per layer, rows = output units, columns = the flattened inputs (input channel ×
//! kernel position), each pixel the share of active weights in its block. Against a previous mask, blocks that
//! gained connections tint green and blocks that lost them tint red.

use eframe::egui::{Color32, ColorImage};

use crate::mask::Bits;

/// Largest picture per layer; bigger layers are shown in blocks.
pub const MAX_COLS: usize = 256;
pub const MAX_ROWS: usize = 96;

/// The (rows, columns) grid of a weight of `shape` (conv: out × in·kh·kw; linear: out × in).
pub fn grid_of(shape: &[usize]) -> (usize, usize) {
    match shape {
        [] => (1, 1),
        [n] => (1, *n),
        [out, rest @ ..] => (*out, rest.iter().product()),
    }
}

/// The picture of one layer's mask (`bits` in the weight's row-major order), marking changes from `previous`.
pub fn layer_image(shape: &[usize], bits: &Bits, previous: Option<&Bits>) -> ColorImage {
    let (rows, cols) = grid_of(shape);
    let (rb, cb) = (rows.div_ceil(MAX_ROWS).max(1), cols.div_ceil(MAX_COLS).max(1));
    let (h, w) = (rows.div_ceil(rb), cols.div_ceil(cb));
    let mut pixels = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            let (mut n, mut active, mut grown, mut dropped) = (0u32, 0u32, 0u32, 0u32);
            for r in y * rb..((y + 1) * rb).min(rows) {
                for c in x * cb..((x + 1) * cb).min(cols) {
                    let i = r * cols + c;
                    let now = bits.get(i);
                    n += 1;
                    active += now as u32;
                    if let Some(p) = previous {
                        let was = p.get(i);
                        grown += (now && !was) as u32;
                        dropped += (was && !now) as u32;
                    }
                }
            }
            pixels.push(block_color(active as f32 / n as f32, grown as f32 / n as f32, dropped as f32 / n as f32));
        }
    }
    ColorImage::new([w, h], pixels)
}

/// Dark for active, light for pruned; green for regrown, red for dropped (either wins over plain density).
fn block_color(density: f32, grown: f32, dropped: f32) -> Color32 {
    let mix = |a: [f32; 3], b: [f32; 3], t: f32| -> [f32; 3] { std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t) };
    let base = mix([236.0, 236.0, 240.0], [30.0, 60.0, 120.0], density.clamp(0.0, 1.0));
    let with_grown = mix(base, [40.0, 190.0, 70.0], (grown * 4.0).min(1.0));
    let c = mix(with_grown, [220.0, 50.0, 40.0], (dropped * 4.0).min(1.0));
    Color32::from_rgb(c[0] as u8, c[1] as u8, c[2] as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_follow_the_weight_layout() {
        assert_eq!(grid_of(&[64, 32, 3, 3]), (64, 288));
        assert_eq!(grid_of(&[10, 128]), (10, 128));
    }

    #[test]
    fn small_layers_map_one_weight_per_pixel_and_mark_changes() {
        // 2 × 3: row 0 = 1 1 0, row 1 = 0 0 1; before: row 0 = 1 0 0, row 1 = 0 1 1.
        let now = Bits::from_bools([true, true, false, false, false, true]);
        let before = Bits::from_bools([true, false, false, false, true, true]);
        let img = layer_image(&[2, 3], &now, Some(&before));
        assert_eq!(img.size, [3, 2]);
        let active = block_color(1.0, 0.0, 0.0);
        assert_eq!(img.pixels[0], active, "kept");
        assert_eq!(img.pixels[1], block_color(1.0, 1.0, 0.0), "grown");
        assert_eq!(img.pixels[4], block_color(0.0, 0.0, 1.0), "dropped");
        assert_eq!(img.pixels[2], block_color(0.0, 0.0, 0.0), "never active");
        assert_ne!(img.pixels[1], active);
        assert_ne!(img.pixels[4], img.pixels[2]);
    }

    #[test]
    fn large_layers_are_shown_in_blocks_of_their_density() {
        let bits = Bits::from_bools((0..128 * 4096).map(|i| i % 4 == 0));
        let img = layer_image(&[128, 4096], &bits, None);
        assert!(img.size[0] <= MAX_COLS && img.size[1] <= MAX_ROWS);
        assert!(img.pixels.iter().all(|&p| p == block_color(0.25, 0.0, 0.0)));
    }
}
