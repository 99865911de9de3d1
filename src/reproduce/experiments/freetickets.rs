//! FreeTickets: DST Ensemble and EDST vs one dense model.
//! Accuracy, NLL, ECE and training FLOPs of the dense network and the two ensembles.

use super::*;

const EDST: &str = "EDST";

pub struct Freetickets;

impl Reproduction for Freetickets {
    fn name(&self) -> &'static str {
        "freetickets"
    }

    fn title(&self) -> &'static str {
        "FreeTickets: DST Ensemble and EDST vs one dense model"
    }

    fn claim(&self) -> &'static str {
        "The sparse ensembles beat one dense model's accuracy at no more than its training FLOPs."
    }

    fn source(&self) -> &'static str {
        "Liu et al., Deep Ensembling with No Overhead for either Training or Testing, ICLR 2022"
    }

    fn notes(&self, s: &Setup) -> Vec<String> {
        let d = s.ensemble_density(ENSEMBLE_MEMBERS);
        vec![format!(
            "Both ensembles: {ENSEMBLE_MEMBERS} members, RigL at density {d:.2} (ERK densities): the largest density \
             at which {ENSEMBLE_MEMBERS} members' accounted training FLOPs ({:.2}× dense each, the dense gradients of \
             RigL's mask updates included) stay within one dense run. ERK keeps the small, FLOP-heavy early layers \
             dense, so FLOPs fall more slowly than the density. EDST trains one run {edst}× as long as the others \
             (the reference's 450 epochs against 250), explores for its first third and then refines three tickets, \
             each phase after re-exploring 80% of every layer's weights (layer by layer, as the reference code's \
             `truncate_weights` does). Training FLOPs follow RigL's convention, relative to one dense run of the \
             page's length.",
            s.member_flops(d),
            edst = EnsembleSettings::default().edst_length,
        )]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![kit.dense(), kit.dst_ensemble(), kit.job(EDST, kit.ensemble(kit.rigl(), EnsembleKind::Edst, false))]
    }

    fn summary(&self, r: &Results) -> Summary {
        let dense = metric_stats(r, DENSE, |m| m.test().cloned());
        let dense_flops = r.stat(DENSE, flops_vs_dense);
        let mut table = Table::new("", &["network", "test accuracy (%)", "NLL", "ECE", "training FLOPs (× dense)"])
            .row(vec![text("dense"), pc(&dense[0]), num(&dense[1], 4), num(&dense[2], 4), num(&dense_flops, 2)]);
        let mut checks = vec![];
        for label in [DST_ENSEMBLE, EDST] {
            let e = metric_stats(r, label, ensemble_metrics);
            let flops = r.stat(label, flops_vs_dense);
            let members = r.stat(label, member_mean);
            table = table.row(vec![text(label), pc(&e[0]), num(&e[1], 4), num(&e[2], 4), num(&flops, 2)]).row(vec![
                text(format!("{label}: mean member")),
                pc(&members),
                text(""),
                text(""),
                text(""),
            ]);
            checks.push(compare(&format!("{label} accuracy"), &e[0], Order::Above, "dense", &dense[0], "%"));
            let cheap = flops.mean <= 1.0;
            checks.push(Check {
                statement: format!("{label} training FLOPs ≤ one dense run"),
                held: cheap,
                numbers: format!("{}× dense", flops.show(2)),
                within_noise: false,
                part_of_claim: true,
            });
            checks.push(compare(&format!("{label} NLL"), &e[1], Order::Below, "dense NLL", &dense[1], "").observed());
        }
        let chart = join_chart("FreeTickets: accuracy as members join", r, &[DST_ENSEMBLE, EDST], ("dense", &dense[0]));
        Summary::new(table, chart, checks)
    }
}
