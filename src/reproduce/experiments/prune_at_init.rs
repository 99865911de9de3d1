//! Pruning at initialisation: SNIP vs GraSP vs SynFlow vs random.
//! Each pruning-at-initialisation method against random pruning.

use super::*;

/// Pruning at initialisation compares the methods at this density (90% sparse).
pub const PAI_DENSITY: f64 = 0.1;

pub struct PruneAtInit;

impl Reproduction for PruneAtInit {
    fn name(&self) -> &'static str {
        "prune-at-init"
    }

    fn title(&self) -> &'static str {
        "Pruning at initialisation: SNIP vs GraSP vs SynFlow vs random"
    }

    fn claim(&self) -> &'static str {
        "SNIP, GraSP and SynFlow each beat random pruning at the same density."
    }

    fn source(&self) -> &'static str {
        "Lee et al. (SNIP) ICLR 2019; Wang et al. (GraSP) ICLR 2020; Tanaka et al. (SynFlow) NeurIPS 2020; \
         Frankle et al., Pruning Neural Networks at Initialization: Why Are We Missing the Mark?, ICLR 2021"
    }

    fn notes(&self, _: &Setup) -> Vec<String> {
        let erk = "ERK densities";
        vec![format!(
            "Each method chooses the mask once at initialisation at density {PAI_DENSITY} (layer densities by its own \
             scores, globally; random: {erk}); the masks stay fixed."
        )]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        PAI_METHODS.iter().map(|&(label, m)| kit.job(label, kit.sparse(PAI_DENSITY, m))).collect()
    }

    fn summary(&self, r: &Results) -> Summary {
        let stats: Vec<(&str, [Stat; 3])> =
            PAI_METHODS.iter().map(|&(label, _)| (label, metric_stats(r, label, |m| m.test().cloned()))).collect();
        let table = Table::new(
            &format!("At {} sparsity", sparsity(PAI_DENSITY)),
            &["method", "test accuracy (%)", "NLL", "ECE"],
        )
        .rows(stats.iter().map(|(l, s)| vec![text(*l), pc(&s[0]), num(&s[1], 4), num(&s[2], 4)]));
        let random = &stats[stats.len() - 1].1[0];
        let checks = stats[..stats.len() - 1]
            .iter()
            .map(|(l, s)| compare(l, &s[0], Order::Above, "random pruning", random, "%"))
            .collect();
        let x = 100.0 * (1.0 - PAI_DENSITY);
        let chart = stats
            .iter()
            .fold(Chart::new("Pruning at initialisation", "sparsity (%)", "test accuracy (%)"), |c, (l, s)| {
                c.series(Series::bars(*l, [(x, s[0].mean)]).with_error(vec![s[0].spread()]))
            });
        let notes = vec![
            "Frankle et al. (2021) found these methods often beat random pruning by little, and that shuffling \
                 their masks within each layer does not hurt: what they choose is mostly the layer densities."
                .into(),
        ];
        Summary::new(table, chart, checks).notes(notes)
    }
}

const PAI_METHODS: [(&str, Method); 4] =
    [("SNIP", Method::Snip), ("GraSP", Method::Grasp), ("SynFlow", Method::Synflow), ("random", Method::Static)];
