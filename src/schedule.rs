//! Learning-rate schedules.
//!
//! A schedule maps `(base_lr, step, total_steps)` to the learning rate of one optimiser step. Schedules live in run
//! configs (serde, tagged by `kind`) and are given on the command line in a compact form such as `step:0.5,0.75:0.1`
//! or `onecycle:0.1:100:10000` (see [`LR_SCHEDULE_FORMS`]). [`Display`](fmt::Display) writes every parameter back
//! in that form, so printing a schedule and parsing the text gives the same schedule.
//!
//! The continuous schedules (cosine, linear, one-cycle) follow the progress `p = step / (total_steps - 1)`, so the
//! first step gets the start value and the last step exactly the final value. Step milestones are fractions of
//! `total_steps`: milestone `m` applies from step `round(m * total_steps)` on. Steps past the end keep the last
//! step's rate.
//!
//! Deserialised schedules are not checked; call [`LrSchedule::validate`] on them before use.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use crate::num::Shown;

/// The accepted command-line forms; parse errors quote this.
pub const LR_SCHEDULE_FORMS: &str = "constant | step[:M1,M2,...[:GAMMA]] | cosine[:FINAL_FRAC] | \
     linear[:HOLD_FRAC[:FINAL_FRAC]] | onecycle[:WARMUP_FRAC[:DIV_FACTOR[:FINAL_DIV]]] | \
     triangular:CYCLE_STEPS[:MIN_FRAC] | warmup[:WARMUP_FRAC[:START_FRAC[:FINAL_FRAC]]]";

const DEFAULT_STEP_MILESTONES: [f64; 2] = [0.5, 0.75];
const DEFAULT_STEP_GAMMA: f64 = 0.1;
/// Prune-and-Tune's one-cycle: warm up over the first 10% from a hundredth of the peak.
const DEFAULT_WARMUP_FRAC: f64 = 0.1;
const DEFAULT_DIV_FACTOR: f64 = 100.0;
const DEFAULT_FINAL_DIV: f64 = 1e4;
const DEFAULT_MIN_FRAC: f64 = 0.2;
/// airbench94's warm-up: from 0.2× to the peak at 23% of the run, then down to 0.07×.
const AIRBENCH_WARMUP: [f64; 3] = [0.23, 0.2, 0.07];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// `base_lr` throughout.
    Constant,
    /// Multiply by `gamma` at each milestone; milestones are fractions of the total steps in (0, 1), ascending.
    Step { milestones: Vec<f64>, gamma: f64 },
    /// Cosine annealing from `base_lr` to `base_lr * final_frac` over the run.
    Cosine { final_frac: f64 },
    /// Hold `base_lr` for `hold_frac` of the run, then decay linearly to `base_lr * final_frac`. `hold_frac = 0` is
    /// plain linear decay; Prune-and-Tune's parent network uses `hold_frac = 0.5`.
    Linear { hold_frac: f64, final_frac: f64 },
    /// One-cycle (Smith): start at `base_lr / div_factor`, rise to the peak `base_lr` over `warmup_frac` of the
    /// run, then anneal to `base_lr / final_div` (note: relative to the peak, unlike PyTorch's
    /// `final_div_factor`). Both phases follow a half cosine, as PyTorch's `OneCycleLR` does by default.
    OneCycle { warmup_frac: f64, div_factor: f64, final_div: f64 },
    /// Cyclic triangular: each cycle of `cycle_steps` rises linearly from `base_lr * min_frac` to `base_lr` over
    /// its first half and falls back over its second half. Sup-tickets' 0.001 → 0.005 → 0.001 is `base_lr = 0.005`,
    /// `min_frac = 0.2`.
    Triangular { cycle_steps: usize, min_frac: f64 },
    /// Linear warm-up from `base_lr * start_frac` to `base_lr` over `warmup_frac` of the run, then linear decay to
    /// `base_lr * final_frac` (airbench's triangle: 0.23, 0.2, 0.07).
    Warmup { warmup_frac: f64, start_frac: f64, final_frac: f64 },
}

