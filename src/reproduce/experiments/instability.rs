//! Instability: error barrier vs rewinding iteration.
//! The error barrier per rewinding step, and the error along the path between the copies.

use super::*;

/// The instability analysis studies a sparse network at this density (a static ERK mask).
pub const INSTABILITY_DENSITY: f64 = 0.2;

pub struct Instability;

impl Reproduction for Instability {
    fn name(&self) -> &'static str {
        "instability"
    }

    fn title(&self) -> &'static str {
        "Instability: error barrier vs rewinding iteration"
    }

    fn claim(&self) -> &'static str {
        "The error barrier between two copies trained from iteration k falls as k grows."
    }

    fn source(&self) -> &'static str {
        "Frankle et al., Linear Mode Connectivity and the Lottery Ticket Hypothesis, ICML 2020"
    }

    fn notes(&self, s: &Setup) -> Vec<String> {
        vec![format!(
            "The sparse network at density {INSTABILITY_DENSITY} (a static ERK mask, fixed from initialisation), trained to step k (k = {} steps), then two copies on different data orders to the \
             end; test error along (1 − α)·θ₁ + α·θ₂, α = 0, 0.1, …, 1; barrier = max error − mean of the ends.",
            s.instability_steps().iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
        )]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        s.instability_steps()
            .into_iter()
            .map(|k| {
                let config = kit.sparse(INSTABILITY_DENSITY, Method::Static);
                Job::new(&rewind_label(k), seed, config, Task::Instability { from_step: k })
            })
            .collect()
    }

    fn summary(&self, r: &Results) -> Summary {
        let steps = r.setup.steps() as f64;
        let ks = r.setup.instability_steps();
        let inst = |k: usize| rewind_label(k);
        let barrier: Vec<Stat> = ks.iter().map(|&k| r.stat(&inst(k), |m| m.instability().map(|i| i.barrier))).collect();
        let errors: Vec<Vec<Stat>> =
            ks.iter().map(|&k| r.stats(&inst(k), |m| m.instability().map(|i| i.errors.clone()))).collect();
        let at = |e: &[Stat], i: usize| e.get(i).map_or(text("–"), pc);
        let table = Table::new(
            "Error barrier (percentage points) and test error (%) along the path",
            &["k (steps)", "k (% of training)", "barrier", "error at α = 0", "error at α = 0.5", "error at α = 1"],
        )
        .rows(ks.iter().enumerate().map(|(i, &k)| {
            vec![
                text(k.to_string()),
                text(format!("{:.1}", 100.0 * k as f64 / steps)),
                pc(&barrier[i]),
                at(&errors[i], 0),
                at(&errors[i], 5),
                at(&errors[i], 10),
            ]
        }));
        let points: Vec<(String, Stat)> = ks.iter().zip(&barrier).map(|(k, b)| (inst(*k), b.clone())).collect();
        let checks = vec![falls("the error barrier falls as the rewinding step k grows", &points)];
        let chart = Chart::new("Instability vs rewinding step", "rewinding step k", "error barrier (points)")
            .series(stat_series("barrier", ks.iter().map(|&k| k as f64).zip(barrier.iter().cloned())));
        let mut path =
            Chart::new("Test error between the two copies", "alpha (0: copy 1, 1: copy 2)", "test error (%)");
        for (k, e) in ks.iter().zip(&errors) {
            path = path.series(stat_series(&inst(*k), e.iter().enumerate().map(|(i, s)| (i as f64 / 10.0, s.clone()))));
        }
        Summary::new(table, chart, checks).chart("-path", path)
    }
}
