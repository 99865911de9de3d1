//! Prune-and-Tune ensemble vs its parent.
//! The ensemble of children against the parent.

use super::*;

const PRUNE_TUNE: &str = "Prune-and-Tune";

pub struct PruneTune;

impl Reproduction for PruneTune {
    fn name(&self) -> &'static str {
        "prune-tune"
    }

    fn title(&self) -> &'static str {
        "Prune-and-Tune ensemble vs its parent"
    }

    fn claim(&self) -> &'static str {
        "The ensemble of pruned-and-tuned children beats its parent."
    }

    fn source(&self) -> &'static str {
        "Whitaker & Whitley, Prune and Tune Ensembles, AAAI 2022"
    }

    fn notes(&self, _: &Setup) -> Vec<String> {
        let tune = EnsembleSettings::default().tune_fraction;
        vec![
            format!(
                "A dense parent (learning rate flat for half the run, then linear decay), 4 children in anti-random \
                 pairs (each keeps a random half of every layer but the last, its partner the other half), each tuned \
                 one-cycle, peaking at the parent's learning rate, for {}% of the parent's steps; softmax averaged.",
                100.0 * tune
            ),
            "The tuning budget was chosen on cifar10-mini (6 epochs, seeds 0–2): tuned for a quarter of the \
             parent's steps, the children ended 5–8 points below their parent and their ensemble 4.8 ± 0.3 below \
             it; tuned for half, the ensemble beat the parent by 0.9 ± 0.7 points. The reference tunes for 10 epochs \
             after a parent trained for hundreds; a parent of a few epochs leaves its children far less to inherit."
                .into(),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![kit.job(PRUNE_TUNE, kit.ensemble(kit.base(), EnsembleKind::PruneTune, false))]
    }

    fn summary(&self, r: &Results) -> Summary {
        let parent_of =
            |m: &Measured| extras(m, |x| if let Extras::PruneTune(p) = x { Some(p.parent.test.clone()) } else { None });
        let parent = metric_stats(r, PRUNE_TUNE, parent_of);
        let e = metric_stats(r, PRUNE_TUNE, ensemble_metrics);
        let members = r.stat(PRUNE_TUNE, member_mean);
        let flops = r.stat(PRUNE_TUNE, flops_vs_dense);
        let table = Table::new("", &["network", "test accuracy (%)", "NLL", "ECE"])
            .row(vec![text("parent (dense)"), pc(&parent[0]), num(&parent[1], 4), num(&parent[2], 4)])
            .row(vec![text("children (mean)"), pc(&members), text(""), text("")])
            .row(vec![
                text(format!("ensemble of the children ({}× dense training FLOPs)", flops.show(2))),
                pc(&e[0]),
                num(&e[1], 4),
                num(&e[2], 4),
            ]);
        let checks = vec![
            compare("the ensemble", &e[0], Order::Above, "its parent", &parent[0], "%"),
            compare("the ensemble's NLL", &e[1], Order::Below, "its parent's", &parent[1], "").observed(),
        ];
        let chart = join_chart("Prune-and-Tune: accuracy as children join", r, &[PRUNE_TUNE], ("parent", &parent[0]));
        Summary::new(table, chart, checks)
    }
}
