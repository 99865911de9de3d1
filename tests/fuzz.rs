//! Fuzzing the parsers of untrusted input: shared links, CIFAR byte streams (`.bin` records, named files in memory,
//! `.tar.gz` archives, all through the reader's public functions) and saved-run JSON (parsed, checked, then opened in
//! the viewer and drawn on a headless egui context, as the app would).
//!
//! A seeded, structure-aware generator rather than cargo-fuzz: cargo-fuzz builds on stable only without sanitizers
//! and needs a second, instrumented build of burn and egui, while this runs inside `cargo test`. Each case starts
//! from a valid input (a link of real keys, well-formed records and archives, results of real runs) and breaks it:
//! extreme and ill-typed values, truncation, duplication, byte flips. A parser passes when no input panics or aborts,
//! every refusal is a message, and every input it accepts holds together (a link's settings validate and round-trip,
//! records have the size and labels their data set allows, a saved run draws in every view).
//!
//! `cargo test --release --test fuzz` runs a short pass (seconds per parser). The long run:
//!
//! ```sh
//! FUZZ_ITERATIONS=1000000 cargo test --release --test fuzz -- --nocapture --test-threads 3
//! ```
//!
//! prints how many inputs each parser tried and accepted. `FUZZ_SEED` changes the inputs. A failing input is written
//! to `target/fuzz-failures/` and the test fails naming it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use eframe::egui;
use serde_json::Value;

use ticketlab::app::{Session, parse_saved_run, views};
use ticketlab::config::{DatasetSpec, TrainConfig};
use ticketlab::data::{
    DataSplits, IMAGE_BYTES, cifar10_from_files, cifar100_from_files, load_cifar10, load_cifar100,
    parse_cifar10_records, parse_cifar100_records,
};
use ticketlab::model::Arch;
use ticketlab::rng::Rng;
use ticketlab::textconfig::{from_fragment, to_fragment};

/// Inputs per parser: the short pass by default, `FUZZ_ITERATIONS` for the long run.
fn iterations(short: usize) -> usize {
    std::env::var("FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(short)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Runs `check` on `input`; a panic (or a failed check) saves the input and fails the test, naming both.
fn survive(parser: &str, case: usize, input: &[u8], check: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(check)) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{parser}-seed{}-case{case}.bin", seed()));
        let _ = std::fs::write(&file, input);
        let message = panic.downcast_ref::<String>().cloned().or(panic.downcast_ref::<&str>().map(|s| s.to_string()));
        panic!("{parser}: case {case} failed ({}); the input is in {}", message.unwrap_or_default(), file.display());
    }
}

fn report(parser: &str, tried: usize, accepted: usize) {
    println!("fuzz {parser}: {tried} inputs tried, {accepted} accepted, 0 crashed (seed {})", seed());
}

/// An element of `items`.
fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len() as u32) as usize]
}

/// A few random byte edits: flips, insertions of structurally meaningful bytes, deletions, a repeated run,
/// truncation.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, specials: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let at = if bytes.is_empty() { 0 } else { rng.below(bytes.len() as u32) as usize };
        match rng.below(6) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
            1 => bytes.insert(at, *pick(rng, specials)),
            2 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            3 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(64) as usize).min(bytes.len());
                let run = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
            4 => bytes.truncate(at),
            _ => bytes.insert(at, rng.next_u32() as u8),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Links

/// Every key of the configuration's serde form, dotted, with its default value, and a few aliases and impostors
/// (without one).
fn link_keys() -> Vec<(String, Option<Value>)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Option<Value>)>) {
        if let Value::Object(map) = value {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.push((key.clone(), Some(v.clone())));
                walk(&key, v, out);
            }
        }
    }
    let mut keys = vec![];
    walk("", &serde_json::to_value(TrainConfig::default()).unwrap(), &mut keys);
    let others = ["wd", "bs", "arch", "data", "opt", "sched", "v", "", ".", "..", "dst.", "a.b.c.d.e.f", "seed.x"];
    keys.extend(others.map(|k| (k.to_string(), None)));
    keys
}

