//! A configuration as text: key=value overrides, shareable links, sweep grids, shards, and merged results.
//!
//! Everything here works on [`TrainConfig`]'s serde form, a JSON object, so a field added to the configuration
//! gets a key, a place in links and a grid axis with no code here. A key is a dotted path into that object (`lr`,
//! `optimizer.momentum`, `schedule.final_frac`), or one of a few short aliases (`wd`, `bs`, `momentum`). A value is
//! read in the light of what the key holds now:
//!
//! - fields with a text form of their own take it (`dataset=cifar10:/data`, `model=vgg11`, `distribution=er`,
//!   `schedule=step:0.5,0.75:0.1`), and `optimizer=sgd` / `optimizer=adam` reset to that optimiser's defaults;
//! - any other group tagged by a `kind` takes a kind name, which starts it afresh, then its settings one by one;
//! - strings and enum names take the text as it is (`method=rigl`); numbers, booleans and `null` are JSON; a whole
//!   group can be given as JSON (`optimizer={"kind":"adam","beta1":0.8,"beta2":0.99,"epsilon":1e-8}`).
//!
//! Every result goes back through serde and [`TrainConfig::validate`], so nothing here knows a range.

mod collect;
mod diff;
mod link;
mod sweep;
#[cfg(test)]
mod testutil;

use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{DatasetSpec, TrainConfig};
use crate::model::Arch;
use crate::optim::OptimizerKind;
use crate::schedule::LrSchedule;
use crate::sparsity::Distribution;

pub use collect::{Row, Table, collect, load_results};
pub use diff::diff;
pub use link::{LINK_VERSION, from_fragment, to_fragment};
pub use sweep::{Grid, Job, job_file_name, parse_grid, shard};

/// The field that tags serde's internally tagged enums in this crate.
const KIND: &str = "kind";

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TextConfigError {
    #[error("unknown key '{key}' (valid keys: {valid})")]
    UnknownKey { key: String, valid: String },
    #[error("{key}={value}: {reason}")]
    BadValue { key: String, value: String, reason: String },
    #[error("'{0}' is not KEY=VALUE")]
    NotAnAssignment(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("bad link: {0}")]
    BadLink(String),
    #[error("bad grid: {0}")]
    BadGrid(String),
    #[error("job {index} ({name}): {source}")]
    BadJob { index: usize, name: String, source: Box<TextConfigError> },
    #[error("bad shard '{spec}': {reason} (expected I/N with 1 <= I <= N, e.g. 2/8)")]
    BadShard { spec: String, reason: String },
}

// ---------------------------------------------------------------------------------------------------------------
// Keys and values

/// A field with a compact text form. `show` is `None` where the type has no text form for every value (the
/// optimiser): such a field is written as its kind plus dotted settings.
struct Codec {
    key: &'static str,
    parse: fn(&str) -> Result<Value, String>,
    show: fn(&Value) -> Option<String>,
}

const CODECS: [Codec; 5] = [
    Codec { key: "dataset", parse: parse_as::<DatasetSpec>, show: show_as::<DatasetSpec> },
    Codec { key: "model", parse: parse_as::<Arch>, show: show_as::<Arch> },
    Codec { key: "distribution", parse: parse_as::<Distribution>, show: show_as::<Distribution> },
    Codec { key: "schedule", parse: parse_as::<LrSchedule>, show: show_as::<LrSchedule> },
    Codec { key: "optimizer", parse: parse_optimizer, show: |_| None },
];

/// Short names for common keys. A field of the same name always wins over an alias.
const ALIASES: [(&str, &str); 12] = [
    ("arch", "model"),
    ("batch", "batch_size"),
    ("bs", "batch_size"),
    ("data", "dataset"),
    ("dist", "distribution"),
    ("momentum", "optimizer.momentum"),
    ("nesterov", "optimizer.nesterov"),
    ("opt", "optimizer"),
    ("sched", "schedule"),
    ("smoothing", "label_smoothing"),
    ("val", "val_fraction"),
    ("wd", "weight_decay"),
];

