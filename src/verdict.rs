//! Verdicts: paired comparisons over seeds (same seed, same data order), each with its numbers, and the shapes of
//! curves (a fall, a rise after a fall, double descent). A comparison is **shown** when the seed-by-seed margin is
//! positive in the mean and larger than its standard deviation over at least [`MIN_SEEDS`] seeds; otherwise it is
//! "within noise" (or reversed, when the margin points the other way beyond its spread). A claim is shown when every
//! comparison that is part of it is.

use serde::Serialize;

use crate::metrics::Stat;

/// Fewer seeds than this give no estimate of the noise worth deciding on.
pub const MIN_SEEDS: usize = 3;

/// One comparison of a claim, with its numbers. Checks that are not `part_of_claim` are reported beside the verdict
/// (what was observed) without deciding it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub statement: String,
    /// Shown: the paired margin is positive and larger than its spread over at least [`MIN_SEEDS`] seeds.
    pub held: bool,
    pub numbers: String,
    /// Not shown, and not reversed beyond the spread either (or too few seeds to tell).
    pub within_noise: bool,
    pub part_of_claim: bool,
}

impl Check {
    /// The same check, reported beside the verdict without deciding it.
    pub fn observed(self) -> Check {
        Check { part_of_claim: false, ..self }
    }

    /// A check decided by the seed-by-seed `margin` (positive when the claim's way); `numbers` says what was compared.
    pub fn of_margin(statement: String, margin: &Stat, numbers: String, unit: &str) -> Check {
        let n = margin.values.len();
        let (held, reversed) = decide(margin);
        let seeds = if n == 1 { "1 seed".to_string() } else { format!("{n} seeds") };
        Check {
            statement,
            held,
            numbers: format!("{numbers}; paired margin {} over {seeds}", signed(margin, unit)),
            within_noise: !held && !reversed,
            part_of_claim: true,
        }
    }

    /// Shown, within noise or reversed.
    pub fn word(&self) -> &'static str {
        match (self.held, self.within_noise) {
            (true, _) => "shown",
            (false, true) => "within noise",
            (false, false) => "reversed",
        }
    }

    pub fn line(&self) -> String {
        format!("{} **{}**: {} — {}", if self.held { "✔" } else { "✘" }, self.word(), self.statement, self.numbers)
    }
}

/// Whether a seed-by-seed margin is shown (positive beyond its spread over enough seeds) or reversed (negative beyond
/// it).
fn decide(margin: &Stat) -> (bool, bool) {
    let (mean, spread) = (margin.mean, margin.spread());
    let enough = margin.values.len() >= MIN_SEEDS && mean.is_finite();
    (enough && mean > 0.0 && mean > spread, enough && mean < 0.0 && -mean > spread)
}

/// `+m ± s unit`: a margin with its sign.
fn signed(margin: &Stat, unit: &str) -> String {
    match (margin.mean.is_finite(), margin.std) {
        (false, _) => "–".into(),
        (true, Some(std)) => format!("{:+.2} ± {std:.2}{unit}", margin.mean),
        (true, None) => format!("{:+.2}{unit}", margin.mean),
    }
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// a > b (accuracy)
    Above,
    /// a < b (lower is better: NLL, ECE, an error barrier)
    Below,
}

/// `a` (named) against `b`, paired seed by seed: shown when `a` beats `b` by more than the margin's spread.
pub fn compare(a_name: &str, a: &Stat, order: Order, b_name: &str, b: &Stat, unit: &str) -> Check {
    let (sign, margin) = match order {
        Order::Above => (">", Stat::paired(a, b, |x, y| x - y)),
        Order::Below => ("<", Stat::paired(a, b, |x, y| y - x)),
    };
    Check::of_margin(
        format!("{a_name} {sign} {b_name}"),
        &margin,
        format!("{} vs {}{unit}", a.show(2), b.show(2)),
        unit,
    )
}

/// The paired quantity grows along the sequence: its last point beats its first by more than the spread of the
/// seed-by-seed difference. The numbers list every point.
pub fn widens(statement: &str, points: &[(String, Stat)]) -> Check {
    end_to_end(statement, points, |first, last| last - first)
}