/// A value of the kind `default` holds (a nearby number, the other boolean, a name), often valid.
fn plausible_value(rng: &mut Rng, default: &Value) -> String {
    match default {
        Value::Number(n) => {
            let v = n.as_f64().unwrap_or(0.0);
            let scaled = v * *pick(rng, &[0.5, 1.0, 2.0, 0.1, 10.0]) + *pick(rng, &[0.0, 0.0, 1.0, 0.001]);
            if n.is_f64() { scaled.to_string() } else { (scaled.round() as i64).to_string() }
        }
        Value::Bool(b) => (!b).to_string(),
        Value::String(s) => s.clone(),
        Value::Null => pick(rng, &["null", "1", "100", "7"]).to_string(),
        Value::Object(map) => match map.get("kind") {
            Some(Value::String(kind)) if rng.bernoulli(0.5) => kind.clone(),
            _ => default.to_string(),
        },
        Value::Array(_) => default.to_string(),
    }
}

const LINK_VALUES: [&str; 44] = [
    "0",
    "1",
    "-1",
    "0.1",
    "1e308",
    "-1e308",
    "1e-320",
    "NaN",
    "inf",
    "-0",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999",
    "true",
    "null",
    "[]",
    "{}",
    "\"x\"",
    "rigl",
    "set",
    "imp",
    "colt",
    "adam",
    "sgd",
    "vgg11",
    "resnet20",
    "erk",
    "cosine",
    "step:0.5,0.75:0.1",
    "onecycle:0.1:25:1e4",
    "triangular:0:0",
    "synthetic",
    "synthetic:100000000:10",
    "synthetic:0:0",
    "cifar10:/nonexistent",
    "cifar100:",
    "step:18446744073709551615",
    "{\"kind\":\"synthetic\",\"train\":100000000,\"test\":10}",
    "{\"kind\":\"synthetic\",\"train\":18446744073709551615,\"test\":1}",
    "{\"kind\":\"adam\",\"beta1\":0.8,\"beta2\":0.99,\"epsilon\":1e-8}",
    "{\"kind\":\"sgd\"}",
    "%",
    "%zz",
    "%C3%28",
];

fn percent_encode(rng: &mut Rng, text: &str) -> String {
    text.bytes()
        .map(|b| {
            if rng.bernoulli(0.15) || b"&=#%?+ ".contains(&b) && rng.bernoulli(0.8) {
                format!("%{b:02X}")
            } else {
                (b as char).to_string()
            }
        })
        .collect()
}

fn random_link(rng: &mut Rng, keys: &[(String, Option<Value>)]) -> String {
    let prefix = *pick(rng, &["ticketlab://run?", "https://example.org/ticketlab/#", "#", "", "?", "x#y?z"]);
    let mut parts = vec![];
    if rng.bernoulli(0.9) {
        parts.push(format!("v={}", pick(rng, &["1", "1", "1", "2", "0", "", "01", "1.0"])));
    }
    let pairs = if rng.bernoulli(0.05) { 300 } else { 6 };
    for _ in 0..rng.below(pairs) {
        let (key, default) = pick(rng, keys).clone();
        let value = match (rng.below(5), default) {
            (0 | 1, Some(default)) => plausible_value(rng, &default),
            (0, _) => format!("{}", rng.normal() * 10f32.powi(rng.below(12) as i32 - 4)),
            (1, _) => (rng.next_u64() >> rng.below(64)).to_string(),
            _ => pick(rng, &LINK_VALUES).to_string(),
        };
        parts.push(format!("{}={}", percent_encode(rng, &key), percent_encode(rng, &value)));
    }
    if rng.bernoulli(0.01) {
        parts.push(format!("{}{}=1", pick(rng, &["dst", "dataset", "x"]), ".a".repeat(rng.below(4000) as usize)));
    }
    rng.shuffle(&mut parts);
    let mut link = format!("{prefix}{}", parts.join("&"));
    if rng.bernoulli(0.01) {
        link.push_str(&"a".repeat(1 << (10 + rng.below(8))));
    }
    if rng.bernoulli(0.4) {
        let mut bytes = link.into_bytes();
        mutate_bytes(rng, &mut bytes, b"&=#%?+.,:{}[]\"0123456789");
        link = String::from_utf8_lossy(&bytes).into_owned();
    }
    link
}