/// The type's `FromStr` form, or its serde spelling (`erdos_renyi` as well as `er`).
fn parse_as<T: FromStr<Err = String> + Serialize + DeserializeOwned>(text: &str) -> Result<Value, String> {
    let parsed = text.parse::<T>().or_else(|e| T::deserialize(Value::String(text.into())).map_err(|_| e))?;
    serde_json::to_value(parsed).map_err(|e| e.to_string())
}

fn show_as<T: Display + DeserializeOwned>(value: &Value) -> Option<String> {
    T::deserialize(value).ok().map(|t| t.to_string())
}

/// The names the CLI's `--optimizer` takes, with their constructors' settings.
fn parse_optimizer(text: &str) -> Result<Value, String> {
    let kind = match text {
        "sgd" => OptimizerKind::sgd(),
        "adam" => OptimizerKind::adam(),
        _ => return Err(format!("unknown optimizer '{text}' (expected sgd or adam)")),
    };
    serde_json::to_value(kind).map_err(|e| e.to_string())
}

fn to_json(config: &TrainConfig) -> Value {
    serde_json::to_value(config).expect("a TrainConfig serialises: it has no maps with non-string keys")
}

/// Deserialises and validates: the one gate every text goes through.
fn from_json(json: &Value) -> Result<TrainConfig, String> {
    let config = TrainConfig::deserialize(json).map_err(|e| e.to_string())?;
    config.validate()?;
    Ok(config)
}

fn lookup<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(json, |node, segment| node.get(segment))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// The settings an object holds, as keys; `kind` is set through the object's own key.
fn settings_of(prefix: &str, object: &Map<String, Value>) -> Vec<String> {
    object.keys().filter(|name| *name != KIND).map(|name| join(prefix, name)).collect()
}

/// The error for a key that is not there, listing the keys of the deepest group of `json` that `path` does reach.
fn unknown_key(key: &str, json: &Value, path: &str) -> TextConfigError {
    let segments: Vec<&str> = path.split('.').collect();
    let (prefix, settings) = (0..segments.len())
        .rev()
        .find_map(|depth| {
            let prefix = segments[..depth].join(".");
            let group = if depth == 0 { json.as_object() } else { lookup(json, &prefix)?.as_object() };
            let settings = settings_of(&prefix, group?);
            Some((prefix, settings))
        })
        .unwrap_or_default();
    let mut valid = settings.join(", ");
    if prefix.is_empty() {
        valid += "; dotted keys reach inside groups, e.g. optimizer.momentum";
    }
    TextConfigError::UnknownKey { key: key.to_string(), valid }
}

/// The most dotted segments a key may have: the settings nest two deep, and each segment of a missing key would
/// be built as a group before the key is found unknown.
const MAX_KEY_SEGMENTS: usize = 4;

/// The dotted path a key names: aliases resolved, `-` read as `_`; its first segment must be a field.
fn canonical_key(key: &str) -> Result<String, TextConfigError> {
    let segments = key.split('.').count();
    if segments > MAX_KEY_SEGMENTS {
        let shown: String = key.chars().take(40).collect();
        return Err(TextConfigError::UnknownKey {
            key: if shown.len() < key.len() { format!("{shown}…") } else { shown },
            valid: format!("keys have at most {MAX_KEY_SEGMENTS} segments, not {segments}"),
        });
    }
    let key = key.trim().replace('-', "_");
    let defaults = to_json(&TrainConfig::default());
    let (head, tail) = key.split_once('.').map_or((key.as_str(), None), |(head, tail)| (head, Some(tail)));
    let head = match ALIASES.iter().find(|(alias, _)| *alias == head) {
        _ if defaults.get(head).is_some() => head,
        Some(&(_, full)) => full,
        None => return Err(unknown_key(&key, &defaults, &key)),
    };
    let path = tail.map_or_else(|| head.to_string(), |tail| format!("{head}.{tail}"));
    if path.split('.').any(str::is_empty) {
        return Err(unknown_key(&key, &defaults, &path));
    }
    Ok(path)
}