/// The paired quantity falls along the sequence: its first point exceeds its last by more than the spread of the
/// seed-by-seed difference. The numbers say whether the fall is monotone in the means.
pub fn falls(statement: &str, points: &[(String, Stat)]) -> Check {
    let mut check = end_to_end(statement, points, |first, last| first - last);
    let monotone = points.windows(2).all(|w| w[1].1.mean <= w[0].1.mean);
    check.numbers += if monotone { " (monotone)" } else { " (not monotone)" };
    check
}

fn end_to_end(statement: &str, points: &[(String, Stat)], margin: impl Fn(f64, f64) -> f64) -> Check {
    let listed = listed(points);
    let m = match (points.first(), points.last()) {
        (Some(first), Some(last)) if points.len() >= 2 => Stat::paired(&first.1, &last.1, margin),
        _ => Stat::of(&[]),
    };
    Check::of_margin(statement.into(), &m, listed, "")
}

/// Every point of a curve with its mean ± std: `label: m ± s, …`.
fn listed(points: &[(String, Stat)]) -> String {
    points.iter().map(|(l, s)| format!("{l}: {}", s.show(2))).collect::<Vec<_>>().join(", ")
}

/// Sparse double descent along an accuracy-vs-sparsity curve whose first point is the dense network: it falls, rises,
/// then falls again, each leg a paired margin beyond its spread. The legs are placed on the means: the peak is the
/// highest sparse point, the trough the lowest point between the dense network and the peak, the end the lowest point
/// after the peak. Reversed when any leg goes the other way beyond its spread.
pub fn fall_rise_fall(statement: &str, points: &[(String, Stat)]) -> Check {
    let Some((peak, trough, end)) = peak_of(points) else { return along(statement, points, &[]) };
    along(
        statement,
        points,
        &[("fall", trough.map(|t| (0, t))), ("rise", trough.map(|t| (peak, t))), ("fall", end.map(|e| (peak, e)))],
    )
}

/// The second descent alone: from the dense network, accuracy rises to the curve's sparse peak (placed on the means),
/// then falls to the lowest point after it, each leg a paired margin beyond its spread.
pub fn rise_then_fall(statement: &str, points: &[(String, Stat)]) -> Check {
    let Some((peak, _, end)) = peak_of(points) else { return along(statement, points, &[]) };
    along(statement, points, &[("rise", Some((peak, 0))), ("fall", end.map(|e| (peak, e)))])
}

/// On the means: the highest point after the first (the peak), the lowest point strictly between the first and the
/// peak, and the lowest point after the peak; ties go to the earlier point.
fn peak_of(points: &[(String, Stat)]) -> Option<(usize, Option<usize>, Option<usize>)> {
    let means: Vec<f64> = points.iter().map(|(_, s)| s.mean).collect();
    let lowest = |range: std::ops::Range<usize>| range.min_by(|&i, &j| means[i].total_cmp(&means[j]));
    let peak = (1..means.len()).max_by(|&i, &j| means[i].total_cmp(&means[j]).then(j.cmp(&i)))?;
    Some((peak, lowest(1..peak), lowest(peak + 1..means.len())))
}

/// A check of several legs, each `(high, low)`: the paired margin of point `high` over point `low`, named by its
/// direction along the curve; a missing leg leaves the check within noise. Shown when every leg is.
fn along(statement: &str, points: &[(String, Stat)], legs: &[(&str, Option<(usize, usize)>)]) -> Check {
    let listed = listed(points);
    let (mut held, mut reversed) = (!legs.is_empty(), false);
    let mut shown = Vec::new();
    for &(name, leg) in legs {
        let Some((high, low)) = leg else {
            held = false;
            shown.push(format!("{name}: no such point"));
            continue;
        };
        let (from, to) = (high.min(low), high.max(low));
        let margin = Stat::paired(&points[high].1, &points[low].1, |x, y| x - y);
        let (leg_held, leg_reversed) = decide(&margin);
        held &= leg_held;
        reversed |= leg_reversed;
        shown.push(format!("{name} {} → {} {}", points[from].0, points[to].0, signed(&margin, "")));
    }
    let seeds = points.first().map_or(0, |(_, s)| s.values.len());
    Check {
        statement: statement.into(),
        held,
        numbers: format!("{listed}; paired legs over {seeds} seeds: {}", shown.join(", ")),
        within_noise: !held && !reversed,
        part_of_claim: true,
    }
}

