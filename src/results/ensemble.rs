//! What an ensemble procedure reports: members, the ensemble, cost against one dense network, robustness, and what
//! is particular to each method; with the terminal summary the CLI prints.

use serde::{Deserialize, Serialize};

use crate::config::{EnsembleKind, TrainConfig};
use crate::corrupt::Corruption;
use crate::metrics::EvalMetrics;
use crate::sparsity::Method;

/// Version of the ensemble JSON result.
pub const ENSEMBLE_FORMAT: u32 = 1;

/// One member of an ensemble (or a reference network beside it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberResult {
    pub name: String,
    pub test: EvalMetrics,
    /// Active prunable weights plus every unprunable parameter.
    pub nonzeros: usize,
    /// Share of prunable weights active.
    pub density: f64,
    /// Training FLOPs spent on this member. Members of one shared run (EDST tickets, Sup-tickets cycles) report the
    /// run's cumulative count when they were taken.
    pub train_flops: f64,
}

/// Size and cost of the ensemble against one dense network of the same configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cost {
    /// Parameters of one network (dense storage; every member shares the architecture).
    pub params: usize,
    /// Parameters of all members together.
    pub total_params: usize,
    /// Non-zeros of all members together.
    pub total_nonzeros: usize,
    /// Forward FLOPs per image of all members together (what averaging costs at test time).
    pub inference_flops: f64,
    /// Training FLOPs of the whole procedure (parents, members, tuning; not the dense baseline).
    pub train_flops: f64,
    pub dense_params: usize,
    pub dense_inference_flops: f64,
    /// 3 × dense forward FLOPs × batch × steps of one run of the configuration.
    pub dense_train_flops: f64,
    pub train_flops_vs_dense: f64,
    pub within_dense_budget: bool,
}

/// Accuracy of the members and of the ensemble on one corrupted copy of the test set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CorruptedAccuracy {
    pub corruption: Corruption,
    pub severity: u8,
    pub members: Vec<f64>,
    /// The softmax average.
    pub ensemble: f64,
    pub ensemble_nll: f64,
    /// CARD-Deck: the gated deck's accuracy and how many batches went to each member.
    pub gated: Option<f64>,
    pub gate_choices: Option<Vec<usize>>,
}