/// Reads `text` as the new value of `path`, whose value now is `current`.
fn parse_value(path: &str, current: Option<&Value>, text: &str) -> Result<Value, String> {
    let as_json = || serde_json::from_str::<Value>(text).map_err(|e| format!("not valid JSON: {e}"));
    let is_string = matches!(current, Some(Value::String(_)));
    if text.starts_with('{') {
        return as_json();
    }
    if text == "null" && !is_string {
        return Ok(Value::Null);
    }
    if let Some(codec) = CODECS.iter().find(|codec| codec.key == path) {
        return (codec.parse)(text);
    }
    match current {
        Some(Value::String(_)) => Ok(Value::String(text.to_string())),
        Some(Value::Object(group)) if group.contains_key(KIND) => {
            Ok(Value::Object(Map::from_iter([(KIND.to_string(), Value::String(text.to_string()))])))
        }
        Some(Value::Object(group)) => Err(format!(
            "{path} is a group of settings ({}): set them one by one, or give the group as JSON",
            settings_of(path, group).join(", ")
        )),
        _ if text.starts_with('[') => as_json(),
        _ => Ok(match serde_json::from_str::<Value>(text) {
            // serde_json may round a decimal one unit in the last place off; Rust's parser is exact.
            Ok(Value::Number(n)) if n.is_f64() => exact_float(text).unwrap_or(Value::Number(n)),
            Ok(value) => value,
            // `.5` and `5.` are numbers to a person if not to JSON; anything else unquoted is a string.
            Err(_) => exact_float(text).unwrap_or_else(|| Value::String(text.to_string())),
        }),
    }
}

fn exact_float(text: &str) -> Option<Value> {
    text.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
}

/// Puts the value `text` reads as at `path`, making the groups on the way where they are missing or `null`.
fn assign(json: &mut Value, path: &str, text: &str) -> Result<(), String> {
    let mut node = json;
    let mut walked = String::new();
    for segment in path.split('.') {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(group) = node else {
            return Err(format!("{walked} is a single value, not a group of settings"));
        };
        walked = join(&walked, segment);
        node = group.entry(segment).or_insert(Value::Null);
    }
    let current = (!node.is_null()).then_some(&*node);
    *node = parse_value(path, current, text)?;
    Ok(())
}

/// `config` with `key` set to `value`: see the module documentation for the syntax. The result is validated.
pub fn set(config: &TrainConfig, key: &str, value: &str) -> Result<TrainConfig, TextConfigError> {
    set_all(config, &[(key, value)])
}

/// `config` with each `(key, value)` set in order, validated once at the end, so an assignment may lean on a later
/// one (`optimizer=adam` before `optimizer.beta1=0.8`). An error blames the assignment that last changed what was
/// wrong.
pub fn set_all<K: AsRef<str>, V: AsRef<str>>(
    config: &TrainConfig,
    pairs: &[(K, V)],
) -> Result<TrainConfig, TextConfigError> {
    let mut json = to_json(config);
    let mut outcome = from_json(&json);
    let mut blame = None;
    let mut paths = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let (key, value) = (key.as_ref(), value.as_ref());
        let path = canonical_key(key)?;
        assign(&mut json, &path, value).map_err(|reason| bad_value(key, value, reason))?;
        let next = from_json(&json);
        if next.as_ref().err() != outcome.as_ref().err() {
            blame = Some((key, value));
        }
        outcome = next;
        paths.push((key, path));
    }
    let config = outcome.map_err(|reason| match blame {
        Some((key, value)) => bad_value(key, value, reason),
        None => TextConfigError::Invalid(reason),
    })?;
    // serde drops fields it does not know, so a key names a real setting only if the result still has it.
    let result = to_json(&config);
    match paths.into_iter().find(|(_, path)| lookup(&result, path).is_none()) {
        Some((key, path)) => Err(unknown_key(key, &result, &path)),
        None => Ok(config),
    }
}

