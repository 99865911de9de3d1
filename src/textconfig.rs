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

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt::{Display, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{DatasetSpec, TrainConfig};
use crate::model::Arch;
use crate::optim::OptimizerKind;
use crate::results::{RESULT_FORMAT, RunResult};
use crate::schedule::LrSchedule;
use crate::sparsity::Distribution;

/// Version of the link format; a link from a newer build is refused rather than half understood.
pub const LINK_VERSION: u32 = 1;

/// The most jobs one grid may expand to: a typo such as `seed=0,...,99999` should fail, not fill the memory.
const MAX_JOBS: usize = 100_000;

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

/// The dotted path a key names: aliases resolved, `-` read as `_`; its first segment must be a field.
fn canonical_key(key: &str) -> Result<String, TextConfigError> {
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

// ---------------------------------------------------------------------------------------------------------------
// Differences from the defaults

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
fn leaf_text(root: &Value, path: &str, old: Option<&Value>, new: &Value) -> String {
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

// ---------------------------------------------------------------------------------------------------------------
// Links

/// A link fragment for `config`: `v=1` and the assignments that differ from the defaults, percent-encoded, e.g.
/// `v=1&density=0.1&model=vgg11&seed=7`. Put it after `#` in the web app's address or after `ticketlab://run?`.
pub fn to_fragment(config: &TrainConfig) -> String {
    let mut fragment = format!("v={LINK_VERSION}");
    for (key, value) in diff(config) {
        let _ = write!(fragment, "&{}={}", encode(&key), encode(&value));
    }
    fragment
}

/// The configuration a link describes: a fragment (with or without `#`), a whole address (the part after `#`), or
/// `ticketlab://run?...` (the part after `?`). Any problem is an error; nothing is half applied.
pub fn from_fragment(link: &str) -> Result<TrainConfig, TextConfigError> {
    let link = link.trim();
    let query = match (link.split_once('#'), link.split_once('?')) {
        (Some((_, fragment)), _) => fragment,
        (None, Some((_, query))) => query,
        (None, None) => link,
    };
    if query.is_empty() {
        return Err(TextConfigError::BadLink(format!("it is empty (expected e.g. v={LINK_VERSION}&density=0.1)")));
    }
    let mut version = None;
    let mut pairs = Vec::new();
    for raw in query.split('&').filter(|raw| !raw.is_empty()) {
        let (key, value) = split_assignment(raw)?;
        let decoded = |text| decode(text).map_err(|why| TextConfigError::BadLink(format!("'{raw}': {why}")));
        let (key, value) = (decoded(key)?, decoded(value)?);
        if key != "v" {
            pairs.push((key, value));
        } else if version.replace(value).is_some() {
            return Err(TextConfigError::BadLink("the version 'v' is given twice".into()));
        }
    }
    match version {
        None => return Err(TextConfigError::BadLink(format!("it has no version (links start with v={LINK_VERSION})"))),
        Some(v) if v.parse::<u32>().ok() != Some(LINK_VERSION) => {
            return Err(TextConfigError::BadLink(format!(
                "version '{v}' is not supported (this build reads v={LINK_VERSION})"
            )));
        }
        Some(_) => {}
    }
    let mut seen = BTreeSet::new();
    for (key, _) in &pairs {
        if !seen.insert(canonical_key(key)?) {
            return Err(TextConfigError::BadLink(format!("the key '{key}' is given twice")));
        }
    }
    set_all(&TrainConfig::default(), &pairs)
}

/// Percent-encodes what would break a link's structure (`&`, `=`, `#`, `%`, `?`, `+`), spaces, control characters
/// and non-ASCII, leaving everything else readable.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_graphic() && !"&=#%?+".contains(c) {
            out.push(c);
        } else {
            for byte in c.encode_utf8(&mut [0; 4]).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            let byte = hex.and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
            out.push(byte.ok_or_else(|| format!("bad percent-encoding at '{}'", &text[i..]))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoding that is not UTF-8".to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// Sweeps

/// A sweep: a base configuration and, per axis, the values to try; every combination is one job.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub base: TrainConfig,
    /// `(key, values)`, keys in canonical form.
    pub axes: Vec<(String, Vec<String>)>,
}

/// One run of a sweep. `index` is its place in the whole grid, so names stay the same across shards.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub index: usize,
    /// The job's axis values, e.g. `density=0.1,seed=2`.
    pub name: String,
    pub config: TrainConfig,
}

/// A grid from `KEY=V1,V2,...` specs, one per axis. Values that contain commas (`step:0.3,0.6:0.1`) are separated
/// by `;` instead: a spec with a `;` is split on `;` only.
pub fn parse_grid(base: &TrainConfig, specs: &[String]) -> Result<Grid, TextConfigError> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::with_capacity(specs.len());
    for spec in specs {
        let (key, list) = split_assignment(spec)?;
        let key = canonical_key(key)?;
        let bad = |why: &str| TextConfigError::BadGrid(format!("'{spec}': {why}"));
        if axes.iter().any(|(k, _)| *k == key) {
            return Err(bad(&format!("{key} is already an axis")));
        }
        let separator = if list.contains(';') { ';' } else { ',' };
        let values: Vec<String> = list.split(separator).map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad("empty value"));
        }
        if let Some(v) = values.iter().enumerate().find_map(|(i, v)| values[..i].contains(v).then_some(v)) {
            return Err(bad(&format!("'{v}' is listed twice")));
        }
        axes.push((key, values));
    }
    Ok(Grid { base: base.clone(), axes })
}