/// The verdict: shown when every check that is part of the claim was shown.
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
        if self.held { "shown" } else { "not shown" }
    }

    /// One line: the verdict, and the first check that was not shown, if any.
    pub fn summary(&self) -> String {
        match self.checks.iter().find(|c| c.part_of_claim && !c.held) {
            None => format!("**shown** ({} of {} checks)", self.count(), self.count()),
            Some(c) => format!(
                "**not shown** ({} of {} checks shown; first not shown ({}): {}: {})",
                self.checks.iter().filter(|c| c.part_of_claim && c.held).count(),
                self.count(),
                c.word(),
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

    #[test]
    fn a_comparison_is_shown_only_by_a_paired_margin_beyond_its_spread() {
        // Seed by seed the ticket beats re-init by 5, 6 and 4.6 points although both vary by ±5 across seeds.
        let (ticket, reinit) = (stat(&[60.0, 70.0, 65.0]), stat(&[55.0, 64.0, 60.4]));
        let shown = compare("ticket", &ticket, Order::Above, "re-init", &reinit, "%");
        assert!(shown.held && !shown.within_noise && shown.part_of_claim);
        assert_eq!(shown.word(), "shown");
        assert!(shown.numbers.contains("paired margin +5.20 ± 0.72% over 3 seeds"), "{}", shown.numbers);
        // The same means, but the margin swings from −4 to +6: within noise.
        let swinging =
            compare("ticket", &stat(&[60.0, 70.0, 65.0]), Order::Above, "re-init", &stat(&[64.0, 64.0, 58.4]), "%");
        assert!(!swinging.held && swinging.within_noise, "{}", swinging.numbers);
        // Beaten on every seed: reversed, not noise.
        let reversed = compare("re-init", &reinit, Order::Above, "ticket", &ticket, "%");
        assert!(!reversed.held && !reversed.within_noise);
        assert_eq!(reversed.word(), "reversed");
        // Lower is better.
        let nll =
            compare("ensemble NLL", &stat(&[0.9, 1.0, 1.1]), Order::Below, "dense NLL", &stat(&[1.0, 1.1, 1.2]), "");
        assert!(nll.held, "{}", nll.numbers);
        // Ties, too few seeds and missing numbers decide nothing.
        assert!(!compare("a", &ticket, Order::Above, "b", &ticket, "").held);
        let two = compare("a", &stat(&[60.0, 70.0]), Order::Above, "b", &stat(&[50.0, 60.0]), "");
        assert!(!two.held && two.within_noise, "two seeds are too few to call a margin beyond noise");
        assert!(!compare("a", &stat(&[f64::NAN; 3]), Order::Below, "b", &ticket, "").held, "no numbers, no claim");
    }

    #[test]
    fn a_verdict_is_shown_when_every_check_of_the_claim_is() {
        let (rigl, set, fixed) = (stat(&[60.0, 62.0, 61.0]), stat(&[59.0, 61.0, 59.5]), stat(&[50.0, 52.0, 50.0]));
        let shown = Verdict::of(vec![
            compare("RigL", &rigl, Order::Above, "SET", &set, "%"),
            compare("SET", &set, Order::Above, "static", &fixed, "%"),
        ]);
        assert!(shown.held);
        assert_eq!(shown.word(), "shown");
        assert_eq!(shown.summary(), "**shown** (2 of 2 checks)");
        let not = Verdict::of(vec![
            compare("RigL", &rigl, Order::Above, "SET", &set, "%"),
            compare("SET", &fixed, Order::Above, "static", &fixed, "%"),
        ]);
        assert!(!not.held);
        assert_eq!(not.word(), "not shown");
        assert!(not.summary().contains("1 of 2 checks shown") && not.summary().contains("SET > static"));
        assert!(not.checks[1].line().starts_with("✘ **within noise**"), "{}", not.checks[1].line());
        // Observed checks are shown but do not decide.
        let observed = compare("uniform soup", &fixed, Order::Above, "best child", &rigl, "%").observed();
        assert!(!observed.held && !observed.part_of_claim);
        let v = Verdict::of(vec![compare("greedy", &rigl, Order::Above, "best child", &set, "%"), observed]);
        assert!(v.held && v.checks.len() == 2);
        assert!(!Verdict::of(vec![]).held, "no checks, no claim shown");
    }

    #[test]
    fn gaps_widen_and_barriers_fall_by_paired_end_to_end_margins() {
        let s = |v: [f64; 3]| stat(&v);
        let gaps = vec![("80%".into(), s([1.0, 2.0, 1.5])), ("95%".into(), s([6.0, 8.0, 7.0]))];
        assert!(widens("gap widens", &gaps).held);
        let flat = vec![("80%".into(), s([1.0, 5.0, 1.5])), ("95%".into(), s([4.0, 1.0, 2.0]))];
        assert!(!widens("gap widens", &flat).held);
        assert!(!widens("gap widens", &gaps[..1]).held, "one point is no trend");
        let barrier = vec![
            ("k=0".into(), s([20.0, 25.0, 22.0])),
            ("k=2".into(), s([12.0, 14.0, 13.0])),
            ("k=5".into(), s([0.5, 1.0, 0.2])),
        ];
        let fall = falls("barrier falls", &barrier);
        assert!(fall.held && fall.numbers.contains("(monotone)"), "{}", fall.numbers);
        let mut rising = barrier.clone();
        rising.reverse();
        assert!(!falls("barrier falls", &rising).held);
    }

    /// A curve from per-seed rows: point i of every seed, labelled by its index.
    fn curve(seeds: &[&[f64]]) -> Vec<(String, Stat)> {
        (0..seeds[0].len()).map(|i| (format!("p{i}"), stat(&seeds.iter().map(|s| s[i]).collect::<Vec<_>>()))).collect()
    }

    #[test]
    fn double_descent_needs_every_leg_beyond_its_paired_spread() {
        // Fall, rise, fall on every seed, although the seeds' levels differ by 6 points.
        let dd = curve(&[&[60.0, 55.0, 58.0, 52.0], &[66.0, 60.5, 64.5, 57.0], &[63.0, 57.5, 61.0, 55.5]]);
        let shown = fall_rise_fall("double descent", &dd);
        assert!(shown.held, "{}", shown.numbers);
        assert!(
            shown.numbers.contains("paired legs over 3 seeds: fall p0 → p1 +5.33 ± 0.29, rise p1 → p2 +3.50 ± 0.50, fall p2 → p3 +6.33 ± 1.04"),
            "{}",
            shown.numbers
        );
        // The same shape in the means, but the rise swings from −2 to +5.5 across seeds: within noise, not shown.
        let noisy = curve(&[&[60.0, 55.0, 53.0, 50.0], &[66.0, 60.5, 66.0, 57.0], &[63.0, 57.5, 61.0, 55.5]]);
        let within = fall_rise_fall("double descent", &noisy);
        assert!(!within.held && within.within_noise, "{}", within.numbers);
        // Pruning helps from dense on every seed, then hurts: the second descent, and the first reversed.
        let second = curve(&[&[69.0, 72.0, 73.0, 66.0], &[68.5, 71.0, 73.5, 67.0], &[69.8, 73.2, 73.0, 66.2]]);
        let first = fall_rise_fall("double descent", &second);
        assert!(!first.held && !first.within_noise, "{}", first.numbers);
        assert!(first.numbers.contains("fall p0 → p1 -2.97"), "{}", first.numbers);
        let alone = rise_then_fall("second descent", &second);
        assert!(alone.held, "{}", alone.numbers);
        // A peak right after the dense network leaves no trough for the first fall; too few seeds decide nothing.
        let no_trough =
            fall_rise_fall("double descent", &curve(&[&[60.0, 65.0, 50.0], &[61.0, 66.0, 52.0], &[59.0, 64.0, 49.0]]));
        assert!(!no_trough.held && no_trough.numbers.contains("fall: no such point"), "{}", no_trough.numbers);
        let two_seeds = curve(&[&[60.0, 55.0, 58.0, 52.0], &[66.0, 60.5, 64.5, 57.0]]);
        assert!(!fall_rise_fall("double descent", &two_seeds).held);
        assert!(!fall_rise_fall("double descent", &curve(&[&[60.0], &[61.0], &[59.0]])).held, "one point is no curve");
    }
}
