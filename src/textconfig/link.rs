//! Shareable links: a configuration as `v=3&key=value&…`, the assignments that differ from the defaults.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{TextConfigError, canonical_key, diff, set_all, split_assignment};
use crate::config::TrainConfig;
use crate::data::{Flip, Padding};

/// Version of the link format; a link from a newer build is refused rather than half understood. A link names only
/// what differs from the defaults, so the version moves when a default does, and older links keep their meaning
/// (see [`defaults_of_version`]).
pub const LINK_VERSION: u32 = 3;

/// The longest link read, in bytes: every setting changed, a long data path and room to spare fit in a tenth of it.
pub const MAX_LINK_BYTES: usize = 16 * 1024;
/// The most assignments a link may hold: more than there are settings.
pub const MAX_LINK_KEYS: usize = 100;

/// A link fragment for `config`: `v=3` and the assignments that differ from the defaults, percent-encoded, e.g.
/// `v=3&density=0.1&model=vgg11&seed=7`. Put it after `#` in the web app's address or after `ticketlab://run?`.
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
    if link.len() > MAX_LINK_BYTES {
        return Err(TextConfigError::BadLink(format!("it is {} bytes long (at most {MAX_LINK_BYTES})", link.len())));
    }
    let link = link.trim();
    let query = match (link.split_once('#'), link.split_once('?')) {
        (Some((_, fragment)), _) => fragment,
        (None, Some((_, query))) => query,
        (None, None) if link.contains("://") => {
            return Err(TextConfigError::BadLink(format!(
                "'{link}' carries no settings (a web link has them after '#', a ticketlab:// link after '?')"
            )));
        }
        (None, None) => link,
    };
    if query.is_empty() {
        return Err(TextConfigError::BadLink(format!("it is empty (expected e.g. v={LINK_VERSION}&density=0.1)")));
    }
    let mut version = None;
    let mut pairs = Vec::new();
    let assignments: Vec<&str> = query.split('&').filter(|raw| !raw.is_empty()).collect();
    if assignments.len() > MAX_LINK_KEYS {
        return Err(TextConfigError::BadLink(format!(
            "it has {} assignments (at most {MAX_LINK_KEYS})",
            assignments.len()
        )));
    }
    for raw in assignments {
        let (key, value) = split_assignment(raw)?;
        let decoded = |text| decode(text).map_err(|why| TextConfigError::BadLink(format!("'{raw}': {why}")));
        let (key, value) = (decoded(key)?, decoded(value)?);
        if key != "v" {
            pairs.push((key, value));
        } else if version.replace(value).is_some() {
            return Err(TextConfigError::BadLink("the version 'v' is given twice".into()));
        }
    }
    let defaults = match version {
        None => return Err(TextConfigError::BadLink(format!("it has no version (links start with v={LINK_VERSION})"))),
        Some(v) => v.parse::<u32>().ok().and_then(defaults_of_version).ok_or_else(|| {
            TextConfigError::BadLink(format!(
                "version '{v}' is not supported (this build reads v=1 to v={LINK_VERSION})"
            ))
        })?,
    };
    let mut seen = BTreeSet::new();
    for (key, _) in &pairs {
        if !seen.insert(canonical_key(key)?) {
            return Err(TextConfigError::BadLink(format!("the key '{key}' is given twice")));
        }
    }
    set_all(&defaults, &pairs)
}

