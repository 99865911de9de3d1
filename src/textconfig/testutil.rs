//! Random configurations and small helpers for the tests of this module.

use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::rng::Rng;

pub(super) fn set_ok(config: &TrainConfig, key: &str, value: &str) -> TrainConfig {
    set(config, key, value).unwrap_or_else(|e| panic!("{key}={value}: {e}"))
}

pub(super) fn err_of(result: Result<TrainConfig, TextConfigError>) -> String {
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

pub(super) fn text(rng: &mut Rng) -> String {
    const CHARS: [char; 16] = ['a', 'Z', '0', '/', ':', ' ', '&', '=', '#', '%', '?', '+', ',', 'é', '日', '.'];
    (0..1 + rng.below(12)).map(|_| CHARS[rng.below(16) as usize]).collect()
}

/// A random valid configuration; each field keeps its default half the time.
pub(super) fn random_config(rng: &mut Rng) -> TrainConfig {
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
                let mut milestones: Vec<f64> = (0..1 + rng.below(4)).map(|_| unit(rng)).filter(|&m| m > 0.0).collect();
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
        c.test_from_train = 0.5 * unit(rng);
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
            Some(Value::Number(n)) if n.is_u64() => Value::from(n.as_u64().unwrap_or(0) / 2 + u64::from(rng.below(3))),
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