impl LrSchedule {
    /// Learning rate at `step` (counted from 0) of a run of `total_steps`.
    pub fn lr_at(&self, base_lr: f64, step: usize, total_steps: usize) -> f64 {
        let step = step.min(total_steps.saturating_sub(1));
        // Runs of 0 or 1 steps have no progress to make and stay at the start value.
        let p = if total_steps > 1 { step as f64 / (total_steps - 1) as f64 } else { 0.0 };
        match self {
            LrSchedule::Constant => base_lr,
            LrSchedule::Step { milestones, gamma } => milestones
                .iter()
                // Rounding keeps e.g. 0.3 * 10 = 3.0000000000000004 from moving the milestone a step late.
                .filter(|&&m| step as f64 >= (m * total_steps as f64).round())
                .fold(base_lr, |lr, _| lr * gamma),
            LrSchedule::Cosine { final_frac } => cosine(base_lr, base_lr * final_frac, p),
            LrSchedule::Linear { hold_frac, final_frac } => {
                if p <= *hold_frac {
                    base_lr
                } else {
                    lerp(base_lr, base_lr * final_frac, (p - hold_frac) / (1.0 - hold_frac))
                }
            }
            LrSchedule::OneCycle { warmup_frac, div_factor, final_div } => {
                if p < *warmup_frac {
                    cosine(base_lr / div_factor, base_lr, p / warmup_frac)
                } else if *warmup_frac < 1.0 {
                    cosine(base_lr, base_lr / final_div, (p - warmup_frac) / (1.0 - warmup_frac))
                } else {
                    // A warm-up spanning the whole run ends at the peak.
                    base_lr
                }
            }
            LrSchedule::Triangular { cycle_steps, min_frac } => {
                // max(1) keeps an unvalidated cycle length of 0 from dividing by zero.
                let cycle = (*cycle_steps).max(1);
                let phase = (step % cycle) as f64 / cycle as f64;
                let height = 1.0 - (2.0 * phase - 1.0).abs();
                base_lr * lerp(*min_frac, 1.0, height)
            }
            LrSchedule::Warmup { warmup_frac, start_frac, final_frac } => {
                if p < *warmup_frac {
                    base_lr * lerp(*start_frac, 1.0, p / warmup_frac)
                } else if *warmup_frac < 1.0 {
                    base_lr * lerp(1.0, *final_frac, (p - warmup_frac) / (1.0 - warmup_frac))
                } else {
                    base_lr
                }
            }
        }
    }

    /// Checks every parameter's range; the message names the schedule, the parameter and the bad value.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            LrSchedule::Constant => Ok(()),
            LrSchedule::Step { milestones, gamma } => {
                if milestones.is_empty() {
                    return Err("step needs at least one milestone".into());
                }
                if let Some(m) = milestones.iter().find(|&&m| !(m > 0.0 && m < 1.0)) {
                    return Err(format!("step milestone must be in (0, 1), got {}", Shown(*m)));
                }
                if let Some(pair) = milestones.windows(2).find(|pair| pair[0] >= pair[1]) {
                    return Err(format!(
                        "step milestones must be strictly ascending, got {} then {}",
                        Shown(pair[0]),
                        Shown(pair[1])
                    ));
                }
                if !(*gamma > 0.0 && *gamma <= 1.0) {
                    return Err(format!("step gamma must be in (0, 1], got {}", Shown(*gamma)));
                }
                Ok(())
            }
            LrSchedule::Cosine { final_frac } => check_fraction("cosine final_frac", *final_frac),
            LrSchedule::Linear { hold_frac, final_frac } => {
                check_fraction("linear hold_frac", *hold_frac)?;
                check_fraction("linear final_frac", *final_frac)
            }
            LrSchedule::OneCycle { warmup_frac, div_factor, final_div } => {
                check_fraction("onecycle warmup_frac", *warmup_frac)?;
                check_divisor("onecycle div_factor", *div_factor)?;
                check_divisor("onecycle final_div", *final_div)
            }
            LrSchedule::Triangular { cycle_steps, min_frac } => {
                if *cycle_steps < 2 {
                    return Err(format!("triangular cycle_steps must be at least 2, got {cycle_steps}"));
                }
                check_fraction("triangular min_frac", *min_frac)
            }
            LrSchedule::Warmup { warmup_frac, start_frac, final_frac } => {
                check_fraction("warmup warmup_frac", *warmup_frac)?;
                check_fraction("warmup start_frac", *start_frac)?;
                check_fraction("warmup final_frac", *final_frac)
            }
        }
    }
}

