//! Pruning at initialisation: SNIP, GraSP and SynFlow against uniform random pruning, the papers' baseline, with the
//! stronger baselines of Frankle et al. (2021) as extra rows: a random mask at ERK densities, and each method's own
//! mask shuffled within every layer.

use super::*;

/// The density of the masks, chosen once at initialisation.
pub const PAI_DENSITY: f64 = 0.05;

pub struct PruneAtInit;

impl Reproduction for PruneAtInit {
    fn name(&self) -> &'static str {
        "prune-at-init"
    }

    fn title(&self) -> &'static str {
        "Pruning at initialisation: SNIP vs GraSP vs SynFlow vs random"
    }

    fn claim(&self) -> &'static str {
        "At 95% sparsity SNIP, GraSP and SynFlow each beat uniform random pruning at the same density."
    }

    fn source(&self) -> &'static str {
        "Lee et al. (SNIP) ICLR 2019; Wang et al. (GraSP) ICLR 2020; Tanaka et al. (SynFlow) NeurIPS 2020; \
         Frankle et al., Pruning Neural Networks at Initialization: Why Are We Missing the Mark?, ICLR 2021"
    }

    fn notes(&self, _: &Setup) -> Vec<String> {
        vec![
            format!(
                "Each method chooses the mask once at initialisation at density {PAI_DENSITY} (layer densities by its \
                 own scores, globally); the masks stay fixed. The papers compare against random pruning at the same \
                 density in every layer (uniform): that is the verdict's baseline."
            ),
            "Extra rows, reported beside the verdict: a random mask at ERK densities (the DST papers' static \
             baseline, stronger than uniform), and each method's mask shuffled within every layer — Frankle et al. \
             (2021) found that shuffling does not hurt, so what these methods contribute is mostly the layer \
             densities."
                .into(),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        let mut jobs: Vec<Job> =
            PAI_METHODS.iter().map(|&(label, m)| kit.job(label, kit.sparse(PAI_DENSITY, m))).collect();
        let random = |dist| TrainConfig { distribution: dist, ..kit.sparse(PAI_DENSITY, Method::Static) };
        jobs.push(kit.job(UNIFORM, random(Distribution::Uniform)));
        jobs.push(kit.job(ERK, random(Distribution::Erk)));
        for &(label, m) in &PAI_METHODS {
            jobs.push(Job::new(&shuffled(label), seed, kit.sparse(PAI_DENSITY, m), Task::ShuffledMask));
        }
        jobs
    }

    fn summary(&self, r: &Results) -> Summary {
        let row = |label: &str| metric_stats(r, label, |m| m.test().cloned());
        let uniform = row(UNIFORM);
        let erk = row(ERK);
        let methods: Vec<(&str, [Stat; 3], [Stat; 3])> =
            PAI_METHODS.iter().map(|&(l, _)| (l, row(l), row(&shuffled(l)))).collect();
        let line = |name: String, s: &[Stat; 3]| vec![text(name), pc(&s[0]), num(&s[1], 4), num(&s[2], 4)];
        let mut table =
            Table::new(&format!("At {} sparsity", sparsity(PAI_DENSITY)), &["mask", "test accuracy (%)", "NLL", "ECE"]);
        for (l, s, _) in &methods {
            table = table.row(line(l.to_string(), s));
        }
        table = table
            .row(line(format!("{UNIFORM} (the papers' baseline)"), &uniform))
            .row(line(format!("{ERK} (extra, stronger baseline)"), &erk));
        for (l, _, sh) in &methods {
            table = table.row(line(format!("{} (extra control)", shuffled(l)), sh));
        }
        let mut checks: Vec<Check> = methods
            .iter()
            .map(|(l, s, _)| compare(l, &s[0], Order::Above, "uniform random pruning", &uniform[0], "%"))
            .collect();
        for (l, s, sh) in &methods {
            checks.push(compare(l, &s[0], Order::Above, "random pruning at ERK densities", &erk[0], "%").observed());
            checks.push(compare(l, &s[0], Order::Above, "its own mask shuffled within layers", &sh[0], "%").observed());
        }
        let x = 100.0 * (1.0 - PAI_DENSITY);
        let mut bars: Vec<(String, &Stat)> = methods.iter().map(|(l, s, _)| (l.to_string(), &s[0])).collect();
        bars.push((UNIFORM.into(), &uniform[0]));
        bars.push((ERK.into(), &erk[0]));
        bars.extend(methods.iter().map(|(l, _, sh)| (shuffled(l), &sh[0])));
        let chart = bars
            .into_iter()
            .fold(Chart::new("Pruning at initialisation", "sparsity (%)", "test accuracy (%)"), |c, (l, s)| {
                c.series(Series::bars(&l, [(x, s.mean)]).with_error(vec![s.spread()]))
            });
        Summary::new(table, chart, checks).table(layer_densities(r))
    }
}

/// Each mask's share of every layer kept (mean ± std over the seeds): with the shuffled controls, what tells whether a
/// method's layer densities help or hurt this network.
fn layer_densities(r: &Results) -> Table {
    let labels: Vec<&str> = PAI_METHODS.iter().map(|&(l, _)| l).chain([UNIFORM, ERK]).collect();
    let per_layer = |label: &str| {
        r.stats(label, |m| m.run().map(|run| run.accounting.layers.iter().map(|l| pct(l.density)).collect()))
    };
    let densities: Vec<Vec<Stat>> = labels.iter().map(|l| per_layer(l)).collect();
    let layers =
        r.entries.iter().find_map(|(_, m)| m.run()).map(|run| run.accounting.layers.clone()).unwrap_or_default();
    let columns: Vec<&str> = ["layer", "weights"].into_iter().chain(labels.iter().copied()).collect();
    let rows = layers.iter().enumerate().map(|(i, layer)| {
        let cells = densities.iter().map(|d| d.get(i).map_or_else(|| text("—"), |s| num(s, 2)));
        [text(layer.name.clone()), text(layer.params.to_string())].into_iter().chain(cells).collect()
    });
    Table::new("Weights kept per layer (%)", &columns).rows(rows)
}

const PAI_METHODS: [(&str, Method); 3] =
    [("SNIP", Method::Snip), ("GraSP", Method::Grasp), ("SynFlow", Method::Synflow)];
const UNIFORM: &str = "random, uniform";
const ERK: &str = "random, ERK";

fn shuffled(method: &str) -> String {
    format!("{method}, shuffled within layers")
}