/// Test (and held-out) metrics at one point of a weight interpolation (1 − α)·θ₀ + α·θ₁.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InterpolationPoint {
    pub alpha: f64,
    pub test_accuracy: f64,
    pub test_nll: f64,
    pub test_ece: f64,
    pub held_out_accuracy: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DstEnsembleExtras {
    pub method: Method,
    pub seeds: Vec<u64>,
    /// Pairwise IoU of the members' final masks.
    pub mask_iou: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EdstPhase {
    pub ticket: usize,
    pub start_step: usize,
    pub end_step: usize,
    /// Weights dropped and regrown at the phase's start (0 for the first phase).
    pub reexplored: usize,
    /// Of those, how many are really new positions (a dropped weight may be regrown).
    pub changed: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EdstExtras {
    pub method: Method,
    pub exploration_steps: usize,
    pub phases: Vec<EdstPhase>,
    pub mask_iou: Vec<Vec<f64>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupCycle {
    pub cycle: usize,
    pub start_step: usize,
    pub end_step: usize,
    pub reexplored: usize,
    /// The cycle's ticket (the trained model at the cycle's end), on the test set.
    pub ticket_accuracy: f64,
    /// The superposed network after this cycle (re-pruned, BatchNorm recalibrated), on the test set.
    pub superposed_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupTicketsExtras {
    pub method: Method,
    /// Steps before the cycles (the configuration's schedule, compressed into them) ...
    pub base_steps: usize,
    /// ... and the test accuracy the run had reached when the cycles began.
    pub base_accuracy: f64,
    pub cycle_steps: usize,
    pub cycle_lr: (f64, f64),
    pub cycles: Vec<SupCycle>,
    /// The result: the superposed network after the last cycle.
    pub superposed: MemberResult,
    /// The same run's final (un-superposed) network.
    pub final_network: MemberResult,
    /// The configuration trained normally for the same number of steps (same seed), at the same non-zeros.
    pub standard_run: MemberResult,
    /// IoU of the superposed network's mask with the final network's.
    pub superposed_mask_iou: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneTuneExtras {
    /// The parent (LR flat for half the run, then linear decay to zero).
    pub parent: MemberResult,
    pub tune_steps: usize,
    /// Every pair's masks are disjoint and together give the parent's (the last layer excluded, kept whole).
    pub complementary: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupChild {
    pub name: String,
    pub lr: f64,
    pub augment: bool,
    pub data_seed: u64,
    pub held_out_accuracy: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupMetrics {
    pub held_out_accuracy: f64,
    pub test: EvalMetrics,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GreedySoup {
    /// Children in the soup (indices into `children`), in the order added; the first is the best child.
    pub ingredients: Vec<usize>,
    /// Held-out accuracy of the soup after each candidate was considered (best child first).
    pub held_out_path: Vec<f64>,
    pub held_out_accuracy: f64,
    pub test: EvalMetrics,
    /// Whether the soup ended as the best child alone (a known outcome, shown as it is).
    pub only_best_child: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SoupExtras {
    /// Where the held-out accuracy comes from.
    pub held_out: String,
    pub parent: MemberResult,
    pub parent_held_out_accuracy: f64,
    pub finetune_steps: usize,
    pub children: Vec<SoupChild>,
    /// The child with the best held-out accuracy.
    pub best_child: usize,
    pub uniform: SoupMetrics,
    pub greedy: GreedySoup,
    /// WiSE-style interpolation from the parent (α = 0) to the best child (α = 1).
    pub wise: Vec<InterpolationPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CardDeckExtras {
    /// Each member's training corruption (`none`: crop and flip only).
    pub augmentations: Vec<String>,
    pub augment_share: f64,
    pub gate_batch: usize,
    /// The gated deck on the clean test set, and how many batches went to each member.
    pub gated: EvalMetrics,
    pub gate_choices: Vec<usize>,
    /// Spectral similarity of the members' training spectra to the clean test set's.
    pub test_similarity: Vec<f64>,
}

/// What is particular to each method.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Extras {
    DstEnsemble(DstEnsembleExtras),
    Edst(EdstExtras),
    SupTickets(Box<SupTicketsExtras>),
    PruneTune(Box<PruneTuneExtras>),
    Soup(Box<SoupExtras>),
    CardDeck(Box<CardDeckExtras>),
}

/// Everything an ensemble procedure measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnsembleResult {
    pub format: u32,
    pub kind: EnsembleKind,
    pub config: TrainConfig,
    pub backend: String,
    pub members: Vec<MemberResult>,
    /// The members' softmax outputs averaged, on the test set.
    pub ensemble: EvalMetrics,
    /// Test accuracy of the average of the first k members, k = 1..=M.
    pub accuracy_as_members_join: Vec<f64>,
    /// Share of test images where members i and j predict different classes.
    pub disagreement: Vec<Vec<f64>>,
    /// Mean KL(member i ‖ member j) of the predictive distributions, in nats.
    pub kl: Vec<Vec<f64>>,
    pub cost: Cost,
    /// One dense network of the configuration, if asked for.
    pub dense_baseline: Option<MemberResult>,
    /// Accuracy under each corruption × severity asked for.
    pub robustness: Vec<CorruptedAccuracy>,
    pub extras: Extras,
    pub wall_seconds: f64,
}

// ---------------------------------------------------------------------------------------------------------------
// The terminal summary

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

impl EnsembleResult {
    /// A short, readable summary: members, ensemble, cost against one dense network, the method's own measures and
    /// the robustness rows.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "{} ensemble of {} members: {} ×{} at density {} ({}), {} of batch {}, seed {}\n\n",
            self.kind,
            self.members.len(),
            c.model,
            c.width,
            c.density,
            c.distribution,
            c.steps.map_or(format!("{} epochs", c.epochs), |s| format!("{s} steps")),
            c.batch_size,
            c.seed
        );
        out += &format!(
            "{:<34} {:>9} {:>8} {:>8} {:>10} {:>8} {:>12}\n",
            "network", "accuracy", "NLL", "ECE", "non-zeros", "density", "train GFLOPs"
        );
        let row = |m: &MemberResult| {
            format!(
                "{:<34} {:>9} {:>8.4} {:>8.4} {:>10} {:>8.4} {:>12.3}\n",
                m.name,
                pct(m.test.accuracy),
                m.test.nll,
                m.test.ece,
                m.nonzeros,
                m.density,
                m.train_flops / 1e9
            )
        };
        for m in &self.members {
            out += &row(m);
        }
        let e = &self.ensemble;
        out += &format!(
            "{:<34} {:>9} {:>8.4} {:>8.4} {:>10} {:>8} {:>12.3}\n",
            "ensemble (softmax average)",
            pct(e.accuracy),
            e.nll,
            e.ece,
            self.cost.total_nonzeros,
            "",
            self.cost.train_flops / 1e9
        );
        if let Some(d) = &self.dense_baseline {
            out += &row(d);
        }
        let join: Vec<String> =
            self.accuracy_as_members_join.iter().enumerate().map(|(k, a)| format!("{}: {}", k + 1, pct(*a))).collect();
        out += &format!("\naccuracy as members join  {}\n", join.join("  "));
        let n = self.members.len();
        let off_diagonal = |m: &[Vec<f64>]| {
            let values: Vec<f64> = (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| m[i][j])
                .collect();
            values.iter().sum::<f64>() / values.len().max(1) as f64
        };
        out += &format!(
            "mean pairwise disagreement {:.4}, mean pairwise KL {:.4} nats\n",
            off_diagonal(&self.disagreement),
            off_diagonal(&self.kl)
        );
        let k = &self.cost;
        out += &format!(
            "training {:.3} GFLOPs = {:.3}× one dense run ({:.3} GFLOPs){}\n",
            k.train_flops / 1e9,
            k.train_flops_vs_dense,
            k.dense_train_flops / 1e9,
            if k.within_dense_budget { ", within its budget" } else { ", over its budget" }
        );
        out += &format!(
            "inference {:.2} MFLOPs/image (all members) vs {:.2} dense; non-zeros {} (all members) vs {} dense\n",
            k.inference_flops / 1e6,
            k.dense_inference_flops / 1e6,
            k.total_nonzeros,
            k.dense_params
        );
        out += &self.extras_table();
        if !self.robustness.is_empty() {
            let gated = self.robustness.iter().any(|r| r.gated.is_some());
            out += &format!(
                "\n{:<16} {:>3}  {:>30}  {:>9}{}\n",
                "corruption",
                "sev",
                "members",
                "ensemble",
                if gated { "      gated  gate choices" } else { "" }
            );
            for r in &self.robustness {
                let members: Vec<String> = r.members.iter().map(|a| format!("{:.1}", 100.0 * a)).collect();
                out += &format!(
                    "{:<16} {:>3}  {:>30}  {:>9}",
                    r.corruption.name(),
                    r.severity,
                    members.join(" "),
                    pct(r.ensemble)
                );
                if let (Some(g), Some(ch)) = (r.gated, &r.gate_choices) {
                    out += &format!("  {:>9}  {ch:?}", pct(g));
                }
                out += "\n";
            }
            let mean = |f: &dyn Fn(&CorruptedAccuracy) -> f64| {
                self.robustness.iter().map(f).sum::<f64>() / self.robustness.len() as f64
            };
            out += &format!("mean under corruption: ensemble {}", pct(mean(&|r| r.ensemble)));
            if gated {
                out += &format!(", gated {}", pct(mean(&|r| r.gated.unwrap_or(0.0))));
            }
            let best_member =
                (0..n).map(|i| mean(&|r: &CorruptedAccuracy| r.members[i])).fold(f64::NEG_INFINITY, f64::max);
            out += &format!(", best member {}\n", pct(best_member));
        }
        out
    }

    fn extras_table(&self) -> String {
        let mut out = String::from("\n");
        match &self.extras {
            Extras::DstEnsemble(x) => {
                out += &format!("members train with {}; seeds {:?}\n", x.method, x.seeds);
                let n = x.mask_iou.len();
                let ious: Vec<String> = (0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .map(|(i, j)| format!("{}-{}: {:.3}", i + 1, j + 1, x.mask_iou[i][j]))
                    .collect();
                out += &format!("mask IoU  {}\n", ious.join("  "));
            }
            Extras::Edst(x) => {
                let run = x.phases.last().map_or(0, |p| p.end_step);
                out += &format!(
                    "one run of {run} steps ({}× the configuration's): {} exploration steps, then (method {}):\n",
                    self.config.ensemble.edst_length, x.exploration_steps, x.method
                );
                for p in &x.phases {
                    out += &format!(
                        "  ticket {}: steps {}..{}, re-explored {} weights ({} at new positions)\n",
                        p.ticket, p.start_step, p.end_step, p.reexplored, p.changed
                    );
                }
                let n = x.mask_iou.len();
                let ious: Vec<String> = (0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .map(|(i, j)| format!("{}-{}: {:.3}", i + 1, j + 1, x.mask_iou[i][j]))
                    .collect();
                out += &format!("ticket mask IoU  {}\n", ious.join("  "));
            }
            Extras::SupTickets(x) => {
                out += &format!(
                    "{} ({}): {} base steps (test accuracy {} at their end), then {} cycles of {} steps at lr {:.2e} → {:.2e}\n",
                    self.kind,
                    x.method,
                    x.base_steps,
                    pct(x.base_accuracy),
                    x.cycles.len(),
                    x.cycle_steps,
                    x.cycle_lr.0,
                    x.cycle_lr.1
                );
                for cy in &x.cycles {
                    out += &format!(
                        "  cycle {}: re-explored {}, ticket {}, superposed so far {}\n",
                        cy.cycle,
                        cy.reexplored,
                        pct(cy.ticket_accuracy),
                        pct(cy.superposed_accuracy)
                    );
                }
                for m in [&x.superposed, &x.final_network, &x.standard_run] {
                    out += &format!(
                        "  {:<16} {} NLL {:.4} ECE {:.4}, {} non-zeros\n",
                        m.name,
                        pct(m.test.accuracy),
                        m.test.nll,
                        m.test.ece,
                        m.nonzeros
                    );
                }
                out += &format!("  superposed mask IoU with the final network's: {:.3}\n", x.superposed_mask_iou);
            }
            Extras::PruneTune(x) => {
                out += &format!(
                    "parent {} (NLL {:.4}, ECE {:.4}, {} non-zeros); children tuned {} steps each; anti-random pairs complementary: {}\n",
                    pct(x.parent.test.accuracy),
                    x.parent.test.nll,
                    x.parent.test.ece,
                    x.parent.nonzeros,
                    x.tune_steps,
                    x.complementary
                );
            }
            Extras::Soup(x) => {
                out += &format!("held out: {}\n", x.held_out);
                out += &format!(
                    "parent: test {}, held-out {}; children fine-tuned {} steps\n",
                    pct(x.parent.test.accuracy),
                    pct(x.parent_held_out_accuracy),
                    x.finetune_steps
                );
                for (k, ch) in x.children.iter().enumerate() {
                    out += &format!(
                        "  {}: held-out {}, test {}\n",
                        ch.name,
                        pct(ch.held_out_accuracy),
                        pct(self.members[k].test.accuracy)
                    );
                }
                let best = &self.members[x.best_child];
                out += &format!(
                    "best child ({}): held-out {}, test {}\n",
                    best.name,
                    pct(x.children[x.best_child].held_out_accuracy),
                    pct(best.test.accuracy)
                );
                out += &format!(
                    "uniform soup:  held-out {}, test {} (NLL {:.4}, ECE {:.4})\n",
                    pct(x.uniform.held_out_accuracy),
                    pct(x.uniform.test.accuracy),
                    x.uniform.test.nll,
                    x.uniform.test.ece
                );
                out += &format!(
                    "greedy soup:   held-out {}, test {} (NLL {:.4}, ECE {:.4}), ingredients {:?}{}\n",
                    pct(x.greedy.held_out_accuracy),
                    pct(x.greedy.test.accuracy),
                    x.greedy.test.nll,
                    x.greedy.test.ece,
                    x.greedy.ingredients.iter().map(|i| i + 1).collect::<Vec<_>>(),
                    if x.greedy.only_best_child { " (only the best child: no candidate improved it)" } else { "" }
                );
                let curve: Vec<String> =
                    x.wise.iter().map(|p| format!("{:.1}: {:.1}", p.alpha, 100.0 * p.test_accuracy)).collect();
                out += &format!("parent → best child, test accuracy along α  {}\n", curve.join("  "));
            }
            Extras::CardDeck(x) => {
                out += &format!(
                    "augmentations {:?} (share {}); gate every {} test images\n",
                    x.augmentations, x.augment_share, x.gate_batch
                );
                out += &format!(
                    "clean test: gated deck {} (NLL {:.4}, ECE {:.4}), batches per member {:?}\n",
                    pct(x.gated.accuracy),
                    x.gated.nll,
                    x.gated.ece,
                    x.gate_choices
                );
            }
        }
        out
    }
}
