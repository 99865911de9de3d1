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
        for p in stage.train.iter() {
            out += &format!("{i},{label},{},train,{},{},{}\n", p[0], p[1], p[2], p[3]);
        }
        for p in &stage.test {
            out += &format!("{i},{label},{},test,{},{},\n", p[0], p[1], p[2]);
        }
    }
    out
}

/// A saved run: the app's export, the JSON the CLI writes (`train`, `train --method imp`, `ensemble`) or a job of
/// `reproduce`'s `jobs-cache/`. Anything that is not one, or is one that does not hold together, is an error naming
/// `file` and the problem; the viewer only ever sees a checked result.
pub fn parse_saved_run(file: &str, bytes: &[u8]) -> Result<Outcome, String> {
    let fail = |why: String| format!("{file}: {why}");
    let text = std::str::from_utf8(bytes).map_err(|_| fail("not text (expected a ticketlab JSON result)".into()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| fail(format!("not JSON ({e}); expected a ticketlab result")))?;
    // A job from a results page's `jobs-cache/` holds its result under `measured`: an outcome, or a run that was
    // then evaluated under corruptions.
    if let Some(measured) = value.get("measured") {
        let outcome = measured.get("Outcome").or_else(|| measured.get("Corrupted").and_then(|c| c.get("run")));
        let Some(outcome) = outcome.cloned() else {
            return Err(fail("a `reproduce` job that measured an error barrier, not a run the app can show".into()));
        };
        value = outcome;
    }
    // Which result it is, by a field only that kind has, so the error is the one that kind's loading gave.
    let field = |name: &str| value.get(name).is_some();
    let (what, outcome) = if field("procedure") {
        ("result", serde_json::from_value::<Outcome>(value))
    } else if field("rounds") {
        ("IMP result", serde_json::from_value::<ImpResult>(value).map(|r| Outcome::Imp(Box::new(r))))
    } else if field("members") {
        ("ensemble result", serde_json::from_value::<EnsembleResult>(value).map(|r| Outcome::Ensemble(Box::new(r))))
    } else if field("curves") {
        ("run", serde_json::from_value::<RunResult>(value).map(|r| Outcome::Run(Box::new(r))))
    } else {
        return Err(fail("not a ticketlab result (a run, IMP rounds or an ensemble, as JSON)".into()));
    };
    let outcome = outcome.map_err(|e| fail(format!("not a valid ticketlab {what}: {e}")))?;
    outcome.validate().map_err(fail)?;
    Ok(outcome)
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
    fn garbage_is_an_error_naming_the_file() {
        let barrier_job = br#"{"job":{},"seconds":1,"measured":{"Instability":{}}}"#;
        for bad in [&b"\xff\xfe"[..], b"", b"{}", b"[1,2]", b"{\"procedure\":\"run\"}", barrier_job] {
            let e = parse_saved_run("run.json", bad).unwrap_err();
            assert!(e.starts_with("run.json: "), "{e}");
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