impl Grid {
    /// Every combination, first axis slowest, each validated: an invalid one is an error naming the job.
    pub fn expand(&self) -> Result<Vec<Job>, TextConfigError> {
        let count = self
            .axes
            .iter()
            .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
            .filter(|&n| n <= MAX_JOBS)
            .ok_or_else(|| TextConfigError::BadGrid(format!("more than {MAX_JOBS} jobs")))?;
        (0..count)
            .map(|index| {
                // Mixed-radix digits of the index, the last axis fastest.
                let mut rest = index;
                let mut picks: Vec<(&str, &str)> = Vec::with_capacity(self.axes.len());
                for (key, values) in self.axes.iter().rev() {
                    picks.push((key.as_str(), values[rest % values.len()].as_str()));
                    rest /= values.len();
                }
                picks.reverse();
                let name = picks.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",");
                match set_all(&self.base, &picks) {
                    Ok(config) => Ok(Job { index, name, config }),
                    Err(e) => Err(TextConfigError::BadJob { index, name, source: Box::new(e) }),
                }
            })
            .collect()
    }
}

/// The jobs of shard `I/N` (1-based `I`): those whose index is `I-1` modulo `N`, so shards are disjoint, cover
/// every job, and differ in size by at most one.
pub fn shard(jobs: &[Job], spec: &str) -> Result<Vec<Job>, TextConfigError> {
    let bad = |reason: String| TextConfigError::BadShard { spec: spec.to_string(), reason };
    let (i, n) = spec.trim().split_once('/').ok_or_else(|| bad("no '/'".into()))?;
    let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(format!("'{s}' is not a whole number")));
    let (i, n) = (number(i)?, number(n)?);
    if n == 0 {
        return Err(bad("N must be at least 1".into()));
    }
    if !(1..=n).contains(&i) {
        return Err(bad(format!("I must be in 1..={n}")));
    }
    Ok(jobs.iter().filter(|job| job.index % n == i - 1).cloned().collect())
}

/// The result file of a job, e.g. `run-0007-density=0.1_seed=2.json`: sorted by index, readable, and safe in any
/// shell or file system (anything but letters, digits and `.=-` becomes `_`; long names are cut).
pub fn job_file_name(index: usize, name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || ".=-".contains(c) { c } else { '_' }).take(80).collect();
    if slug.is_empty() { format!("run-{index:04}.json") } else { format!("run-{index:04}-{slug}.json") }
}

// ---------------------------------------------------------------------------------------------------------------
// Results

/// A mean and the sample standard deviation (`None` for a single run).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
}

impl Stat {
    fn of(xs: &[f64]) -> Stat {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let std = (xs.len() > 1).then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Stat { mean, std }
    }

    fn show(&self, decimals: usize) -> String {
        match self.std {
            Some(std) => format!("{:.decimals$} ± {std:.decimals$}", self.mean),
            None => format!("{:.decimals$}", self.mean),
        }
    }
}

/// One group of runs: those with the same values of the table's keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// One value per [`Table::keys`] entry, in text form (`–` where a run has no such setting).
    pub values: Vec<String>,
    /// The paths of the group's runs.
    pub runs: Vec<String>,
    /// Test accuracy in percent.
    pub accuracy: Stat,
    pub nll: Stat,
    pub ece: Stat,
    pub nonzeros: f64,
    pub compression: f64,
    /// Runs that stopped early (diverged): their metrics are in the means, so the table says how many there were.
    pub stopped_early: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub keys: Vec<String>,
    pub rows: Vec<Row>,
}