/// Links: any text gives a configuration or an error; an accepted configuration is valid and survives its own
/// link unchanged.
#[test]
fn links_never_panic_and_accepted_ones_round_trip() {
    let keys = link_keys();
    let mut rng = Rng::stream(seed(), "fuzz-links");
    let (n, mut accepted) = (iterations(20_000), 0);
    for case in 0..n {
        let link = random_link(&mut rng, &keys);
        let mut ok = false;
        survive("link", case, link.as_bytes(), || {
            if let Ok(config) = from_fragment(&link) {
                assert_eq!(config.validate(), Ok(()), "an accepted link's settings validate");
                let again = from_fragment(&to_fragment(&config)).expect("an accepted link's own link parses");
                assert_eq!(again, config, "and gives the same settings");
                ok = true;
            }
        });
        accepted += ok as usize;
    }
    report("links", n, accepted);
}

// ---------------------------------------------------------------------------------------------------------------
// CIFAR byte streams

/// `records` CIFAR records of `label_bytes` label bytes (mostly valid labels for `classes`) and random pixels.
fn records(rng: &mut Rng, records: usize, label_bytes: usize, classes: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records * (label_bytes + IMAGE_BYTES));
    for _ in 0..records {
        for &c in &classes[..label_bytes] {
            out.push(if rng.bernoulli(0.97) { rng.below(c) as u8 } else { rng.next_u32() as u8 });
        }
        out.extend((0..IMAGE_BYTES).map(|_| rng.next_u32() as u8));
    }
    out
}

/// A `.bin` stream: CIFAR-10's (`cifar100` false) or CIFAR-100's records, often broken.
fn random_bin(rng: &mut Rng, cifar100: bool) -> Vec<u8> {
    let (label_bytes, classes) = if cifar100 { (2, [20, 100]) } else { (1, [10, 0]) };
    let n = rng.below(5) as usize;
    let mut bytes = records(rng, n, label_bytes, &classes);
    if rng.bernoulli(0.5) {
        mutate_bytes(rng, &mut bytes, &[0, 9, 10, 19, 20, 99, 100, 255]);
    }
    bytes
}

/// What every data set the reader accepts must satisfy.
fn check_splits(splits: &DataSplits, classes: usize) {
    for set in [&splits.train, &splits.test] {
        assert!(!set.is_empty(), "{}: an accepted split is not empty", splits.name);
        assert_eq!(set.images.len(), set.len() * IMAGE_BYTES, "{}: whole images", splits.name);
        assert!(set.labels.iter().all(|&l| (l as usize) < classes), "{}: labels below {classes}", splits.name);
    }
}

/// File names the reader looks for, with directories, near misses and a few strange ones.
const CIFAR_NAMES: [&str; 16] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_5.bin",
    "test_batch.bin",
    "batches.meta.txt",
    "train.bin",
    "test.bin",
    "coarse_label_names.txt",
    "fine_label_names.txt",
    "cifar-10-batches-bin/test_batch.bin",
    "../../test_batch.bin",
    "dir\\data_batch_1.bin",
    "data_batch_6.bin",
    "",
    "/",
    "cifar-100-binary/train.bin",
];

fn random_names_file(rng: &mut Rng) -> Vec<u8> {
    let lines = rng.below(120) as usize;
    let mut text: Vec<u8> = (0..lines).flat_map(|i| format!("class{i}\n").into_bytes()).collect();
    if rng.bernoulli(0.5) {
        mutate_bytes(rng, &mut text, b"\n\r\xff\xfe \t");
    }
    text
}

