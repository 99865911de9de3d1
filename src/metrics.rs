//! Evaluation metrics computed on the CPU from predicted class probabilities.
//!
//! Matrices are row-major `n × num_classes` flat slices (one row per sample). Malformed input gives a result rather
//! than a panic: a ragged tail shorter than one row is ignored, two inputs of different lengths are compared over
//! their common rows, rows whose label lies outside `0..num_classes` are skipped, and no rows (or
//! `num_classes == 0`) give zeros.

use serde::{Deserialize, Serialize};

/// Number of equal-width confidence bins behind [`EvalMetrics::ece`] (Guo et al. 2017's choice).
pub const ECE_BINS: usize = 15;

/// Floor for probabilities under a logarithm, so one confident mistake costs about 27.6 nats instead of infinity.
const PROB_FLOOR: f64 = 1e-12;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Number of samples evaluated.
    pub n: usize,
    /// Share of samples whose argmax prediction equals the label.
    pub accuracy: f64,
    /// Mean negative log-likelihood of the label, in nats.
    pub nll: f64,
    /// Expected calibration error over [`ECE_BINS`] bins.
    pub ece: f64,
    /// Accuracy on each true class; `None` for a class without samples (JSON `null`, where NaN would not serialise).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Sample counts indexed `[true class][predicted class]`.
    pub confusion: Vec<Vec<u32>>,
}

/// Accuracy, NLL, ECE, per-class accuracy and confusion matrix of softmax outputs `probs` against `labels`.
///
/// NLL is the mean of `-ln(max(p_label, 1e-12))`; the prediction is the argmax, lowest index winning ties.
pub fn evaluate(probs: &[f32], num_classes: usize, labels: &[i64]) -> EvalMetrics {
    let mut confusion = vec![vec![0u32; num_classes]; num_classes];
    let mut nll_sum = 0.0;
    let mut n = 0;
    for (row, label) in labelled_rows(probs, num_classes, labels) {
        confusion[label][argmax(row).0] += 1;
        nll_sum -= f64::from(row[label]).max(PROB_FLOOR).ln();
        n += 1;
    }
    let correct: u64 = (0..num_classes).map(|c| u64::from(confusion[c][c])).sum();
    let per_class_accuracy = confusion
        .iter()
        .enumerate()
        .map(|(class, predicted)| {
            let samples: u64 = predicted.iter().map(|&count| u64::from(count)).sum();
            (samples > 0).then(|| f64::from(predicted[class]) / samples as f64)
        })
        .collect();
    EvalMetrics {
        n,
        accuracy: mean(correct as f64, n),
        nll: mean(nll_sum, n),
        ece: expected_calibration_error(probs, num_classes, labels, ECE_BINS),
        per_class_accuracy,
        confusion,
    }
}

/// Predicted class of each row: the index of its largest probability, lowest index winning ties.
pub fn argmax_rows(probs: &[f32], num_classes: usize) -> Vec<usize> {
    rows(probs, num_classes).map(|row| argmax(row).0).collect()
}