/// Groups runs by the values of `group_by` (aliases allowed); with no keys, by every key whose value varies across
/// the runs except `seed`, so repeated seeds of one setting make one row. Rows are sorted by their values,
/// numbers numerically.
pub fn collect(results: &[(String, RunResult)], group_by: &[String]) -> Result<Table, TextConfigError> {
    let configs: Vec<Value> = results.iter().map(|(_, result)| to_json(&result.config)).collect();
    let keys: Vec<String> = if group_by.is_empty() {
        let changed: BTreeSet<String> =
            results.iter().flat_map(|(_, result)| diff(&result.config)).map(|(key, _)| key).collect();
        changed
            .into_iter()
            .filter(|key| key != "seed")
            .filter(|key| configs.iter().any(|config| shown(config, key) != shown(&configs[0], key)))
            .collect()
    } else {
        group_by.iter().map(|key| canonical_key(key)).collect::<Result<_, _>>()?
    };
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let values: Vec<String> = keys.iter().map(|key| shown(config, key)).collect();
        match groups.iter_mut().find(|(v, _)| *v == values) {
            Some((_, members)) => members.push(i),
            None => groups.push((values, vec![i])),
        }
    }
    groups.sort_by(|(a, _), (b, _)| compare_values(a, b));
    let rows = groups
        .into_iter()
        .map(|(values, members)| {
            let of = |metric: fn(&RunResult) -> f64| members.iter().map(|&i| metric(&results[i].1)).collect::<Vec<_>>();
            let mean = |metric: fn(&RunResult) -> f64| Stat::of(&of(metric)).mean;
            Row {
                values,
                runs: members.iter().map(|&i| results[i].0.clone()).collect(),
                accuracy: Stat::of(&of(|r| 100.0 * r.test.accuracy)),
                nll: Stat::of(&of(|r| r.test.nll)),
                ece: Stat::of(&of(|r| r.test.ece)),
                nonzeros: mean(|r| r.accounting.nonzeros as f64),
                compression: mean(|r| r.accounting.compression),
                stopped_early: members.iter().filter(|&&i| results[i].1.stopped_early.is_some()).count(),
            }
        })
        .collect();
    Ok(Table { keys, rows })
}

/// A setting's value for display: its text form, or its kind for a tagged group.
fn shown(config: &Value, path: &str) -> String {
    let Some(value) = lookup(config, path) else { return "–".into() };
    let codec = CODECS.iter().find(|codec| codec.key == path);
    match (codec.and_then(|codec| (codec.show)(value)), value.get(KIND).and_then(Value::as_str)) {
        (Some(text), _) => text,
        (None, Some(kind)) => kind.to_string(),
        (None, None) => leaf_text(config, path, Some(value), value),
    }
}

fn compare_values(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => x.cmp(y),
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

impl Table {
    pub fn to_markdown(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|");
        let columns = ["n", "test accuracy (%)", "NLL", "ECE", "non-zeros", "compression", "stopped early"];
        let header: Vec<String> = self.keys.iter().map(|k| escape(k)).chain(columns.map(String::from)).collect();
        let align: Vec<&str> = self.keys.iter().map(|_| "---").chain(columns.map(|_| "---:")).collect();
        let mut out = format!("| {} |\n|{}|\n", header.join(" | "), align.join("|"));
        for row in &self.rows {
            let cells: Vec<String> = row
                .values
                .iter()
                .map(|v| escape(v))
                .chain([
                    row.runs.len().to_string(),
                    row.accuracy.show(2),
                    row.nll.show(4),
                    row.ece.show(4),
                    format!("{:.0}", row.nonzeros),
                    format!("{:.2}×", row.compression),
                    row.stopped_early.to_string(),
                ])
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        };
        let columns = [
            "n",
            "accuracy_mean",
            "accuracy_std",
            "nll_mean",
            "nll_std",
            "ece_mean",
            "ece_std",
            "nonzeros_mean",
            "compression_mean",
            "stopped_early",
        ];
        let header: Vec<String> = self.keys.iter().map(|k| quote(k)).chain(columns.map(String::from)).collect();
        let mut out = header.join(",") + "\n";
        let std = |stat: &Stat| stat.std.map_or(String::new(), |s| s.to_string());
        for row in &self.rows {
            let cells: Vec<String> = row
                .values
                .iter()
                .map(|v| quote(v))
                .chain([
                    row.runs.len().to_string(),
                    row.accuracy.mean.to_string(),
                    std(&row.accuracy),
                    row.nll.mean.to_string(),
                    std(&row.nll),
                    row.ece.mean.to_string(),
                    std(&row.ece),
                    row.nonzeros.to_string(),
                    row.compression.to_string(),
                    row.stopped_early.to_string(),
                ])
                .collect();
            out += &(cells.join(",") + "\n");
        }
        out
    }
}

/// Reads run results from files and directories (searched recursively for `*.json`, in name order). A file that
/// cannot be read or is not a result of this format is skipped and reported as `path: reason`.
pub fn load_results<P: AsRef<Path>>(paths: &[P]) -> (Vec<(String, RunResult)>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        gather(path.as_ref(), &mut files, &mut errors);
    }
    let mut results = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        match read_result(&file) {
            Ok(result) => results.push((name, result)),
            Err(why) => errors.push(format!("{name}: {why}")),
        }
    }
    (results, errors)
}

