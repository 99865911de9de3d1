//! The assignments that turn the default configuration into a given one: what links and result tables show.

use serde::Deserialize;
use serde_json::Value;

use super::{CODECS, KIND, join, parse_value, to_json};
use crate::config::TrainConfig;

/// The assignments, in text form, that turn `TrainConfig::default()` into `config`: `set_all` on the default with
/// them gives back `config` exactly. Groups that keep their kind are written setting by setting.
pub fn diff(config: &TrainConfig) -> Vec<(String, String)> {
    let target = to_json(config);
    let mut out = Vec::new();
    diff_fields(&target, "", &to_json(&TrainConfig::default()), &target, &mut out);
    out
}

/// Appends the assignments that turn the group `base` at `prefix` into the group `new`, where `root` is the
/// whole target configuration.
fn diff_fields(root: &Value, prefix: &str, base: &Value, new: &Value, out: &mut Vec<(String, String)>) {
    for (name, value) in new.as_object().into_iter().flatten() {
        let old = base.get(name);
        if old != Some(value) {
            diff_value(root, &join(prefix, name), old, value, out);
        }
    }
}

fn diff_value(root: &Value, path: &str, old: Option<&Value>, new: &Value, out: &mut Vec<(String, String)>) {
    let shown = CODECS.iter().find(|codec| codec.key == path).and_then(|codec| (codec.show)(new));
    if let Some(text) = shown.filter(|text| reads_back(root, path, old, text)) {
        out.push((path.to_string(), text));
        return;
    }
    let Value::Object(new_group) = new else {
        return out.push((path.to_string(), leaf_text(root, path, old, new)));
    };
    match old {
        Some(old @ Value::Object(old_group)) if old_group.get(KIND) == new_group.get(KIND) => {
            return diff_fields(root, path, old, new, out);
        }
        Some(old @ Value::Object(_)) => {
            if let Some(Value::String(kind)) = new_group.get(KIND)
                && let Ok(switched) = parse_value(path, Some(old), kind)
            {
                out.push((path.to_string(), kind.clone()));
                return diff_fields(root, path, &switched, new, out);
            }
            // A kind that does not switch on its own: clear the group and build it anew.
            out.push((path.to_string(), "null".into()));
        }
        _ => {}
    }
    // Setting by setting rather than as JSON, whose decimals serde_json may read one unit off.
    if new_group.is_empty() {
        out.push((path.to_string(), "{}".into()));
    } else {
        diff_fields(root, path, &Value::Null, new, out);
    }
}

/// The plainest text that, assigned where `old` stands, reads back as exactly `new`: the f32 `width` is written
/// `0.3`, not `0.30000001192092896`. Compact JSON when nothing plainer does.
pub(super) fn leaf_text(root: &Value, path: &str, old: Option<&Value>, new: &Value) -> String {
    let plain = match new {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            n.as_f64().filter(|&x| n.is_f64() && f64::from(x as f32) == x).map(|x| (x as f32).to_string())
        }
        _ => None,
    };
    plain
        .into_iter()
        .chain([new.to_string()])
        .find(|text| reads_back(root, path, old, text))
        .unwrap_or_else(|| new.to_string())
}

/// Whether `text`, assigned where `old` stands, gives a configuration that serialises to exactly `root`.
fn reads_back(root: &Value, path: &str, old: Option<&Value>, text: &str) -> bool {
    let Ok(value) = parse_value(path, old, text) else { return false };
    let mut json = root.clone();
    match path.split('.').try_fold(&mut json, |node, segment| node.get_mut(segment)) {
        Some(slot) => *slot = value,
        None => return false,
    }
    TrainConfig::deserialize(&json).is_ok_and(|config| to_json(&config) == *root)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::random_config;
    use super::super::{from_fragment, set_all, to_fragment};
    use super::*;
    use crate::config::DatasetSpec;
    use crate::model::Arch;
    use crate::optim::OptimizerKind;
    use crate::rng::Rng;
    use crate::schedule::LrSchedule;

    #[test]
    fn diff_of_the_default_is_empty_and_reads_like_a_person_wrote_it() {
        assert!(diff(&TrainConfig::default()).is_empty());
        let config = TrainConfig {
            width: 0.3,
            density: 0.05,
            model: Arch::Vgg11,
            optimizer: OptimizerKind::Adam { beta1: 0.5, beta2: 0.999, epsilon: 1e-8 },
            schedule: LrSchedule::Constant,
            steps: Some(500),
            ..TrainConfig::default()
        };
        let pairs: Vec<String> = diff(&config).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let expected = [
            "density=0.05",
            "model=vgg11",
            "optimizer=adam",
            "optimizer.beta1=0.5",
            "schedule=constant",
            "steps=500",
            "width=0.3",
        ];
        assert_eq!(pairs, expected);
    }

    /// The data sets the text form refuses are refused in every other form too (the JSON form of a link, dotted
    /// settings): one check, `DatasetSpec::validate`, inside `TrainConfig::validate`.
    #[test]
    fn data_sets_the_text_form_refuses_are_refused_in_every_form() {
        for dataset in [DatasetSpec::Cifar10 { path: String::new() }, DatasetSpec::Synthetic { train: 5, test: 1 }] {
            let config = TrainConfig { dataset, ..TrainConfig::default() };
            assert!(config.validate().is_err());
            let pairs = diff(&config);
            assert!(pairs.iter().all(|(key, _)| key.starts_with("dataset.") || key == "dataset"), "{pairs:?}");
            let error = set_all(&TrainConfig::default(), &pairs).unwrap_err().to_string();
            assert!(error.contains("dataset:"), "{pairs:?}: {error}");
            assert!(from_fragment(&to_fragment(&config)).is_err());
        }
    }

    #[test]
    fn diff_then_set_gives_back_random_configs() {
        let mut rng = Rng::new(7);
        for _ in 0..500 {
            let config = random_config(&mut rng);
            let pairs = diff(&config);
            let back = set_all(&TrainConfig::default(), &pairs).unwrap_or_else(|e| panic!("{pairs:?}: {e}"));
            assert_eq!(back, config, "{pairs:?}");
        }
    }
}