/// Named files as the browser hands them over.
fn random_files(rng: &mut Rng, cifar100: bool) -> Vec<(String, Vec<u8>)> {
    (0..rng.below(6))
        .map(|_| {
            let name = pick(rng, &CIFAR_NAMES).to_string();
            let bytes = if name.ends_with(".txt") { random_names_file(rng) } else { random_bin(rng, cifar100) };
            (name, bytes)
        })
        .collect()
}

/// The files of a whole data set, well formed: the test file, one to all training files, sometimes the names.
fn whole_data_set(rng: &mut Rng, cifar100: bool) -> Vec<(String, Vec<u8>)> {
    let (label_bytes, classes, train, test, names): (usize, [u32; 2], &[&str], &str, &str) = if cifar100 {
        (2, [20, 100], &["train.bin"], "test.bin", "fine_label_names.txt")
    } else {
        (
            1,
            [10, 0],
            &["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin"],
            "test_batch.bin",
            "batches.meta.txt",
        )
    };
    let dir = if cifar100 { "cifar-100-binary/" } else { "cifar-10-batches-bin/" };
    let trained = 1 + rng.below(train.len() as u32) as usize;
    let mut files = vec![];
    for name in [test].iter().chain(&train[..trained]) {
        let n = 1 + rng.below(3) as usize;
        files.push((format!("{dir}{name}"), records(rng, n, label_bytes, &classes)));
    }
    if rng.bernoulli(0.3) {
        files.push((format!("{dir}{names}"), random_names_file(rng)));
    }
    files
}

/// A `.tar.gz` (or a broken one) of named files: half the time a whole data set, perhaps with one file broken.
fn random_archive(rng: &mut Rng, cifar100: bool) -> Vec<u8> {
    use std::io::Write;
    let mut files = if rng.bernoulli(0.5) { whole_data_set(rng, cifar100) } else { random_files(rng, cifar100) };
    if !files.is_empty() && rng.bernoulli(0.3) {
        let i = rng.below(files.len() as u32) as usize;
        mutate_bytes(rng, &mut files[i].1, &[0, 9, 10, 19, 20, 99, 100, 255]);
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let prefix = *pick(rng, &["", "", "", "x/y/"]);
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_entry_type(if rng.bernoulli(0.95) { tar::EntryType::Regular } else { tar::EntryType::Directory });
        header.set_mode(0o644);
        let path = format!("{prefix}{name}");
        if path.is_empty() || path.len() > 90 || header.set_path(&path).is_err() {
            continue;
        }
        header.set_cksum();
        let _ = tar.append(&header, bytes.as_slice());
    }
    let tarred = tar.into_inner().unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&tarred);
    let mut bytes = gz.finish().unwrap_or_default();
    match rng.below(5) {
        0 => mutate_bytes(rng, &mut bytes, &[0, 0x1f, 0x8b, 8, 255]),
        1 => bytes = tarred,
        _ => {}
    }
    bytes
}

/// CIFAR `.bin` records and named files in memory: every input is parsed or refused with a message; accepted records
/// are whole, with labels the data set allows.
#[test]
fn cifar_records_and_files_never_panic() {
    let mut rng = Rng::stream(seed(), "fuzz-cifar-bin");
    let (n, mut accepted) = (iterations(20_000), 0);
    for case in 0..n {
        let cifar100 = rng.bernoulli(0.5);
        let coarse = rng.bernoulli(0.5);
        if rng.bernoulli(0.7) {
            let bytes = random_bin(&mut rng, cifar100);
            let mut ok = false;
            survive("cifar-bin", case, &bytes, || {
                let (record_len, classes, parsed) = if cifar100 {
                    (2 + IMAGE_BYTES, if coarse { 20 } else { 100 }, parse_cifar100_records("f.bin", &bytes, coarse))
                } else {
                    (1 + IMAGE_BYTES, 10, parse_cifar10_records("f.bin", &bytes))
                };
                match parsed {
                    Ok((images, labels)) => {
                        assert_eq!(labels.len() * record_len, bytes.len(), "every byte is a record");
                        assert_eq!(images.len(), labels.len() * IMAGE_BYTES);
                        assert!(labels.iter().all(|&l| (l as usize) < classes));
                        ok = true;
                    }
                    Err(e) => assert!(e.to_string().contains("f.bin"), "the error names the file: {e}"),
                }
            });
            accepted += ok as usize;
        } else {
            let files = random_files(&mut rng, cifar100);
            let flat: Vec<u8> = files.iter().flat_map(|(n, b)| [n.as_bytes(), b"\0", b].concat()).collect();
            let mut ok = false;
            survive("cifar-files", case, &flat, || {
                let parsed = if cifar100 { cifar100_from_files(&files, coarse) } else { cifar10_from_files(&files) };
                if let Ok(splits) = parsed {
                    check_splits(
                        &splits,
                        if !cifar100 {
                            10
                        } else if coarse {
                            20
                        } else {
                            100
                        },
                    );
                    ok = true;
                }
            });
            accepted += ok as usize;
        }
    }
    report("cifar .bin records and files", n, accepted);
}