/// Half-cosine interpolation: `from` at `t = 0`, `to` at `t = 1`, flat at both ends.
fn cosine(from: f64, to: f64, t: f64) -> f64 {
    to + (from - to) * (1.0 + (PI * t).cos()) / 2.0
}

fn lerp(from: f64, to: f64, t: f64) -> f64 {
    from + (to - from) * t
}

fn check_fraction(name: &str, x: f64) -> Result<(), String> {
    // contains() is false for NaN, so NaN is rejected too.
    if (0.0..=1.0).contains(&x) { Ok(()) } else { Err(format!("{name} must be in [0, 1], got {}", Shown(x))) }
}

fn check_divisor(name: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x >= 1.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a finite number >= 1, got {}", Shown(x)))
    }
}

impl FromStr for LrSchedule {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        parse_unchecked(spec.trim())
            .and_then(|schedule| schedule.validate().map(|()| schedule))
            .map_err(|e| format!("bad lr schedule {spec:?}: {e}; accepted forms: {LR_SCHEDULE_FORMS}"))
    }
}

/// Parses `name[:field[:field...]]`, filling missing trailing fields with defaults; ranges are checked later.
fn parse_unchecked(spec: &str) -> Result<LrSchedule, String> {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let fields: Vec<&str> = parts.collect();
    let at_most = |max: usize| {
        if fields.len() > max {
            Err(format!("{name} takes at most {max} parameter(s), got {}", fields.len()))
        } else {
            Ok(())
        }
    };
    let field_or = |i: usize, what: &str, default: f64| fields.get(i).map_or(Ok(default), |s| parse_number(s, what));

    Ok(match name.as_str() {
        "constant" => {
            at_most(0)?;
            LrSchedule::Constant
        }
        "step" => {
            at_most(2)?;
            let milestones = match fields.first() {
                Some(list) => list.split(',').map(|m| parse_number(m, "step milestone")).collect::<Result<_, _>>()?,
                None => DEFAULT_STEP_MILESTONES.to_vec(),
            };
            LrSchedule::Step { milestones, gamma: field_or(1, "step gamma", DEFAULT_STEP_GAMMA)? }
        }
        "cosine" => {
            at_most(1)?;
            LrSchedule::Cosine { final_frac: field_or(0, "cosine final_frac", 0.0)? }
        }
        "linear" => {
            at_most(2)?;
            LrSchedule::Linear {
                hold_frac: field_or(0, "linear hold_frac", 0.0)?,
                final_frac: field_or(1, "linear final_frac", 0.0)?,
            }
        }
        // The serde tag spelling is accepted too, so a kind copied from a config file parses.
        "onecycle" | "one_cycle" => {
            at_most(3)?;
            LrSchedule::OneCycle {
                warmup_frac: field_or(0, "onecycle warmup_frac", DEFAULT_WARMUP_FRAC)?,
                div_factor: field_or(1, "onecycle div_factor", DEFAULT_DIV_FACTOR)?,
                final_div: field_or(2, "onecycle final_div", DEFAULT_FINAL_DIV)?,
            }
        }
        "triangular" => {
            at_most(2)?;
            let cycle = fields.first().ok_or("triangular needs a cycle length in steps, e.g. triangular:200")?;
            LrSchedule::Triangular {
                cycle_steps: parse_number(cycle, "triangular cycle_steps")?,
                min_frac: field_or(1, "triangular min_frac", DEFAULT_MIN_FRAC)?,
            }
        }
        "warmup" => {
            at_most(3)?;
            let [warmup, start, end] = AIRBENCH_WARMUP;
            LrSchedule::Warmup {
                warmup_frac: field_or(0, "warmup warmup_frac", warmup)?,
                start_frac: field_or(1, "warmup start_frac", start)?,
                final_frac: field_or(2, "warmup final_frac", end)?,
            }
        }
        _ => return Err(format!("unknown schedule name {name:?}")),
    })
}

fn parse_number<T: FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| format!("{what} {text:?} is not a valid number"))
}

