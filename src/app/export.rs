//! What the app writes and reads: curves as CSV, runs as JSON (its own and the CLI's), views as PNG.

use eframe::egui::ColorImage;

use super::session::Session;
use crate::procedure::Outcome;
use crate::results::{EnsembleResult, ImpResult, RunResult};

/// Every stage's train and test points: `stage,label,step,kind,loss,accuracy,lr`.
pub fn curves_csv(s: &Session) -> String {
    let mut out = String::from("stage,label,step,kind,loss,accuracy,lr\n");
    for (i, stage) in s.stages.iter().enumerate() {
        let label = stage.label.replace([',', '\n'], " ");
        for p in &stage.train {
            out += &format!("{i},{label},{},train,{},{},{}\n", p[0], p[1], p[2], p[3]);
        }
        for p in &stage.test {
            out += &format!("{i},{label},{},test,{},{},\n", p[0], p[1], p[2]);
        }
    }
    out
}

/// A saved run: the app's export, or the JSON the CLI writes (`train`, `train --method imp`, `ensemble`).
pub fn parse_saved_run(bytes: &[u8]) -> Result<Outcome, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not text (expected a ticketlab JSON result)")?;
    if let Ok(outcome) = serde_json::from_str::<Outcome>(text) {
        return Ok(outcome);
    }
    if let Ok(run) = serde_json::from_str::<RunResult>(text) {
        return Ok(Outcome::Run(Box::new(run)));
    }
    if let Ok(imp) = serde_json::from_str::<ImpResult>(text) {
        return Ok(Outcome::Imp(Box::new(imp)));
    }
    match serde_json::from_str::<EnsembleResult>(text) {
        Ok(ensemble) => Ok(Outcome::Ensemble(Box::new(ensemble))),
        Err(_) => Err("not a ticketlab result (a run, IMP rounds or an ensemble, as JSON)".into()),
    }
}

/// Encode a screenshot as PNG.
pub fn png(image: &ColorImage) -> Result<Vec<u8>, String> {
    let mut bytes = vec![];
    let [w, h] = image.size;
    let mut encoder = png::Encoder::new(&mut bytes, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|p| p.to_array()).collect();
    let mut writer = encoder.write_header().map_err(|e| format!("PNG: {e}"))?;
    writer.write_image_data(&rgba).map_err(|e| format!("PNG: {e}"))?;
    writer.finish().map_err(|e| format!("PNG: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [&b"\xff\xfe"[..], b"", b"{}", b"[1,2]", b"{\"procedure\":\"run\"}"] {
            assert!(parse_saved_run(bad).is_err());
        }
    }

    #[test]
    fn png_has_a_signature_and_the_size() {
        let image = ColorImage::new([3, 2], vec![eframe::egui::Color32::RED; 6]);
        let bytes = png(&image).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 3);
    }
}