/// CIFAR archives as the native app and the CLI read them (`--dataset cifar10:FILE.tar.gz`).
#[test]
fn cifar_archives_never_panic() {
    let mut rng = Rng::stream(seed(), "fuzz-cifar-tar");
    let dir = std::env::temp_dir().join(format!("ticketlab-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cifar.tar.gz");
    let (n, mut accepted) = (iterations(3_000), 0);
    for case in 0..n {
        let cifar100 = rng.bernoulli(0.5);
        let coarse = rng.bernoulli(0.5);
        let bytes = random_archive(&mut rng, cifar100);
        std::fs::write(&path, &bytes).unwrap();
        let mut ok = false;
        survive("cifar-tar-gz", case, &bytes, || {
            let parsed = if cifar100 { load_cifar100(&path, coarse) } else { load_cifar10(&path) };
            match parsed {
                Ok(splits) => {
                    check_splits(
                        &splits,
                        if !cifar100 {
                            10
                        } else if coarse {
                            20
                        } else {
                            100
                        },
                    );
                    ok = true;
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        });
        accepted += ok as usize;
    }
    let _ = std::fs::remove_dir_all(&dir);
    report("cifar .tar.gz archives", n, accepted);
}

// ---------------------------------------------------------------------------------------------------------------
// Saved runs

/// Results of small real runs, as the app exports them and as the CLI writes them: a RigL run (mask updates), IMP
/// with its controls (masks, histograms) and a DST ensemble (matrices).
fn saved_runs() -> Vec<Value> {
    use ticketlab::procedure::{Outcome, run_procedure};
    let base = TrainConfig {
        dataset: DatasetSpec::Synthetic { train: 64, test: 32 },
        model: Arch::Conv2,
        width: 0.25,
        density: 0.5,
        batch_size: 16,
        steps: Some(4),
        eval_every: 2,
        ..TrainConfig::default()
    };
    let configs = [
        ticketlab::textconfig::apply(&base, &["method=rigl".into(), "dst.update_every=2".into()]).unwrap(),
        ticketlab::textconfig::apply(&base, &["method=imp".into(), "density=0.7".into()]).unwrap(),
        ticketlab::textconfig::apply(&base, &["ensemble.kind=dst-ensemble".into(), "ensemble.members=2".into()])
            .unwrap(),
    ];
    let mut out = vec![];
    for config in configs {
        let data = ticketlab::train::TrainData::new(ticketlab::data::synthetic(config.seed, 64, 32), 0.0, config.seed);
        let outcome = pollster::block_on(run_procedure(
            &config,
            data,
            burn::prelude::Device::flex(),
            "cpu",
            &mut ticketlab::pace::Unpaced,
        ))
        .unwrap();
        out.push(serde_json::to_value(&outcome).unwrap());
        // As `reproduce` keeps it in its jobs-cache: the outcome under `measured`.
        out.push(serde_json::json!({ "job": {}, "seconds": 1.0, "measured": { "Outcome": &outcome } }));
        if let Outcome::Run(r) = &outcome {
            // A run then evaluated under corruptions, as `reproduce` keeps its dense baseline.
            let corrupted = serde_json::json!({ "run": r, "rows": [["gaussian-noise", 1, 0.5]] });
            out.push(serde_json::json!({ "job": {}, "seconds": 1.0, "measured": { "Corrupted": corrupted } }));
        }
        out.push(match outcome {
            Outcome::Run(r) => serde_json::to_value(r).unwrap(),
            Outcome::Imp(r) => serde_json::to_value(r).unwrap(),
            Outcome::Ensemble(r) => serde_json::to_value(r).unwrap(),
        });
    }
    out
}

/// Where a seed's nodes are, as JSON pointers: its arrays, its object members (parent and key) and its scalars, so
/// a mutation can aim at each kind evenly (a run's masks hold thousands of numbers, and a short length or a missing
/// key is what breaks a reader).
struct Nodes {
    arrays: Vec<String>,
    members: Vec<(String, String)>,
    scalars: Vec<String>,
}

impl Nodes {
    fn of(value: &Value) -> Nodes {
        fn walk(pointer: String, value: &Value, nodes: &mut Nodes) {
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(format!("{pointer}/{i}"), item, nodes);
                    }
                    nodes.arrays.push(pointer);
                }
                Value::Object(map) => {
                    for (key, item) in map {
                        nodes.members.push((pointer.clone(), key.clone()));
                        walk(format!("{pointer}/{key}"), item, nodes);
                    }
                }
                _ => nodes.scalars.push(pointer),
            }
        }
        let mut nodes = Nodes { arrays: vec![], members: vec![], scalars: vec![] };
        walk(String::new(), value, &mut nodes);
        nodes
    }
}