/// `config` with `KEY=VALUE` assignments applied, as a command line's `--set` options give them.
pub fn apply(config: &TrainConfig, assignments: &[String]) -> Result<TrainConfig, TextConfigError> {
    let pairs = assignments.iter().map(|a| split_assignment(a)).collect::<Result<Vec<_>, _>>()?;
    set_all(config, &pairs)
}

fn split_assignment(text: &str) -> Result<(&str, &str), TextConfigError> {
    text.split_once('=').ok_or_else(|| TextConfigError::NotAnAssignment(text.to_string()))
}

fn bad_value(key: &str, value: &str, reason: String) -> TextConfigError {
    TextConfigError::BadValue { key: key.to_string(), value: value.to_string(), reason }
}

#[cfg(test)]
mod tests {
    use super::testutil::{err_of, set_ok, text};
    use super::*;
    use crate::rng::Rng;

    /// The segment cap on keys leaves every setting reachable.
    #[test]
    fn every_setting_is_within_the_segment_cap() {
        fn depth(value: &Value) -> usize {
            match value {
                Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        assert!(depth(&to_json(&TrainConfig::default())) <= MAX_KEY_SEGMENTS);
    }

    #[test]
    fn set_reads_each_kind_of_value() {
        let d = TrainConfig::default();
        assert_eq!(set_ok(&d, "lr", "0.1").lr, 0.1);
        assert_eq!(set_ok(&d, "density", ".05").density, 0.05);
        assert_eq!(set_ok(&d, "width", "0.3").width, 0.3f32);
        assert!(!set_ok(&d, "augment", "false").augment);
        assert_eq!(set_ok(&d, "steps", "100").steps, Some(100));
        assert_eq!(set_ok(&set_ok(&d, "steps", "100"), "steps", "null").steps, None);
        assert_eq!(set_ok(&d, "seed", "18446744073709551615").seed, u64::MAX);
        assert_eq!(
            set_ok(&d, "dataset", "cifar10:/data/c 10").dataset,
            DatasetSpec::Cifar10 { path: "/data/c 10".into() }
        );
        assert_eq!(set_ok(&d, "dataset", "synthetic").dataset, DatasetSpec::SYNTHETIC_DEFAULT);
        assert_eq!(set_ok(&d, "model", "resnet20").model, Arch::Resnet20);
        assert_eq!(set_ok(&d, "distribution", "er").distribution, Distribution::ErdosRenyi);
        assert_eq!(set_ok(&d, "distribution", "erdos_renyi").distribution, Distribution::ErdosRenyi);
        assert_eq!(set_ok(&d, "schedule", "constant").schedule, LrSchedule::Constant);
        let step = LrSchedule::Step { milestones: vec![0.3, 0.6], gamma: 0.2 };
        assert_eq!(set_ok(&d, "schedule", "step:0.3,0.6:0.2").schedule, step);
        assert_eq!(
            set_ok(&d, "schedule.final_frac", "0.1").schedule,
            LrSchedule::Warmup { warmup_frac: 0.23, start_frac: 0.2, final_frac: 0.1 }
        );
        assert_eq!(set_ok(&d, "optimizer", "adam").optimizer, OptimizerKind::adam());
        assert_eq!(set_ok(&d, "optimizer", "sgd").optimizer, OptimizerKind::sgd());
        assert_eq!(
            set_ok(&d, "optimizer.momentum", "0.5").optimizer,
            OptimizerKind::Sgd { momentum: 0.5, nesterov: true }
        );
        let json = r#"{"kind":"adam","beta1":0.8,"beta2":0.9,"epsilon":1e-7}"#;
        assert_eq!(
            set_ok(&d, "optimizer", json).optimizer,
            OptimizerKind::Adam { beta1: 0.8, beta2: 0.9, epsilon: 1e-7 }
        );
        assert_eq!(set_ok(&d, "dataset.train", "2000").dataset, DatasetSpec::Synthetic { train: 2000, test: 1000 });
        // Aliases and dashes.
        assert_eq!(set_ok(&d, "wd", "0.001").weight_decay, 0.001);
        assert_eq!(set_ok(&d, "bs", "128").batch_size, 128);
        assert_eq!(set_ok(&d, "batch-size", "32").batch_size, 32);
        assert_eq!(set_ok(&d, "arch", "vgg11").model, Arch::Vgg11);
        assert_eq!(set_ok(&d, "momentum", "0.8").optimizer, OptimizerKind::Sgd { momentum: 0.8, nesterov: true });
        assert_eq!(
            set_ok(&d, " opt.nesterov ", "false").optimizer,
            OptimizerKind::Sgd { momentum: 0.85, nesterov: false }
        );
        // Several at once lean on each other: Adam's settings after the switch to Adam.
        let adam = set_all(&d, &[("optimizer", "adam"), ("optimizer.beta1", "0.5")]).unwrap();
        assert_eq!(adam.optimizer, OptimizerKind::Adam { beta1: 0.5, beta2: 0.999, epsilon: 1e-8 });
        let applied = apply(&d, &["lr=0.2".into(), "model=conv6".into()]).unwrap();
        assert_eq!((applied.lr, applied.model), (0.2, Arch::Conv6));
    }

    #[test]
    fn set_errors_name_the_key_and_value_and_say_why() {
        let d = TrainConfig::default();
        let cases: [(&str, &str, &[&str]); 15] = [
            ("lrr", "0.1", &["unknown key 'lrr'", "batch_size", "density", "optimizer"]),
            ("", "1", &["unknown key ''"]),
            ("optimizer.", "1", &["unknown key 'optimizer.'"]),
            ("optimizer.beta1", "0.5", &["unknown key 'optimizer.beta1'", "optimizer.momentum"]),
            ("optimizer.momentum.x", "1", &["optimizer.momentum.x=1", "not a group"]),
            ("lr", "abc", &["lr=abc", "invalid type"]),
            ("epochs", "1.5", &["epochs=1.5", "invalid type"]),
            ("seed", "-1", &["seed=-1", "invalid value"]),
            ("density", "2", &["density=2", "density 2 is out of range"]),
            ("momentum", "1.5", &["momentum=1.5", "momentum 1.5 is out of range"]),
            // A huge number is named in exponent form, not as its 301 digits.
            ("lr", "1e300", &["lr=1e300", "learning rate 1e300 is out of range (0, 10]"]),
            ("optimizer", "rmsprop", &["optimizer=rmsprop", "unknown optimizer 'rmsprop'"]),
            ("schedule", "cosine:2", &["schedule=cosine:2", "final_frac"]),
            ("optimizer", "{oops", &["optimizer={oops", "not valid JSON"]),
            ("dataset", "imagenet", &["dataset=imagenet", "unknown dataset"]),
        ];
        for (key, value, needles) in cases {
            let err = err_of(set(&d, key, value));
            for needle in needles {
                assert!(err.contains(needle), "{key}={value}: {err:?} lacks {needle:?}");
            }
        }
        // The blame goes to the assignment that broke things, not the last one.
        let err = err_of(set_all(&d, &[("density", "2"), ("seed", "3")]));
        assert!(err.starts_with("density=2: "), "{err}");
        assert!(matches!(apply(&d, &["lr".into()]), Err(TextConfigError::NotAnAssignment(_))));
    }

    #[test]
    fn set_never_panics_on_garbage() {
        let mut rng = Rng::new(1);
        let keys = ["lr", "dataset", "optimizer", "optimizer.momentum", "schedule", "steps", "x.y", ".", "width"];
        let values =
            ["", "null", "{}", "[]", "[[[[", "{\"kind\":7}", "1e999", "-0", "NaN", "%", "\u{0}", "synthetic:1:"];
        for key in keys {
            for value in values {
                let _ = set(&TrainConfig::default(), key, value);
            }
            for _ in 0..50 {
                let _ = set(&TrainConfig::default(), key, &text(&mut rng));
            }
        }
    }
}