/// Expected calibration error: samples fall into `bins` equal-width bins over (0, 1] by confidence (the largest
/// probability, so bin `b` holds confidences in `(b/bins, (b+1)/bins]`), and the result is the sum over bins of
/// `|accuracy - mean confidence| * count / n`.
pub fn expected_calibration_error(probs: &[f32], num_classes: usize, labels: &[i64], bins: usize) -> f64 {
    if bins == 0 {
        return 0.0;
    }
    // Per bin, sum(correct - confidence) = count * (accuracy - mean confidence), so |gap| / n is the bin's term.
    let mut gaps = vec![0.0f64; bins];
    let mut n = 0;
    for (row, label) in labelled_rows(probs, num_classes, labels) {
        let (predicted, confidence) = argmax(row);
        let confidence = f64::from(confidence);
        // ceil puts a confidence exactly on a bin edge into the lower bin; a confidence of 0 joins the first bin.
        let bin = ((confidence * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        gaps[bin] += if predicted == label { 1.0 } else { 0.0 } - confidence;
        n += 1;
    }
    mean(gaps.iter().map(|gap| gap.abs()).sum(), n)
}

/// Share of rows where the two prediction sets' argmax differ (ensemble diversity).
pub fn disagreement(a: &[f32], b: &[f32], num_classes: usize) -> f64 {
    let mut differing = 0;
    let mut n = 0;
    for (row_a, row_b) in rows(a, num_classes).zip(rows(b, num_classes)) {
        if argmax(row_a).0 != argmax(row_b).0 {
            differing += 1;
        }
        n += 1;
    }
    mean(f64::from(differing), n)
}

/// Mean over rows of KL(a || b) in nats, with both distributions' probabilities clamped at 1e-12.
pub fn mean_kl(a: &[f32], b: &[f32], num_classes: usize) -> f64 {
    let mut total = 0.0;
    let mut n = 0;
    for (row_a, row_b) in rows(a, num_classes).zip(rows(b, num_classes)) {
        total += row_a
            .iter()
            .zip(row_b)
            .map(|(&p, &q)| {
                let p = f64::from(p).max(PROB_FLOOR);
                let q = f64::from(q).max(PROB_FLOOR);
                p * (p / q).ln()
            })
            .sum::<f64>();
        n += 1;
    }
    mean(total, n)
}

/// Element-wise mean of several members' probability matrices (ensemble prediction). Members of different lengths
/// are averaged over their common prefix; no members give an empty result.
pub fn average_probs(members: &[&[f32]]) -> Vec<f32> {
    let len = members.iter().map(|member| member.len()).min().unwrap_or(0);
    // Summing in f64 keeps large ensembles from losing precision.
    let mut sums = vec![0.0f64; len];
    for member in members {
        for (sum, &p) in sums.iter_mut().zip(*member) {
            *sum += f64::from(p);
        }
    }
    sums.into_iter().map(|sum| (sum / members.len() as f64) as f32).collect()
}

/// Softmax of each row of `logits`, computed stably (logits like 1000 do not overflow).
pub fn softmax_rows(logits: &[f32], num_classes: usize) -> Vec<f32> {
    let mut probs = Vec::with_capacity(logits.len());
    for row in rows(logits, num_classes) {
        // Shifting by the row max keeps every exp() in (0, 1] without changing the result.
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let start = probs.len();
        probs.extend(row.iter().map(|&x| (x - max).exp()));
        let sum: f32 = probs[start..].iter().sum();
        probs[start..].iter_mut().for_each(|p| *p /= sum);
    }
    probs
}

/// The complete rows of a row-major matrix; none when `num_classes` is 0 (where `chunks_exact` would panic).
fn rows(matrix: &[f32], num_classes: usize) -> std::slice::ChunksExact<'_, f32> {
    if num_classes == 0 { matrix[..0].chunks_exact(1) } else { matrix.chunks_exact(num_classes) }
}

/// Rows paired with their label as an index, skipping labels outside `0..num_classes`.
fn labelled_rows<'a>(
    probs: &'a [f32],
    num_classes: usize,
    labels: &'a [i64],
) -> impl Iterator<Item = (&'a [f32], usize)> {
    rows(probs, num_classes).zip(labels).filter_map(move |(row, &label)| {
        let label = usize::try_from(label).ok().filter(|&label| label < num_classes)?;
        Some((row, label))
    })
}

/// Index and value of a row's largest entry; the lowest index wins ties and NaN never wins.
fn argmax(row: &[f32]) -> (usize, f32) {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best })
}

/// `sum / n`, or 0 when there is nothing to average.
fn mean(sum: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// A mean over seeds or runs and the sample standard deviation (`None` for one value); the values are kept for the
/// JSON. `reproduce`'s tables and `collect`'s merged results both use it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub values: Vec<f64>,
}

