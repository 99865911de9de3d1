//! Verdicts: comparisons of means over seeds, each with its numbers and whether the difference is within the seeds'
//! spread, and the shapes of curves (a fall, a rise after a fall, double descent). A claim held when every check that
//! is part of it held.

use serde::Serialize;

use crate::metrics::Stat;

/// One comparison of a claim, with its numbers. Checks that are not `part_of_claim` are reported beside the verdict
/// (what was observed) without deciding it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub statement: String,
    pub held: bool,
    pub numbers: String,
    /// The difference is smaller than the larger of the two seed spreads.
    pub within_noise: bool,
    pub part_of_claim: bool,
}

impl Check {
    /// The same check, reported beside the verdict without deciding it.
    pub fn observed(self) -> Check {
        Check { part_of_claim: false, ..self }
    }

    pub fn line(&self) -> String {
        format!(
            "{} **{}**: {} — {}{}",
            if self.held { "✔" } else { "✘" },
            if self.held { "held" } else { "did not hold" },
            self.statement,
            self.numbers,
            if self.within_noise { " (the difference is within the seed spread)" } else { "" }
        )
    }
}

/// How two means are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// a ≥ b
    AtLeast,
    /// a > b
    Above,
    /// a ≤ b (lower is better: NLL, ECE)
    AtMost,
}

/// `a` (named) against `b`: held when the means are in the order asked.
pub fn compare(a_name: &str, a: &Stat, order: Order, b_name: &str, b: &Stat, unit: &str) -> Check {
    let (sign, held) = match order {
        Order::AtLeast => ("≥", a.mean >= b.mean),
        Order::Above => (">", a.mean > b.mean),
        Order::AtMost => ("≤", a.mean <= b.mean),
    };
    let diff = a.mean - b.mean;
    Check {
        statement: format!("{a_name} {sign} {b_name}"),
        held: held && diff.is_finite(),
        numbers: format!("{} vs {}{unit} ({diff:+.2})", a.show(2), b.show(2)),
        within_noise: diff.abs() <= a.spread().max(b.spread()),
        part_of_claim: true,
    }
}

/// The means never decrease along the sequence (ties allowed).
pub fn non_decreasing(statement: &str, points: &[(String, Stat)]) -> Check {
    let held = points.len() >= 2 && points.windows(2).all(|w| w[1].1.mean >= w[0].1.mean);
    Check {
        statement: statement.into(),
        held,
        numbers: points.iter().map(|(l, s)| format!("{l}: {}", s.show(2))).collect::<Vec<_>>().join(", "),
        within_noise: false,
        part_of_claim: true,
    }
}

/// The means fall along the sequence: the last is below the first and the least-squares slope (against position)
/// is negative. The numbers say whether the fall is monotone.
pub fn falls(statement: &str, points: &[(String, Stat)]) -> Check {
    let ys: Vec<f64> = points.iter().map(|(_, s)| s.mean).collect();
    let n = ys.len() as f64;
    let xbar = (n - 1.0) / 2.0;
    let ybar = ys.iter().sum::<f64>() / n;
    let slope = ys.iter().enumerate().map(|(i, y)| (i as f64 - xbar) * (y - ybar)).sum::<f64>();
    let monotone = ys.windows(2).all(|w| w[1] <= w[0]);
    let held = ys.len() >= 2 && ys[ys.len() - 1] < ys[0] && slope < 0.0;
    Check {
        statement: statement.into(),
        held,
        numbers: format!(
            "{} ({})",
            points.iter().map(|(l, s)| format!("{l}: {}", s.show(2))).collect::<Vec<_>>().join(", "),
            if monotone { "monotone" } else { "not monotone" }
        ),
        within_noise: false,
        part_of_claim: true,
    }
}

/// The shape of an accuracy-vs-sparsity curve that starts at the dense network. Every step counts only when it is
/// larger than `tolerance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shape {
    /// Somewhere the curve fell (below an earlier point) and later rose again (above the low point).
    pub rise_after_fall: bool,
    /// Sparse double descent: the curve falls below its first (dense) point, rises again, then falls again.
    pub fall_rise_fall: bool,
}

pub fn shape(ys: &[f64], tolerance: f64) -> Shape {
    let n = ys.len();
    let mut shape = Shape { rise_after_fall: false, fall_rise_fall: false };
    // A fall to index b, a rise from b to c, then a fall after c.
    for b in 1..n {
        let from_start = ys[0] - ys[b] > tolerance;
        if !from_start && !ys[..b].iter().any(|&a| a - ys[b] > tolerance) {
            continue;
        }
        for c in b + 1..n {
            if ys[c] - ys[b] > tolerance {
                shape.rise_after_fall = true;
                shape.fall_rise_fall |= from_start && ys[c + 1..].iter().any(|&d| ys[c] - d > tolerance);
            }
        }
    }
    shape
}

/// The verdict: held when every check that is part of the claim held.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub held: bool,
    pub checks: Vec<Check>,
}

impl Verdict {
    pub fn of(checks: Vec<Check>) -> Verdict {
        let claim: Vec<&Check> = checks.iter().filter(|c| c.part_of_claim).collect();
        Verdict { held: !claim.is_empty() && claim.iter().all(|c| c.held), checks }
    }

