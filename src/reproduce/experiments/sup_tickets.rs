//! Sup-tickets: superposed tickets vs the base sparse run.
//! The superposed network against the base run and the cyclic run's final network.

use super::*;

const SUP: &str = "Sup-tickets";

/// Sup-tickets is a method for high sparsity.
pub const SUP_DENSITY: f64 = 0.1;

pub struct SupTickets;

impl Reproduction for SupTickets {
    fn name(&self) -> &'static str {
        "sup-tickets"
    }

    fn title(&self) -> &'static str {
        "Sup-tickets: superposed tickets vs the base sparse run"
    }

    fn claim(&self) -> &'static str {
        "Superposing the cycles' tickets improves on the base sparse run at equal non-zeros."
    }

    fn source(&self) -> &'static str {
        "Yin et al., Superposing Many Tickets into One, 2022"
    }

    fn notes(&self, _: &Setup) -> Vec<String> {
        let erk = "ERK densities";
        vec![
            format!(
                "RigL at density {SUP_DENSITY} ({erk}); the last quarter of the run is 3 triangular learning-rate \
                 cycles; the base is the same configuration trained normally for the whole run (same seed, same \
                 non-zeros)."
            ),
            "Why it can miss at a few hundred steps (cifar10-mini, 12 epochs = 240 steps, seeds 0–2): the cycles' \
             tickets end within 0.8 points of the run they start from, and the superposed network within 0.4, while \
             that run, its schedule squeezed into three quarters of the steps, starts 1.2–3.2 points below the run \
             trained normally. Cycles peaking four times higher changed nothing (seed 0). The paper's cycles last \
             epochs each."
                .into(),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![kit.job(SUP, kit.ensemble(kit.sparse(SUP_DENSITY, Method::Rigl), EnsembleKind::SupTickets, false))]
    }

    fn summary(&self, r: &Results) -> Summary {
        let sup = |f: fn(&SupTicketsExtras) -> f64| {
            move |m: &Measured| extras(m, |x| if let Extras::SupTickets(s) = x { Some(f(s)) } else { None })
        };
        let base = r.stat(SUP, sup(|s| pct(s.standard_run.test.accuracy)));
        let last = r.stat(SUP, sup(|s| pct(s.final_network.test.accuracy)));
        let superposed = r.stat(SUP, sup(|s| pct(s.superposed.test.accuracy)));
        let nz = |f: fn(&SupTicketsExtras) -> f64| num(&r.stat(SUP, sup(f)), 0);
        let table = Table::new("", &["network", "test accuracy (%)", "non-zeros"])
            .row(vec![
                text("base: the configuration trained normally"),
                pc(&base),
                nz(|s| s.standard_run.nonzeros as f64),
            ])
            .row(vec![text("the cyclic run's final network"), pc(&last), nz(|s| s.final_network.nonzeros as f64)])
            .row(vec![text("superposed tickets"), pc(&superposed), nz(|s| s.superposed.nonzeros as f64)]);
        let checks = vec![
            compare("the superposed network", &superposed, Order::Above, "the base sparse run", &base, "%"),
            compare("the superposed network", &superposed, Order::Above, "the cyclic run's final network", &last, "%")
                .observed(),
        ];
        let cycles = |f: fn(&SupCycle) -> f64| {
            move |m: &Measured| {
                extras(m, |x| if let Extras::SupTickets(s) = x { Some(s.cycles.iter().map(f).collect()) } else { None })
            }
        };
        let tickets = r.stats(SUP, cycles(|c| pct(c.ticket_accuracy)));
        let sups = r.stats(SUP, cycles(|c| pct(c.superposed_accuracy)));
        let x = |v: Vec<Stat>| v.into_iter().enumerate().map(|(i, s)| ((i + 1) as f64, s)).collect::<Vec<_>>();
        let n = tickets.len().max(1) as f64;
        let chart = Chart::new("Sup-tickets: cycle by cycle", "cycle", "test accuracy (%)")
            .series(stat_series("cycle's ticket", x(tickets)))
            .series(stat_series("superposed so far", x(sups)))
            .series(level("base sparse run", base.mean, 1.0, n));
        Summary::new(table, chart, checks)
    }
}