impl Stat {
    /// The mean and spread of every value (a NaN among them makes the mean NaN, shown as "–").
    pub fn of(values: &[f64]) -> Stat {
        let values = values.to_vec();
        let n = values.len() as f64;
        let mean = if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / n };
        let std =
            (values.len() > 1).then(|| (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Stat { mean, std, values }
    }

    /// The mean and spread of the finite values only (a missing measurement is NaN); mean NaN when there are none.
    /// `values` keeps every value in its place, so two statistics over the same seeds still pair seed by seed.
    pub fn of_finite(values: &[f64]) -> Stat {
        let finite = Stat::of(&values.iter().copied().filter(|v| v.is_finite()).collect::<Vec<_>>());
        Stat { values: values.to_vec(), ..finite }
    }

    /// Seed-by-seed `f(a, b)` of two statistics over the same seeds. A seed missing on either side (NaN), or sides
    /// of different lengths, give no statistic (NaN, shown "–"): dropping values first would pair different seeds.
    pub fn paired(a: &Stat, b: &Stat, f: impl Fn(f64, f64) -> f64) -> Stat {
        if a.values.len() != b.values.len() {
            return Stat::of(&[]);
        }
        Stat::of(&a.values.iter().zip(&b.values).map(|(&x, &y)| f(x, y)).collect::<Vec<_>>())
    }

    /// `mean ± std` to `decimals` places, the mean alone for one value, "–" without a finite mean.
    pub fn show(&self, decimals: usize) -> String {
        match (self.mean.is_finite(), self.std) {
            (false, _) => "–".into(),
            (true, Some(std)) => format!("{:.decimals$} ± {std:.decimals$}", self.mean),
            (true, None) => format!("{:.decimals$}", self.mean),
        }
    }

    /// The standard deviation, 0 for a single value.
    pub fn spread(&self) -> f64 {
        self.std.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn hand_computed_example() {
        let probs = [0.9, 0.1, 0.9, 0.1, 0.3, 0.7, 0.55, 0.45];
        let labels = [0, 1, 1, 1];
        let m = evaluate(&probs, 2, &labels);
        assert_eq!(m.n, 4);
        assert!(close(m.accuracy, 0.5));
        let nll = -(0.9f64.ln() + 0.1f64.ln() + 0.7f64.ln() + 0.45f64.ln()) / 4.0;
        assert!(close(m.nll, nll), "{} vs {nll}", m.nll);
        // Bins of width 1/15: conf 0.9 (right and wrong) share bin 13 with gap |1 - 1.8| = 0.8, conf 0.7 (right) is
        // alone in bin 10 with gap 0.3, conf 0.55 (wrong) alone in bin 8 with gap 0.55: (0.8 + 0.3 + 0.55) / 4.
        assert!(close(m.ece, 0.4125), "{}", m.ece);
        // One bin: |accuracy - mean confidence| = |0.5 - 3.05 / 4|.
        assert!(close(expected_calibration_error(&probs, 2, &labels, 1), 0.2625));
        assert_eq!(m.confusion, vec![vec![1, 0], vec![2, 1]]);
        assert_eq!(m.per_class_accuracy[0], Some(1.0));
        assert!(close(m.per_class_accuracy[1].unwrap(), 1.0 / 3.0));
    }

    #[test]
    fn perfect_predictions_are_calibrated_only_when_confident() {
        let labels = [0, 1, 2, 1];
        let one_hot = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let confident = evaluate(&one_hot, 3, &labels);
        assert_eq!(confident.accuracy, 1.0);
        assert_eq!(confident.ece, 0.0);
        assert_eq!(confident.nll, 0.0);

        let hesitant = [0.6, 0.2, 0.2, 0.2, 0.6, 0.2, 0.2, 0.2, 0.6, 0.2, 0.6, 0.2];
        let m = evaluate(&hesitant, 3, &labels);
        assert_eq!(m.accuracy, 1.0);
        assert!(close(m.ece, 0.4), "{}", m.ece);
    }

    #[test]
    fn uniform_nll_is_ln_classes() {
        let classes = 10;
        let probs = vec![0.1f32; classes * 7];
        let labels = [0, 3, 9, 2, 2, 5, 7];
        let m = evaluate(&probs, classes, &labels);
        assert!(close(m.nll, (classes as f64).ln()));
        // Ties go to the lowest index, so everything is predicted as class 0.
        assert!(argmax_rows(&probs, classes).iter().all(|&p| p == 0));
        assert!(close(m.accuracy, 1.0 / 7.0));
    }

    #[test]
    fn confusion_matrix_sums_to_n() {
        let classes = 4;
        let logits: Vec<f32> = (0..40 * classes).map(|i| ((i * 37 % 11) as f32).sin()).collect();
        let probs = softmax_rows(&logits, classes);
        let labels: Vec<i64> = (0..40).map(|i| i % 4).collect();
        let m = evaluate(&probs, classes, &labels);
        let total: u32 = m.confusion.iter().flatten().sum();
        assert_eq!(total as usize, m.n);
        assert_eq!(m.n, 40);
        for (class, row) in m.confusion.iter().enumerate() {
            assert_eq!(row.iter().sum::<u32>(), 10, "class {class}");
        }
        let predicted = argmax_rows(&probs, classes);
        let correct = predicted.iter().zip(&labels).filter(|&(&p, &l)| p as i64 == l).count();
        assert!(close(m.accuracy, correct as f64 / 40.0));
    }

    #[test]
    fn empty_and_malformed_inputs_do_not_panic() {
        let empty = evaluate(&[], 3, &[]);
        assert_eq!(empty.n, 0);
        assert_eq!((empty.accuracy, empty.nll, empty.ece), (0.0, 0.0, 0.0));
        assert_eq!(empty.per_class_accuracy, vec![None; 3]);
        assert_eq!(empty.confusion, vec![vec![0; 3]; 3]);

        assert_eq!(evaluate(&[0.5, 0.5], 0, &[0]), EvalMetrics::default());
        assert_eq!(expected_calibration_error(&[0.5, 0.5], 2, &[0], 0), 0.0);
        assert!(argmax_rows(&[1.0], 0).is_empty());
        assert!(softmax_rows(&[1.0, 2.0], 0).is_empty());
        assert_eq!(disagreement(&[], &[], 2), 0.0);
        assert_eq!(mean_kl(&[], &[], 2), 0.0);
        assert!(average_probs(&[]).is_empty());

        // More labels than rows, a ragged tail, and labels out of range: only the valid complete rows count.
        let m = evaluate(&[0.2, 0.8, 0.7, 0.3, 0.5, 0.5, 0.9], 2, &[1, 7, -1, 0, 1]);
        assert_eq!(m.n, 1);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(disagreement(&[0.2, 0.8, 0.7, 0.3], &[0.9, 0.1], 2), 1.0);
        assert_eq!(average_probs(&[&[0.5, 0.75, 0.5], &[0.25, 0.25]]), vec![0.375, 0.5]);
    }

    #[test]
    fn identical_inputs_have_no_disagreement_or_divergence() {
        let probs = softmax_rows(&[1.0, 2.0, 3.0, 0.0, 0.0, 5.0, -1.0, 4.0, 0.0], 3);
        assert_eq!(disagreement(&probs, &probs, 3), 0.0);
        assert_eq!(mean_kl(&probs, &probs, 3), 0.0);
    }

    #[test]
    fn disagreement_and_kl_on_known_values() {
        let a = [0.5, 0.5, 0.9, 0.1];
        let b = [0.9, 0.1, 0.1, 0.9];
        // Row 0: tie goes to class 0 for both; row 1: 0 vs 1.
        assert_eq!(disagreement(&a, &b, 2), 0.5);
        let kl_row0 = 0.5 * (0.5f64 / 0.9).ln() + 0.5 * (0.5f64 / 0.1).ln();
        let kl_row1 = 0.9 * 9f64.ln() + 0.1 * (1.0f64 / 9.0).ln();
        assert!(close(mean_kl(&a, &b, 2), (kl_row0 + kl_row1) / 2.0));
        // A zero probability in b is clamped rather than giving infinity.
        assert!(mean_kl(&[1.0, 0.0], &[0.0, 1.0], 2).is_finite());
    }

    #[test]
    fn averaged_rows_sum_to_one() {
        let members: Vec<Vec<f32>> = (0..5)
            .map(|k| softmax_rows(&(0..30).map(|i| ((i * (k + 3)) % 7) as f32 * 0.7).collect::<Vec<_>>(), 3))
            .collect();
        let refs: Vec<&[f32]> = members.iter().map(Vec::as_slice).collect();
        let average = average_probs(&refs);
        assert_eq!(average.len(), 30);
        for row in average.chunks_exact(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        assert!(close(f64::from(average[0]), refs.iter().map(|m| f64::from(m[0])).sum::<f64>() / 5.0));
    }

    #[test]
    fn softmax_is_stable_for_large_logits() {
        let probs = softmax_rows(&[1000.0, 1000.0, 0.0, -1000.0, -1000.0, -1000.0, 1e30, 0.0, -1e30], 3);
        assert!(probs.iter().all(|p| p.is_finite()));
        let expected = [0.5, 0.5, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0, 0.0, 0.0];
        for (p, e) in probs.iter().zip(expected) {
            assert!((p - e).abs() < 1e-6, "{probs:?}");
        }
        let small = softmax_rows(&[0.0, 2f32.ln()], 2);
        assert!((small[0] - 1.0 / 3.0).abs() < 1e-6 && (small[1] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn confidence_of_one_lands_in_the_last_bin() {
        // A confident mistake (confidence 1, gap -1) and a correct coin flip (confidence 0.5 on the edge, so the lower
        // bin; gap +0.5). Separate bins: (1 + 0.5) / 2; one pooled bin: |-1 + 0.5| / 2.
        let probs = [1.0, 0.0, 0.5, 0.5];
        assert!(close(expected_calibration_error(&probs, 2, &[1, 0], 2), 0.75));
        assert!(close(expected_calibration_error(&probs, 2, &[1, 0], 1), 0.25));
    }

    #[test]
    fn metrics_round_trip_through_json() {
        let m = evaluate(&[0.9, 0.1, 0.0, 0.8, 0.2, 0.0], 3, &[0, 0]);
        assert_eq!(m.per_class_accuracy, vec![Some(1.0), None, None]);
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"per_class_accuracy\":[1.0,null,null]"), "{json}");
        assert_eq!(serde_json::from_str::<EvalMetrics>(&json).unwrap(), m);
    }

    #[test]
    fn stats_show_mean_and_sample_spread_and_skip_missing_values_when_asked() {
        let s = Stat::of(&[70.0, 72.0]);
        assert_eq!(s.mean, 71.0);
        assert!((s.std.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.show(2), "71.00 ± 1.41");
        assert_eq!(Stat::of(&[3.0]).show(1), "3.0");
        assert_eq!(Stat::of(&[f64::NAN]).show(2), "–");
        assert!(Stat::of(&[1.0, f64::NAN]).mean.is_nan(), "every value counts");
        let finite = Stat::of_finite(&[1.0, f64::NAN, 3.0]);
        assert_eq!((finite.mean, finite.values.len()), (2.0, 3), "mean of the finite values, every seed kept");
        assert_eq!(Stat::paired(&Stat::of(&[3.0, 5.0]), &Stat::of(&[1.0, 1.0]), |a, b| a - b).values, vec![2.0, 4.0]);
    }

    /// Issue 14: a run that diverged (NaN) on one seed of each side used to be dropped before pairing, so seed 0 of
    /// one side was paired with seed 1 of the other. Now such a pair gives no statistic.
    #[test]
    fn paired_statistics_never_pair_different_seeds() {
        let (a, b) = (Stat::of_finite(&[1.0, f64::NAN, 3.0]), Stat::of_finite(&[f64::NAN, 2.0, 2.0]));
        assert_eq!((a.mean, b.mean), (2.0, 2.0));
        let gap = Stat::paired(&a, &b, |x, y| x - y);
        assert!(gap.mean.is_nan() && gap.show(1) == "–", "a missing seed fails the paired statistic: {gap:?}");
        assert!(Stat::paired(&Stat::of(&[1.0, 2.0]), &Stat::of(&[1.0]), |x, y| x - y).mean.is_nan(), "lengths");
        let gap = Stat::paired(&Stat::of_finite(&[3.0, 5.0, 4.0]), &Stat::of_finite(&[1.0, 1.0, 1.0]), |x, y| x - y);
        assert_eq!((gap.mean, gap.values.len()), (3.0, 3));
    }
}