    pub fn word(&self) -> &'static str {
        if self.held { "held" } else { "did not hold" }
    }

    /// One line: the verdict, and the first failed check if any.
    pub fn summary(&self) -> String {
        match self.checks.iter().find(|c| c.part_of_claim && !c.held) {
            None => format!("**held** ({} of {} checks)", self.count(), self.count()),
            Some(c) => format!(
                "**did not hold** ({} of {} checks held; first failure: {}: {})",
                self.checks.iter().filter(|c| c.part_of_claim && c.held).count(),
                self.count(),
                c.statement,
                c.numbers
            ),
        }
    }

    fn count(&self) -> usize {
        self.checks.iter().filter(|c| c.part_of_claim).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(values: &[f64]) -> Stat {
        Stat::of_finite(values)
    }

    /// One point per value, labelled by it.
    fn points(values: &[f64]) -> Vec<(String, Stat)> {
        values.iter().map(|&x| (format!("{x}"), stat(&[x]))).collect()
    }

    #[test]
    fn comparisons_follow_the_means_and_flag_differences_within_the_spread() {
        let (rigl, set, fixed) = (stat(&[60.0, 62.0]), stat(&[59.0, 61.0]), stat(&[50.0, 52.0]));
        let close = compare("RigL", &rigl, Order::AtLeast, "SET", &set, "%");
        assert!(close.held && close.part_of_claim);
        assert!(close.within_noise, "a 1-point difference with 1.4-point spreads is within the noise");
        assert!(close.numbers.contains("61.00 ± 1.41") && close.numbers.contains("+1.00"), "{}", close.numbers);
        assert!(!compare("SET", &set, Order::Above, "static", &fixed, "%").within_noise);
        assert!(compare("a", &set, Order::AtLeast, "b", &set, "").held, "≥ holds on ties");
        assert!(!compare("a", &set, Order::Above, "b", &set, "").held, "> does not");
        assert!(compare("NLL", &fixed, Order::AtMost, "dense NLL", &rigl, "").held, "lower is better");
        assert!(!compare("a", &stat(&[f64::NAN]), Order::AtMost, "b", &set, "").held, "no numbers, no claim");
    }

    #[test]
    fn a_verdict_holds_when_every_check_of_the_claim_held() {
        let (rigl, set, fixed) = (stat(&[60.0, 62.0]), stat(&[59.0, 61.0]), stat(&[50.0, 52.0]));
        let held = Verdict::of(vec![
            compare("RigL", &rigl, Order::AtLeast, "SET", &set, "%"),
            compare("SET", &set, Order::Above, "static", &fixed, "%"),
        ]);
        assert!(held.held);
        assert_eq!(held.word(), "held");
        assert_eq!(held.summary(), "**held** (2 of 2 checks)");
        let failed = Verdict::of(vec![
            compare("RigL", &rigl, Order::AtLeast, "SET", &set, "%"),
            compare("SET", &fixed, Order::Above, "static", &fixed, "%"),
        ]);
        assert!(!failed.held);
        assert_eq!(failed.word(), "did not hold");
        assert!(failed.summary().contains("1 of 2 checks held") && failed.summary().contains("SET > static"));
        assert!(failed.checks[1].line().starts_with("✘ **did not hold**"), "{}", failed.checks[1].line());
        // Observed checks are shown but do not decide.
        let observed = compare("uniform soup", &fixed, Order::AtLeast, "best child", &rigl, "%").observed();
        assert!(!observed.held && !observed.part_of_claim);
        let v = Verdict::of(vec![compare("greedy", &rigl, Order::AtLeast, "best child", &rigl, "%"), observed]);
        assert!(v.held && v.checks.len() == 2);
        assert!(!Verdict::of(vec![]).held, "no checks, no claim held");
    }

    #[test]
    fn gaps_widen_and_barriers_fall_by_their_means() {
        assert!(non_decreasing("gap widens", &points(&[1.0, 2.0, 2.0, 5.0])).held);
        assert!(!non_decreasing("gap widens", &points(&[1.0, 3.0, 2.0])).held);
        assert!(!non_decreasing("gap widens", &points(&[1.0])).held, "one point is no trend");
        assert!(falls("barrier falls", &points(&[20.0, 12.0, 3.0, 0.5])).held);
        let bumpy = falls("barrier falls", &points(&[20.0, 12.0, 14.0, 0.5]));
        assert!(bumpy.held && bumpy.numbers.contains("not monotone"));
        assert!(!falls("barrier falls", &points(&[2.0, 12.0, 14.0, 3.0])).held);
    }

    #[test]
    fn double_descent_is_a_fall_a_rise_and_a_fall_beyond_the_tolerance() {
        let dd = shape(&[60.0, 55.0, 58.0, 52.0], 0.5);
        assert!(dd.rise_after_fall && dd.fall_rise_fall);
        let monotone = shape(&[60.0, 58.0, 55.0, 40.0], 0.5);
        assert!(!monotone.rise_after_fall && !monotone.fall_rise_fall);
        let no_final_fall = shape(&[60.0, 55.0, 58.0, 59.0], 0.5);
        assert!(no_final_fall.rise_after_fall && !no_final_fall.fall_rise_fall);
        assert!(!shape(&[60.0, 59.8, 60.1, 59.9], 0.5).rise_after_fall, "wiggles under the tolerance are no rise");
        assert!(!shape(&[50.0, 55.0, 40.0], 0.5).rise_after_fall, "a rise before the fall is not a second descent");
        // Rising from dense, a dip and a recovery, then the final fall: a rise after a fall, but no fall from dense.
        let from_dense = shape(&[27.0, 33.0, 38.0, 35.0, 37.0, 27.0], 0.5);
        assert!(from_dense.rise_after_fall && !from_dense.fall_rise_fall);
    }
}