impl fmt::Display for LrSchedule {
    /// Writes the full command-line form with every parameter; `f64`'s `Display` is the shortest text that parses
    /// back to the same value, so the round trip is exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LrSchedule::Constant => write!(f, "constant"),
            LrSchedule::Step { milestones, gamma } => {
                let milestones: Vec<String> = milestones.iter().map(f64::to_string).collect();
                write!(f, "step:{}:{gamma}", milestones.join(","))
            }
            LrSchedule::Cosine { final_frac } => write!(f, "cosine:{final_frac}"),
            LrSchedule::Linear { hold_frac, final_frac } => write!(f, "linear:{hold_frac}:{final_frac}"),
            LrSchedule::OneCycle { warmup_frac, div_factor, final_div } => {
                write!(f, "onecycle:{warmup_frac}:{div_factor}:{final_div}")
            }
            LrSchedule::Triangular { cycle_steps, min_frac } => write!(f, "triangular:{cycle_steps}:{min_frac}"),
            LrSchedule::Warmup { warmup_frac, start_frac, final_frac } => {
                write!(f, "warmup:{warmup_frac}:{start_frac}:{final_frac}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: f64 = 0.1;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-3)
    }

    fn parse(spec: &str) -> LrSchedule {
        spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    fn assert_lrs(schedule: &LrSchedule, total: usize, expected: &[(usize, f64)]) {
        for &(step, lr) in expected {
            let got = schedule.lr_at(BASE, step, total);
            assert!(close(got, lr), "{schedule} step {step}/{total}: got {got}, expected {lr}");
        }
    }

    #[test]
    fn constant_is_flat() {
        assert_lrs(&LrSchedule::Constant, 100, &[(0, BASE), (50, BASE), (99, BASE)]);
    }

    #[test]
    fn step_decays_at_milestones() {
        let default = parse("step");
        assert_lrs(&default, 100, &[(0, BASE), (49, BASE), (50, BASE * 0.1), (74, BASE * 0.1), (75, BASE * 0.01)]);
        assert_lrs(&default, 100, &[(99, BASE * 0.01)]);
        // 0.3 * 10 is 3.0000000000000004 in floating point; the milestone must still land on step 3.
        let custom = parse("step:0.3,0.6,0.9:0.2");
        assert_lrs(&custom, 10, &[(2, BASE), (3, BASE * 0.2), (6, BASE * 0.04), (8, BASE * 0.04), (9, BASE * 0.008)]);
    }

    #[test]
    fn cosine_start_middle_end() {
        assert_lrs(&parse("cosine"), 101, &[(0, BASE), (50, BASE / 2.0), (100, 0.0)]);
        let floor = BASE * 0.01;
        assert_lrs(&parse("cosine:0.01"), 101, &[(0, BASE), (50, (BASE + floor) / 2.0), (100, floor)]);
    }

    #[test]
    fn linear_holds_then_decays() {
        assert_lrs(&parse("linear"), 101, &[(0, BASE), (25, BASE * 0.75), (50, BASE / 2.0), (100, 0.0)]);
        assert_lrs(&parse("linear:0.5"), 101, &[(0, BASE), (50, BASE), (75, BASE / 2.0), (100, 0.0)]);
        assert_lrs(&parse("linear:0.5:0.1"), 101, &[(50, BASE), (75, BASE * 0.55), (100, BASE * 0.1)]);
        assert_lrs(&parse("linear:1"), 101, &[(0, BASE), (100, BASE)]);
    }

    #[test]
    fn one_cycle_peaks_at_warmup_end() {
        let schedule = parse("onecycle");
        let start = BASE / 100.0;
        let end = BASE / 1e4;
        assert_lrs(&schedule, 101, &[(0, start), (5, (start + BASE) / 2.0), (10, BASE), (55, (BASE + end) / 2.0)]);
        assert_lrs(&schedule, 101, &[(100, end)]);
        let lrs: Vec<f64> = (0..101).map(|s| schedule.lr_at(BASE, s, 101)).collect();
        assert!(lrs[..=10].windows(2).all(|w| w[0] < w[1]), "warm-up must rise");
        assert!(lrs[10..].windows(2).all(|w| w[0] > w[1]), "annealing must fall");

        let custom = parse("onecycle:0.2:10:1000");
        assert_lrs(&custom, 11, &[(0, BASE / 10.0), (2, BASE), (10, BASE / 1000.0)]);
        assert_lrs(&parse("onecycle:0:10:1000"), 11, &[(0, BASE), (10, BASE / 1000.0)]);
        assert_lrs(&parse("onecycle:1:10:1000"), 11, &[(0, BASE / 10.0), (10, BASE)]);
    }

    #[test]
    fn warmup_rises_to_the_peak_then_falls_linearly() {
        let schedule = parse("warmup");
        assert_eq!(schedule, LrSchedule::Warmup { warmup_frac: 0.23, start_frac: 0.2, final_frac: 0.07 });
        assert_lrs(&parse("warmup:0.25:0.2:0.1"), 101, &[(0, BASE * 0.2), (25, BASE), (100, BASE * 0.1)]);
        assert_lrs(&parse("warmup:0.5:0:0"), 101, &[(25, BASE / 2.0), (50, BASE), (75, BASE / 2.0), (100, 0.0)]);
        assert_lrs(&parse("warmup:1:0.5:0"), 3, &[(0, BASE / 2.0), (2, BASE)]);
    }

    #[test]
    fn triangular_extremes_and_period() {
        // Sup-tickets: 0.001 -> 0.005 -> 0.001 over 200 steps.
        let schedule = parse("triangular:200");
        let lr = |step| schedule.lr_at(0.005, step, 1000);
        for (step, expected) in [(0, 0.001), (50, 0.003), (100, 0.005), (150, 0.003), (200, 0.001)] {
            assert!(close(lr(step), expected), "step {step}: {} vs {expected}", lr(step));
        }
        for step in 0..800 {
            assert!(close(lr(step), lr(step + 200)), "not periodic at step {step}");
            assert!((0.001 - 1e-15..=0.005 + 1e-15).contains(&lr(step)));
        }
    }

    #[test]
    fn steps_past_the_end_keep_the_final_rate() {
        for spec in ["constant", "step", "cosine:0.1", "linear:0.5", "onecycle", "triangular:7"] {
            let schedule = parse(spec);
            let last = schedule.lr_at(BASE, 99, 100);
            assert_eq!(schedule.lr_at(BASE, 100, 100), last, "{spec}");
            assert_eq!(schedule.lr_at(BASE, usize::MAX, 100), last, "{spec}");
        }
    }

    #[test]
    fn tiny_runs_give_finite_rates() {
        for spec in ["constant", "step", "cosine", "linear:0.5", "onecycle", "onecycle:0:1:1", "triangular:2"] {
            let schedule = parse(spec);
            for (step, total) in [(0, 0), (5, 0), (0, 1), (3, 1), (0, 2), (1, 2)] {
                let lr = schedule.lr_at(BASE, step, total);
                assert!(lr.is_finite() && lr >= 0.0, "{spec} step {step}/{total}: {lr}");
            }
        }
    }

    #[test]
    fn unvalidated_schedules_do_not_panic() {
        let zero_cycle = LrSchedule::Triangular { cycle_steps: 0, min_frac: 0.5 };
        assert!(zero_cycle.validate().is_err());
        assert!(zero_cycle.lr_at(BASE, 3, 10).is_finite());
    }

    #[test]
    fn bare_names_use_documented_defaults() {
        assert_eq!(parse("constant"), LrSchedule::Constant);
        assert_eq!(parse("step"), LrSchedule::Step { milestones: vec![0.5, 0.75], gamma: 0.1 });
        assert_eq!(parse("cosine"), LrSchedule::Cosine { final_frac: 0.0 });
        assert_eq!(parse("linear"), LrSchedule::Linear { hold_frac: 0.0, final_frac: 0.0 });
        assert_eq!(parse("linear:0.5"), LrSchedule::Linear { hold_frac: 0.5, final_frac: 0.0 });
        let one_cycle = LrSchedule::OneCycle { warmup_frac: 0.1, div_factor: 100.0, final_div: 1e4 };
        assert_eq!(parse("onecycle"), one_cycle);
        assert_eq!(parse(" OneCycle "), one_cycle);
        assert_eq!(parse("one_cycle"), one_cycle);
        assert_eq!(parse("triangular:200"), LrSchedule::Triangular { cycle_steps: 200, min_frac: 0.2 });
        assert_eq!(parse("step:0.3,0.6,0.9:0.2"), LrSchedule::Step { milestones: vec![0.3, 0.6, 0.9], gamma: 0.2 });
        assert_eq!(parse("step:0.3"), LrSchedule::Step { milestones: vec![0.3], gamma: 0.1 });
    }

    #[test]
    fn display_parse_round_trip() {
        let specs = [
            "constant",
            "step",
            "step:0.3,0.6,0.9:0.2",
            "step:0.1:1",
            "cosine",
            "cosine:0.01",
            "linear",
            "linear:0.5",
            "linear:0.5:0.0",
            "linear:0.3333333333333333:0.1",
            "onecycle",
            "onecycle:0.1:100:1000",
            "onecycle:0.25:1:1e7",
            "triangular:200",
            "triangular:200:0.2",
            "triangular:2:0",
            "warmup",
            "warmup:0.3:0.1:0.05",
        ];
        for spec in specs {
            let schedule = parse(spec);
            let text = schedule.to_string();
            assert_eq!(parse(&text), schedule, "{spec} -> {text}");
            assert_eq!(parse(&text).to_string(), text);
        }
        assert_eq!(parse("step").to_string(), "step:0.5,0.75:0.1");
        assert_eq!(parse("onecycle").to_string(), "onecycle:0.1:100:10000");
        assert_eq!(parse("triangular:200").to_string(), "triangular:200:0.2");
    }

    #[test]
    fn serde_round_trip() {
        let schedule = parse("onecycle:0.1:100:1000");
        let json = serde_json::to_string(&schedule).unwrap();
        assert_eq!(json, r#"{"kind":"one_cycle","warmup_frac":0.1,"div_factor":100.0,"final_div":1000.0}"#);
        assert_eq!(serde_json::from_str::<LrSchedule>(&json).unwrap(), schedule);
        let constant = serde_json::to_string(&LrSchedule::Constant).unwrap();
        assert_eq!(serde_json::from_str::<LrSchedule>(&constant).unwrap(), LrSchedule::Constant);
    }

    #[test]
    fn bad_inputs_are_rejected_with_the_value_named() {
        let cases = [
            ("step:0.8,0.3:0.1", "0.8 then 0.3"),
            ("step:0.5,0.5", "strictly ascending"),
            ("step:1.5", "got 1.5"),
            ("step:0:0.1", "got 0"),
            ("step::0.1", "step milestone \"\""),
            ("step:0.5:0", "gamma must be in (0, 1], got 0"),
            ("step:0.5:1.5", "got 1.5"),
            ("cosine:2", "cosine final_frac must be in [0, 1], got 2"),
            ("cosine:-0.1", "got -0.1"),
            ("cosine:abc", "\"abc\" is not a valid number"),
            ("cosine:0.1:0.2", "at most 1 parameter"),
            ("cosine:", "\"\" is not a valid number"),
            ("linear:nan", "got NaN"),
            ("linear:0.5:1.1", "final_frac"),
            ("onecycle:0.1:0.5", "div_factor must be a finite number >= 1, got 0.5"),
            ("onecycle:0.1:100:inf", "final_div"),
            ("onecycle:1.2", "warmup_frac"),
            ("triangular", "needs a cycle length"),
            ("triangular:1", "at least 2, got 1"),
            ("triangular:-5", "\"-5\" is not a valid number"),
            ("triangular:2.5", "\"2.5\""),
            ("triangular:200:2", "min_frac"),
            ("constant:1", "at most 0 parameter"),
            ("foo", "unknown schedule name \"foo\""),
            ("", "unknown schedule name \"\""),
        ];
        for (spec, needle) in cases {
            let err = spec.parse::<LrSchedule>().expect_err(spec);
            assert!(err.contains(needle), "{spec}: {err:?} lacks {needle:?}");
            assert!(err.contains(LR_SCHEDULE_FORMS), "{spec}: {err:?} lacks the accepted forms");
        }
        let empty = LrSchedule::Step { milestones: vec![], gamma: 0.1 };
        assert!(empty.validate().unwrap_err().contains("at least one milestone"));
    }
}