/// A value a reader may not expect: an extreme or odd number, another type.
fn odd_value(rng: &mut Rng) -> Value {
    const NUMBERS: [f64; 14] =
        [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 64.0, 1e9, -1e9, 1e300, -1e300, 4294967296.0, 1e-300];
    match rng.below(4) {
        0 => serde_json::json!(*pick(rng, &NUMBERS)),
        1 => serde_json::json!(rng.next_u64() >> rng.below(64)),
        2 => serde_json::json!(rng.below(12) as i64 - 2),
        _ => pick(
            rng,
            &[Value::Null, Value::Bool(true), serde_json::json!("x"), serde_json::json!([]), serde_json::json!({})],
        )
        .clone(),
    }
}

/// One to three edits of `value`, aimed evenly at its arrays (shortened, emptied, grown, reordered), its members
/// (another value, removed) and its scalars (scaled, replaced, another name).
fn mutate_json(rng: &mut Rng, value: &mut Value, nodes: &Nodes) {
    for _ in 0..1 + rng.below(3) {
        match rng.below(3) {
            0 if !nodes.arrays.is_empty() => {
                let Some(Value::Array(items)) = value.pointer_mut(pick(rng, &nodes.arrays).as_str()) else { continue };
                let len = items.len() as u32;
                match rng.below(5) {
                    0 => items.truncate(rng.below(len + 1) as usize),
                    1 => items.clear(),
                    2 if len > 0 => {
                        let item = items[rng.below(len) as usize].clone();
                        items.extend(std::iter::repeat_n(item, 1 + rng.below(3) as usize));
                    }
                    3 if len > 1 => items.swap(rng.below(len) as usize, rng.below(len) as usize),
                    _ if len > 0 => {
                        items.remove(rng.below(len) as usize);
                    }
                    _ => items.push(odd_value(rng)),
                }
            }
            1 if !nodes.members.is_empty() => {
                let (parent, key) = pick(rng, &nodes.members);
                let Some(Value::Object(map)) = value.pointer_mut(parent) else { continue };
                if rng.bernoulli(0.3) {
                    map.remove(key);
                } else if let Some(member) = map.get_mut(key) {
                    *member = odd_value(rng);
                }
            }
            _ => {
                let Some(node) = value.pointer_mut(pick(rng, &nodes.scalars).as_str()) else { continue };
                *node = match node {
                    Value::Number(n) if rng.bernoulli(0.5) => {
                        let v = n.as_f64().unwrap_or(0.0);
                        serde_json::json!(v * *pick(rng, &[-1.0, 0.5, 2.0, 1e6, 1e-6]) + *pick(rng, &[0.0, 1.0, -1.0]))
                    }
                    Value::String(_) if rng.bernoulli(0.5) => {
                        let names =
                            ["", "rigl", "imp", "colt", "conv6", "vgg11", "resnet20", "dst-ensemble", "soup", "x"];
                        serde_json::json!(pick(rng, &names))
                    }
                    _ => odd_value(rng),
                };
            }
        }
    }
}