/// Files named directly are taken whatever their extension. Symbolic links to directories are not followed, so a
/// link cycle cannot trap the walk.
fn gather(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    if !path.is_dir() {
        files.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return errors.push(format!("{}: {e}", path.display())),
    };
    let mut children = Vec::new();
    for entry in entries {
        match entry.and_then(|entry| Ok((entry.path(), entry.file_type()?))) {
            Ok(child) => children.push(child),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    children.sort_by(|(a, _), (b, _)| a.cmp(b));
    for (child, kind) in children {
        if kind.is_dir() {
            gather(&child, files, errors);
        } else if child.extension().is_some_and(|ext| ext == "json") && child.is_file() {
            files.push(child);
        }
    }
}

fn read_result(file: &Path) -> Result<RunResult, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let result: RunResult = serde_json::from_str(&text).map_err(|e| format!("not a ticketlab run result ({e})"))?;
    if result.format != RESULT_FORMAT {
        return Err(format!("result format {} (this build reads {RESULT_FORMAT})", result.format));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::Accounting;
    use crate::metrics::EvalMetrics;
    use crate::rng::Rng;

    fn set_ok(config: &TrainConfig, key: &str, value: &str) -> TrainConfig {
        set(config, key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"))
    }

    fn err_of(result: Result<TrainConfig, TextConfigError>) -> String {
        result.expect_err("expected an error").to_string()
    }

    /// A uniform draw in [0, 1) with the full 53 bits.
    fn unit(rng: &mut Rng) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A share in (0, 1], as a person (0.35), an f32 slider (exact in f32) or a computation (53 bits) would write it.
    fn share(rng: &mut Rng) -> f64 {
        match rng.below(3) {
            0 => f64::from(1 + rng.below(100)) / 100.0,
            1 => f64::from(1.0 - rng.uniform()),
            _ => 1.0 - unit(rng),
        }
    }

    fn text(rng: &mut Rng) -> String {
        const CHARS: [char; 16] = ['a', 'Z', '0', '/', ':', ' ', '&', '=', '#', '%', '?', '+', ',', 'é', '日', '.'];
        (0..1 + rng.below(12)).map(|_| CHARS[rng.below(16) as usize]).collect()
    }

    /// A random valid configuration; each field keeps its default half the time.
    fn random_config(rng: &mut Rng) -> TrainConfig {
        let mut c = TrainConfig::default();
        let coin = |rng: &mut Rng| rng.bernoulli(0.5);
        if coin(rng) {
            c.dataset = match rng.below(3) {
                0 => DatasetSpec::Synthetic {
                    train: 10 + rng.below(199_991) as usize,
                    test: 10 + rng.below(49_991) as usize,
                },
                1 => DatasetSpec::Cifar10 { path: text(rng) },
                _ => DatasetSpec::Cifar100 { path: text(rng), coarse: coin(rng) },
            };
        }
        if coin(rng) {
            c.model = Arch::ALL[rng.below(5) as usize];
        }
        if coin(rng) {
            c.width = if coin(rng) { (1 + rng.below(32)) as f32 / 8.0 } else { 4.0 * (1.0 - rng.uniform()) };
        }
        if coin(rng) {
            c.density = share(rng);
        }
        if coin(rng) {
            c.distribution = Distribution::ALL[rng.below(3) as usize];
        }
        if coin(rng) {
            c.dense_first = true;
        }
        if coin(rng) {
            c.epochs = 1 + rng.below(10_000) as usize;
        }
        if coin(rng) {
            c.steps = Some(1 + rng.below(10_000_000) as usize);
        }
        if coin(rng) {
            c.batch_size = 1 + rng.below(4096) as usize;
        }
        if coin(rng) {
            c.lr = 10.0 * share(rng);
        }
        if coin(rng) {
            c.schedule = match rng.below(6) {
                0 => LrSchedule::Constant,
                1 => {
                    let mut milestones: Vec<f64> =
                        (0..1 + rng.below(4)).map(|_| unit(rng)).filter(|&m| m > 0.0).collect();
                    milestones.sort_by(f64::total_cmp);
                    milestones.dedup();
                    if milestones.is_empty() {
                        milestones.push(0.5);
                    }
                    LrSchedule::Step { milestones, gamma: share(rng) }
                }
                2 => LrSchedule::Cosine { final_frac: unit(rng) },
                3 => LrSchedule::Linear { hold_frac: unit(rng), final_frac: share(rng) },
                4 => LrSchedule::OneCycle {
                    warmup_frac: unit(rng),
                    div_factor: 1.0 / share(rng),
                    final_div: 1e4 * unit(rng) + 1.0,
                },
                _ => LrSchedule::Triangular { cycle_steps: 2 + rng.below(1000) as usize, min_frac: unit(rng) },
            };
        }
        if coin(rng) {
            c.optimizer = if coin(rng) {
                OptimizerKind::Sgd { momentum: unit(rng), nesterov: coin(rng) }
            } else {
                OptimizerKind::Adam { beta1: unit(rng), beta2: unit(rng), epsilon: 1e-6 * share(rng) }
            };
        }
        if coin(rng) {
            c.weight_decay = unit(rng);
        }
        if coin(rng) {
            c.label_smoothing = unit(rng);
        }
        if coin(rng) {
            c.augment = false;
        }
        if coin(rng) {
            c.val_fraction = 0.5 * unit(rng);
        }
        if coin(rng) {
            c.seed = rng.next_u64();
        }
        if coin(rng) {
            c.eval_every = rng.below(1000) as usize;
        }
        c.validate().unwrap_or_else(|e| panic!("the generator made an invalid config ({e}): {c:?}"));
        nudge(rng, &c)
    }

    /// `config` with numbers changed, booleans flipped and enum names swapped (for one that serde's error message
    /// lists) anywhere in its serde form, so fields this test does not name (those added later included) get values
    /// other than their defaults; changes that fail validation are dropped.
    fn nudge(rng: &mut Rng, config: &TrainConfig) -> TrainConfig {
        fn leaves(json: &Value, prefix: &str, out: &mut Vec<String>) {
            match json {
                Value::Object(group) => group.iter().for_each(|(name, v)| leaves(v, &join(prefix, name), out)),
                Value::Number(_) | Value::Bool(_) | Value::String(_) => out.push(prefix.to_string()),
                _ => {}
            }
        }
        fn replaced(json: &Value, path: &str, value: Value) -> Value {
            let mut json = json.clone();
            if let Some(slot) = path.split('.').try_fold(&mut json, |node, segment| node.get_mut(segment)) {
                *slot = value;
            }
            json
        }
        let mut json = to_json(config);
        let mut paths = Vec::new();
        leaves(&json, "", &mut paths);
        for path in paths {
            if !rng.bernoulli(0.2) {
                continue;
            }
            let value = match lookup(&json, &path) {
                Some(Value::Bool(b)) => Value::Bool(!b),
                Some(Value::Number(n)) if n.is_u64() => {
                    Value::from(n.as_u64().unwrap_or(0) / 2 + u64::from(rng.below(3)))
                }
                Some(Value::Number(n)) => {
                    exact_float(&(n.as_f64().unwrap_or(0.0) * (0.5 + unit(rng))).to_string()).unwrap_or(Value::Null)
                }
                _ => {
                    let probe = replaced(&json, &path, Value::String("?".into()));
                    let message = TrainConfig::deserialize(&probe).map_or_else(|e| e.to_string(), |_| String::new());
                    let Some((_, list)) = message.split_once("expected one of") else { continue };
                    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
                    Value::String(names[rng.below(names.len() as u32) as usize].to_string())
                }
            };
            let trial = replaced(&json, &path, value);
            if from_json(&trial).is_ok() {
                json = trial;
            }
        }
        from_json(&json).unwrap_or_else(|e| panic!("nudging broke the config: {e}"))
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
        assert_eq!(set_ok(&d, "schedule.final_frac", "0.1").schedule, LrSchedule::Cosine { final_frac: 0.1 });
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
            OptimizerKind::Sgd { momentum: 0.9, nesterov: false }
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
        let cases: [(&str, &str, &[&str]); 14] = [
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

    #[test]
    fn diff_spells_out_settings_where_a_text_form_cannot_say_them() {
        // Valid configurations (validate() leaves the dataset to the loader) that the dataset text form refuses.
        for dataset in [DatasetSpec::Cifar10 { path: String::new() }, DatasetSpec::Synthetic { train: 5, test: 1 }] {
            let config = TrainConfig { dataset, ..TrainConfig::default() };
            let pairs = diff(&config);
            assert!(pairs.iter().all(|(key, _)| key.starts_with("dataset.") || key == "dataset"), "{pairs:?}");
            assert_eq!(set_all(&TrainConfig::default(), &pairs).unwrap(), config, "{pairs:?}");
            assert_eq!(from_fragment(&to_fragment(&config)).unwrap(), config);
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

    #[test]
    fn links_round_trip_random_configs() {
        let mut rng = Rng::new(11);
        for _ in 0..500 {
            let config = random_config(&mut rng);
            let fragment = to_fragment(&config);
            assert!(fragment.starts_with("v=1"), "{fragment}");
            assert!(fragment.is_ascii() && !fragment.contains([' ', '#']), "{fragment}");
            // Every '&' and '=' left is structure: one per pair.
            assert_eq!(fragment.matches('&').count() + 1, fragment.matches('=').count(), "{fragment}");
            for link in [
                fragment.clone(),
                format!("#{fragment}"),
                format!("https://x.org/app/?q=1#{fragment}"),
                format!("ticketlab://run?{fragment}"),
            ] {
                assert_eq!(from_fragment(&link).unwrap_or_else(|e| panic!("{link}: {e}")), config, "{link}");
            }
        }
    }

    #[test]
    fn link_example() {
        let config = TrainConfig {
            density: 0.1,
            seed: 7,
            dataset: DatasetSpec::Cifar10 { path: "/data/my cifar#1".into() },
            ..TrainConfig::default()
        };
        let fragment = to_fragment(&config);
        assert_eq!(fragment, "v=1&dataset=cifar10:/data/my%20cifar%231&density=0.1&seed=7");
        assert_eq!(from_fragment(&fragment).unwrap(), config);
        assert_eq!(from_fragment("v=1").unwrap(), TrainConfig::default());
        assert_eq!(from_fragment("#v=1&wd=0.001&").unwrap().weight_decay, 0.001);
    }

    #[test]
    fn malformed_links_are_refused_with_the_offending_part_named() {
        let cases = [
            ("", "empty"),
            ("#", "empty"),
            ("density=0.1", "no version"),
            ("v=2&density=0.1", "version '2' is not supported"),
            ("v=x", "version 'x'"),
            ("v=1&v=1", "'v' is given twice"),
            ("v=1&bogus=3", "unknown key 'bogus'"),
            ("v=1&density=2", "density=2"),
            ("v=1&density=0.1&density=0.2", "'density' is given twice"),
            ("v=1&wd=0.1&weight_decay=0.2", "'weight_decay' is given twice"),
            ("v=1&lr=%zz", "'lr=%zz'"),
            ("v=1&lr=0.1%", "'lr=0.1%'"),
            ("v=1&lr=%+1", "bad percent-encoding"),
            ("v=1&dataset=cifar10:%FF", "not UTF-8"),
            ("v=1&lr", "'lr' is not KEY=VALUE"),
            ("v=1&lr=fast", "lr=fast"),
        ];
        for (link, needle) in cases {
            let err = err_of(from_fragment(link));
            assert!(err.contains(needle), "{link}: {err:?} lacks {needle:?}");
        }
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let _ = from_fragment(&format!("v=1&{}={}", text(&mut rng), text(&mut rng)));
        }
    }

    fn grid(specs: &[&str]) -> Result<Grid, TextConfigError> {
        parse_grid(&TrainConfig::default(), &specs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn grids_expand_in_order_first_axis_slowest() {
        let jobs =
            grid(&["density=0.1,0.2", "seed=0, 1, 2", "schedule=step:0.3,0.6:0.1;cosine"]).unwrap().expand().unwrap();
        assert_eq!(jobs.len(), 12);
        assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
        assert_eq!(jobs[0].name, "density=0.1,seed=0,schedule=step:0.3,0.6:0.1");
        assert_eq!(jobs[1].name, "density=0.1,seed=0,schedule=cosine");
        assert_eq!(jobs[2].name, "density=0.1,seed=1,schedule=step:0.3,0.6:0.1");
        assert_eq!(jobs[11].name, "density=0.2,seed=2,schedule=cosine");
        assert_eq!((jobs[7].config.density, jobs[7].config.seed), (0.2, 0));
        assert_eq!(jobs[7].config.schedule, LrSchedule::Cosine { final_frac: 0.0 });
        assert_eq!(grid(&["wd=0.1"]).unwrap().axes, vec![("weight_decay".to_string(), vec!["0.1".to_string()])]);
        let single = grid(&[]).unwrap().expand().unwrap();
        assert_eq!(single, vec![Job { index: 0, name: String::new(), config: TrainConfig::default() }]);
    }

    #[test]
    fn bad_grids_are_refused() {
        let err = grid(&["density=0.1,2", "seed=0,1"]).unwrap().expand().unwrap_err();
        assert!(matches!(&err, TextConfigError::BadJob { index: 2, name, .. } if name == "density=2,seed=0"), "{err}");
        assert!(err.to_string().contains("density 2 is out of range"), "{err}");
        for (specs, needle) in [
            (&["density"][..], "not KEY=VALUE"),
            (&["dens=0.1"], "unknown key 'dens'"),
            (&["density=0.1,,0.2"], "empty value"),
            (&["density="], "empty value"),
            (&["density=0.1,0.1"], "listed twice"),
            (&["seed=1", "seed=2"], "already an axis"),
        ] {
            let err = grid(specs).unwrap_err().to_string();
            assert!(err.contains(needle), "{specs:?}: {err:?} lacks {needle:?}");
        }
        let huge: Vec<String> =
            (0..4).map(|_| format!("seed={}", (0..100).map(|i| i.to_string()).collect::<Vec<_>>().join(","))).collect();
        let huge = Grid {
            base: TrainConfig::default(),
            axes: huge
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("k{i}"), s.split(',').map(String::from).collect()))
                .collect(),
        };
        assert!(huge.expand().unwrap_err().to_string().contains("more than"));
        // A hand-built grid with an empty axis has no jobs rather than a panic.
        let empty = Grid { base: TrainConfig::default(), axes: vec![("seed".into(), vec![])] };
        assert_eq!(empty.expand().unwrap(), vec![]);
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_job() {
        let jobs = grid(&["density=0.05,0.1,0.2,0.5", "seed=0,1,2"]).unwrap().expand().unwrap();
        for n in 1..=14 {
            let mut seen = vec![0; jobs.len()];
            for i in 1..=n {
                let part = shard(&jobs, &format!("{i}/{n}")).unwrap();
                assert!(part.len() == jobs.len() / n || part.len() == jobs.len().div_ceil(n));
                for job in part {
                    assert_eq!(job, jobs[job.index], "a job keeps its global index");
                    seen[job.index] += 1;
                }
            }
            assert!(seen.iter().all(|&count| count == 1), "{n} shards: {seen:?}");
        }
        assert_eq!(shard(&jobs, " 2/5 ").unwrap().iter().map(|j| j.index).collect::<Vec<_>>(), [1, 6, 11]);
        for spec in ["0/3", "4/3", "x", "1/0", "1/", "/3", "-1/3", "1/3/5", ""] {
            assert!(matches!(shard(&jobs, spec), Err(TextConfigError::BadShard { .. })), "{spec}");
        }
    }

    #[test]
    fn job_file_names_sort_and_are_safe() {
        assert_eq!(job_file_name(7, ""), "run-0007.json");
        assert_eq!(job_file_name(7, "density=0.1,seed=2"), "run-0007-density=0.1_seed=2.json");
        assert_eq!(job_file_name(12345, "dataset=cifar10:/a b/é"), "run-12345-dataset=cifar10__a_b__.json");
        assert!(job_file_name(1, &"x".repeat(500)).len() < 100);
    }

    /// A result with the given metrics. It is built through serde, and a field `collect` does not read (one added
    /// to `RunResult` later included) gets the first empty value of a fitting type.
    fn result(config: TrainConfig, accuracy: f64, nll: f64, ece: f64, nonzeros: usize) -> RunResult {
        let accounting = Accounting {
            layers: vec![],
            params: 1000,
            prunable_params: 900,
            nonzeros,
            compression: 1000.0 / nonzeros as f64,
            dense_flops: 1e6,
            sparse_flops: 1e5,
            theoretical_speedup: 10.0,
            train_flops: 3e5,
        };
        let mut json = serde_json::json!({
            "format": RESULT_FORMAT,
            "config": config,
            "test": EvalMetrics { n: 1000, accuracy, nll, ece, ..EvalMetrics::default() },
            "accounting": accounting,
        });
        let missing = |e: &serde_json::Error| {
            e.to_string().strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).map(String::from)
        };
        loop {
            let field = match RunResult::deserialize(&json) {
                Ok(result) => return result,
                Err(e) => missing(&e).unwrap_or_else(|| panic!("cannot build a RunResult: {e}")),
            };
            let empties =
                [Value::Null, 0.into(), Value::Array(vec![]), "".into(), false.into(), Value::Object(Map::new())];
            let fits = empties.into_iter().find(|empty| {
                json[&field] = empty.clone();
                RunResult::deserialize(&json).map_or_else(|e| missing(&e).is_some_and(|f| f != field), |_| true)
            });
            assert!(fits.is_some(), "no empty value fits RunResult's field {field}");
        }
    }

    fn runs() -> Vec<(String, RunResult)> {
        let config = |density, seed, epochs| TrainConfig { density, seed, epochs, ..TrainConfig::default() };
        vec![
            ("a.json".into(), result(config(0.1, 0, 10), 0.70, 1.0, 0.10, 200)),
            ("b.json".into(), result(config(0.2, 0, 10), 0.80, 0.5, 0.02, 300)),
            ("c.json".into(), result(config(0.1, 1, 9), 0.72, 1.2, 0.20, 200)),
            ("d.json".into(), result(config(0.1, 2, 10), 0.74, 1.4, 0.30, 250)),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn collect_groups_varying_keys_but_not_seeds() {
        let runs = runs();
        let table = collect(&runs[..], &[]).unwrap();
        assert_eq!(table.keys, ["density", "epochs"]);
        let values: Vec<&[String]> = table.rows.iter().map(|r| r.values.as_slice()).collect();
        assert_eq!(values, [["0.1", "9"], ["0.1", "10"], ["0.2", "10"]], "9 sorts before 10");

        let by_density = collect(&runs, &["density".into()]).unwrap();
        assert_eq!(by_density.rows.len(), 2);
        let row = &by_density.rows[0];
        assert_eq!(
            (row.values.as_slice(), row.runs.as_slice()),
            (&["0.1".to_string()][..], &["a.json".to_string(), "c.json".into(), "d.json".into()][..])
        );
        assert!(close(row.accuracy.mean, 72.0) && close(row.accuracy.std.unwrap(), 2.0), "{row:?}");
        assert!(close(row.nll.mean, 1.2) && close(row.nll.std.unwrap(), 0.2), "{row:?}");
        assert!(close(row.ece.mean, 0.2) && close(row.ece.std.unwrap(), 0.1), "{row:?}");
        assert!(close(row.nonzeros, 650.0 / 3.0), "{row:?}");
        assert!(close(row.compression, (5.0 + 5.0 + 4.0) / 3.0), "{row:?}");
        let single = &by_density.rows[1];
        assert_eq!((single.runs.len(), single.accuracy.std), (1, None));

        let markdown = by_density.to_markdown();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), 4, "{markdown}");
        assert!(lines[0].starts_with("| density | n | test accuracy (%) |"), "{markdown}");
        assert_eq!(lines[2], "| 0.1 | 3 | 72.00 ± 2.00 | 1.2000 ± 0.2000 | 0.2000 ± 0.1000 | 217 | 4.67× | 0 |");
        assert_eq!(lines[3], "| 0.2 | 1 | 80.00 | 0.5000 | 0.0200 | 300 | 3.33× | 0 |");
        let csv = by_density.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "density,n,accuracy_mean,accuracy_std,nll_mean,nll_std,ece_mean,ece_std,nonzeros_mean,compression_mean,stopped_early"
        );
        assert!(lines[2].starts_with("0.2,1,80,,0.5,,0.02,,300,"), "{csv}");

        // Aliases work, unknown keys do not, and one group of everything is allowed.
        assert_eq!(collect(&runs, &["wd".into()]).unwrap().keys, ["weight_decay"]);
        assert!(collect(&runs, &["nope".into()]).is_err());
        assert_eq!(collect(&runs[..1], &[]).unwrap().rows.len(), 1);
        assert!(collect(&[], &[]).unwrap().rows.is_empty());
    }

    #[test]
    fn collect_shows_kinds_and_quotes_csv() {
        let adam = TrainConfig { optimizer: OptimizerKind::adam(), ..TrainConfig::default() };
        let cifar = TrainConfig { dataset: DatasetSpec::Cifar10 { path: "/a,b|c".into() }, ..TrainConfig::default() };
        let runs = [
            ("a".to_string(), result(TrainConfig::default(), 0.5, 1.0, 0.1, 100)),
            ("b".to_string(), result(adam, 0.5, 1.0, 0.1, 100)),
            ("c".to_string(), result(cifar, 0.5, 1.0, 0.1, 100)),
        ];
        let table = collect(&runs, &[]).unwrap();
        assert_eq!(table.keys, ["dataset", "optimizer"]);
        let values: Vec<Vec<&str>> = table.rows.iter().map(|r| r.values.iter().map(String::as_str).collect()).collect();
        assert_eq!(
            values,
            [vec!["cifar10:/a,b|c", "sgd"], vec!["synthetic:5000:1000", "adam"], vec!["synthetic:5000:1000", "sgd"]]
        );
        assert!(table.to_csv().contains("\n\"cifar10:/a,b|c\",sgd,1,"), "{}", table.to_csv());
        assert!(table.to_markdown().contains("| cifar10:/a,b\\|c | sgd |"), "{}", table.to_markdown());
    }

    #[test]
    fn load_results_reads_directories_and_reports_bad_files() {
        let dir = std::env::temp_dir().join(format!("ticketlab-textconfig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        let run = result(TrainConfig { seed: 3, ..TrainConfig::default() }, 0.6, 1.0, 0.1, 100);
        std::fs::write(dir.join("run-0001.json"), serde_json::to_string(&run).unwrap()).unwrap();
        std::fs::write(dir.join("nested/run-0002.json"), serde_json::to_string_pretty(&run).unwrap()).unwrap();
        std::fs::write(dir.join("masks.json"), r#"{"layers": []}"#).unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        std::fs::write(dir.join("notes.txt"), "not json, not looked at").unwrap();
        let mut future = serde_json::to_value(&run).unwrap();
        future["format"] = 99.into();
        std::fs::write(dir.join("future.json"), future.to_string()).unwrap();

        let missing = dir.join("missing.json");
        let (results, errors) = load_results(&[dir.clone(), missing]);
        let names: Vec<&str> = results.iter().map(|(p, _)| p.strip_prefix(dir.to_str().unwrap()).unwrap()).collect();
        assert_eq!(names, ["/nested/run-0002.json", "/run-0001.json"], "name order, depth first");
        assert_eq!(results[1].1.config.seed, 3);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        for (needle, why) in [
            ("broken.json", "not a ticketlab run result"),
            ("future.json", "format 99"),
            ("masks.json", "missing field"),
            ("missing.json", ""),
        ] {
            assert!(errors.iter().any(|e| e.contains(needle) && e.contains(why)), "{needle}: {errors:#?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