/// The defaults a link of `version` was written against: versions 1 and 2 predate EDST's longer run (its length was
/// the configuration's), and version 1 airbench's reflected padding and alternating flips, so what it leaves unsaid
/// means zero padding and random flips.
fn defaults_of_version(version: u32) -> Option<TrainConfig> {
    let v2 = || {
        let mut defaults = TrainConfig::default();
        defaults.ensemble.edst_length = 1.0;
        defaults
    };
    match version {
        1 => Some(TrainConfig { padding: Padding::Zero, flip: Flip::Random, ..v2() }),
        2 => Some(v2()),
        LINK_VERSION => Some(TrainConfig::default()),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::super::testutil::{err_of, random_config, text};
    use super::*;
    use crate::config::{DatasetSpec, EnsembleSettings};
    use crate::rng::Rng;

    #[test]
    fn links_round_trip_random_configs() {
        let mut rng = Rng::new(11);
        for _ in 0..500 {
            let config = random_config(&mut rng);
            let fragment = to_fragment(&config);
            assert!(fragment.starts_with("v=3"), "{fragment}");
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
        assert_eq!(fragment, "v=3&dataset=cifar10:/data/my%20cifar%231&density=0.1&seed=7");
        assert_eq!(from_fragment(&fragment).unwrap(), config);
        assert_eq!(from_fragment("v=3").unwrap(), TrainConfig::default());
        assert_eq!(from_fragment("#v=3&wd=0.001&").unwrap().weight_decay, 0.001);
    }

    #[test]
    fn older_links_keep_their_meaning() {
        let v2 = from_fragment("v=2&density=0.1").unwrap();
        let edst_as_long_as_the_run = EnsembleSettings { edst_length: 1.0, ..EnsembleSettings::default() };
        assert_eq!(
            v2,
            TrainConfig { density: 0.1, ensemble: edst_as_long_as_the_run.clone(), ..TrainConfig::default() }
        );
        assert_eq!(from_fragment("v=2&ensemble.edst_length=1.8").unwrap().ensemble, EnsembleSettings::default());
        let v1 = from_fragment("v=1&density=0.1").unwrap();
        let expected = TrainConfig {
            density: 0.1,
            padding: Padding::Zero,
            flip: Flip::Random,
            ensemble: edst_as_long_as_the_run,
            ..TrainConfig::default()
        };
        assert_eq!(v1, expected);
        for old in [v1, v2] {
            let rewritten = to_fragment(&old);
            assert!(rewritten.contains("ensemble.edst_length=1"), "{rewritten}");
            assert_eq!(from_fragment(&rewritten).unwrap(), old, "rewritten as version {LINK_VERSION}, the same run");
        }
        assert_eq!(from_fragment("v=1&flip=alternating").unwrap().flip, Flip::Alternating);
    }

    #[test]
    fn malformed_links_are_refused_with_the_offending_part_named() {
        let cases = [
            ("", "empty"),
            ("#", "empty"),
            ("density=0.1", "no version"),
            ("https://example.org/ticketlab/", "carries no settings"),
            ("v=4&density=0.1", "version '4' is not supported"),
            ("v=0", "version '0' is not supported"),
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
            ("v=1&dataset=synthetic:100000000:10", "sizes must be"),
            (
                "v=1&dataset=%7B%22kind%22%3A%22synthetic%22%2C%22train%22%3A100000000%2C%22test%22%3A10%7D",
                "sizes must be",
            ),
            ("v=1&dataset={\"kind\":\"cifar10\",\"path\":\"\"}", "the data path is missing"),
            ("v=1&dst.a.b.c.d=1", "at most 4 segments"),
        ];
        for (link, needle) in cases {
            let err = err_of(from_fragment(link));
            assert!(err.contains(needle), "{link}: {err:?} lacks {needle:?}");
        }
        let long = format!("v=1&dataset=cifar10:{}", "a".repeat(MAX_LINK_BYTES));
        assert!(err_of(from_fragment(&long)).contains("bytes long"));
        let many = format!("v=1{}", "&seed=1".repeat(MAX_LINK_KEYS + 1));
        assert!(err_of(from_fragment(&many)).contains("assignments"));
        let deep = format!("v=1&dataset{}=1", ".a".repeat(5_000));
        assert!(err_of(from_fragment(&deep)).contains("at most 4 segments"), "no deep nesting is built");
        let mut rng = Rng::new(3);
        for _ in 0..2000 {
            let _ = from_fragment(&format!("v=1&{}={}", text(&mut rng), text(&mut rng)));
        }
    }
}