/// Draws every view of a session as the app does, on a headless egui context: the tickets view at every round and
/// the topology view at every mask snapshot, as a user moving the sliders would.
fn draw_all_views(session: &Session) {
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(Default::default(), [1280.0, 800.0].into())),
        ..Default::default()
    };
    let pages = session.rounds.len().max(session.stage().map_or(0, |s| s.masks.len())).max(1);
    for page in 0..pages {
        let mut state = views::ViewState::default();
        (state.round, state.snapshot) = (page, page);
        let _ = ctx.run_ui(input(), |ui| {
            views::training(ui, session, &[], None, &mut state);
            views::tickets(ui, session, &mut state);
            views::topology(ui, session, &mut state);
            views::ensembles(ui, session);
        });
    }
}

/// A saved run whose confusion matrices the viewer could not draw in a frame (more classes than any data set has,
/// or ragged) is refused, naming the problem: the viewer draws each cell every frame, and a 10,000-class matrix
/// hung it.
#[test]
fn saved_runs_with_undrawable_confusion_matrices_are_refused() {
    fn replace_confusions(value: &mut Value, with: &Value) {
        match value {
            Value::Object(map) => {
                for (key, member) in map.iter_mut() {
                    if key == "confusion" {
                        *member = with.clone();
                    } else {
                        replace_confusions(member, with);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| replace_confusions(item, with)),
            _ => {}
        }
    }
    let huge = serde_json::json!(vec![vec![0u32; 101]; 101]);
    let ragged = serde_json::json!([[1, 0], [0]]);
    for (i, seed) in saved_runs().into_iter().enumerate() {
        for bad in [&huge, &ragged] {
            let mut value = seed.clone();
            replace_confusions(&mut value, bad);
            let e = parse_saved_run("run.json", value.to_string().as_bytes()).expect_err(&format!("seed {i}"));
            assert!(e.starts_with("run.json: ") && e.contains("confusion matrix"), "seed {i}: {e}");
        }
    }
}

/// Saved runs: any file is opened or refused with a message naming it; an opened one draws in every view.
#[test]
fn saved_runs_never_panic_and_opened_ones_draw() {
    let seeds = saved_runs();
    let nodes: Vec<Nodes> = seeds.iter().map(Nodes::of).collect();
    for (i, value) in seeds.iter().enumerate() {
        let outcome = parse_saved_run("seed.json", value.to_string().as_bytes()).unwrap_or_else(|e| panic!("{i}: {e}"));
        draw_all_views(&Session::viewer(outcome));
    }
    let mut rng = Rng::stream(seed(), "fuzz-saved-runs");
    let (n, mut accepted) = (iterations(2_000), 0);
    for case in 0..n {
        let which = rng.below(seeds.len() as u32) as usize;
        let mut value = seeds[which].clone();
        mutate_json(&mut rng, &mut value, &nodes[which]);
        let mut bytes = value.to_string().into_bytes();
        if rng.bernoulli(0.1) {
            mutate_bytes(&mut rng, &mut bytes, b"{}[]\",:0123456789-.e");
        }
        let mut ok = false;
        survive("saved-run", case, &bytes, || match parse_saved_run("fuzz.json", &bytes) {
            Ok(outcome) => {
                draw_all_views(&Session::viewer(outcome));
                ok = true;
            }
            Err(e) => assert!(e.starts_with("fuzz.json: "), "the error names the file: {e}"),
        });
        accepted += ok as usize;
    }
    report("saved runs", n, accepted);
}
