//! Sparse double descent under label noise.
//! Accuracy and ℓ₂ distance per IMP round under label noise; the shape of the accuracy curve.

use super::*;

/// Sparse double descent: IMP down to this density in [`DOUBLE_DESCENT_ROUNDS`] rounds at scale 1, with this share
/// of the training labels replaced by another class.
pub const DOUBLE_DESCENT_DENSITY: f64 = 0.01;
pub const DOUBLE_DESCENT_ROUNDS: usize = 7;
pub const LABEL_NOISE: f64 = 0.2;

pub struct DoubleDescent;

impl Reproduction for DoubleDescent {
    fn name(&self) -> &'static str {
        "double-descent"
    }

    fn title(&self) -> &'static str {
        "Sparse double descent under label noise"
    }

    fn claim(&self) -> &'static str {
        "With label noise, test accuracy falls, rises, then falls again as IMP's sparsity grows."
    }

    fn source(&self) -> &'static str {
        "He et al., Sparse Double Descent: Where Network Pruning Aggravates Overfitting, ICML 2022"
    }

    fn notes(&self, s: &Setup) -> Vec<String> {
        vec![
            format!(
                "{:.0}% of the training labels replaced by another class (symmetric noise, seeded per seed; the test set \
             is clean). Global IMP to density {DOUBLE_DESCENT_DENSITY} in {} rounds, rewinding to step k = {}. \
             He et al. train 160 epochs per round, long enough for the dense network to memorise the noise; \
             these runs are far shorter, so the dense network may never fit the noise and the first descent \
             (light pruning hurting a network that memorised it) may not appear. Trials on cifar10-mini with 4 and \
             16 times the epochs per round did not bring it: their curves stayed within about a test draw's noise. \
             The verdict places the peak and the troughs on the means and counts each leg only as a paired margin \
             beyond its spread.",
                100.0 * LABEL_NOISE,
                s.grid(DOUBLE_DESCENT_ROUNDS),
                s.rewind_step()
            ),
            "ℓ₂ distance of the prunable weights between the start and the end of each round's training: from \
         initialisation in round 0, from the rewinding point at step k in later rounds."
                .into(),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![Job {
            label_noise: LABEL_NOISE,
            ..kit.job(IMP_STEP, kit.imp(DOUBLE_DESCENT_DENSITY, s.grid(DOUBLE_DESCENT_ROUNDS), Rewind::Step, false))
        }]
    }

    fn summary(&self, r: &Results) -> Summary {
        let rounds =
            |f: fn(&ImpRound) -> f64| move |m: &Measured| m.imp().map(|i| i.rounds.iter().map(f).collect::<Vec<f64>>());
        let density = r.stats(IMP_STEP, rounds(|x| x.density));
        let acc = r.stats(IMP_STEP, rounds(|x| pct(x.ticket.test.accuracy)));
        let l2 = r.stats(IMP_STEP, rounds(|x| x.ticket.l2_from_start));
        let table = Table::new(
            "IMP under 20% label noise (test set clean)",
            &["round", "density", "sparsity (%)", "test accuracy (%)", "ℓ₂ distance from the start"],
        )
        .rows((0..acc.len()).map(|i| {
            vec![
                text(i.to_string()),
                text(format!("{:.4}", density[i].mean)),
                text(format!("{:.1}", 100.0 * (1.0 - density[i].mean))),
                pc(&acc[i]),
                num(&l2[i], 3),
            ]
        }));
        let points: Vec<(String, Stat)> =
            acc.iter().zip(&density).map(|(a, d)| (sparsity(d.mean), a.clone())).collect();
        let checks = vec![
            fall_rise_fall(
                "from the dense network, test accuracy falls, rises, then falls again as sparsity grows",
                &points,
            ),
            rise_then_fall("the second descent alone: accuracy rises from the dense network, then falls", &points)
                .observed(),
        ];
        let x: Vec<f64> = density.iter().map(|d| 100.0 * d.mean).collect();
        // He et al.'s axis: sparsity grows to the right, so weights remaining (log scale) decrease.
        let chart = Chart::new(
            "Sparse double descent (20% label noise)",
            "weights remaining (%, log scale)",
            "test accuracy (%)",
        )
        .log_x(true)
        .reversed_x(true)
        .series(stat_series("IMP ticket", x.iter().copied().zip(acc.iter().cloned())));
        let l2_chart = Chart::new(
            "L2 distance travelled vs density",
            "weights remaining (%, log scale)",
            "L2 distance from the start",
        )
        .log_x(true)
        .reversed_x(true)
        .series(stat_series("IMP ticket", x.iter().copied().zip(l2.iter().cloned())));
        Summary::new(table, chart, checks).chart("-l2", l2_chart)
    }
}
