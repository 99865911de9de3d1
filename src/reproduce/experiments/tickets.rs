//! Lottery tickets: IMP winning ticket vs random re-initialisation vs random pruning.
//! Accuracy per IMP round of the ticket, its controls and the step-k ticket; the comparisons at the last round.

use super::*;

const IMP_INIT: &str = "IMP, rewind to init";

/// IMP's final density in the tickets experiment, reached in [`TICKET_ROUNDS`] rounds at scale 1.
pub const TICKET_DENSITY: f64 = 0.05;
pub const TICKET_ROUNDS: usize = 4;

pub struct Tickets;

impl Reproduction for Tickets {
    fn name(&self) -> &'static str {
        "tickets"
    }

    fn title(&self) -> &'static str {
        "Lottery tickets: IMP winning ticket vs random re-initialisation vs random pruning"
    }

    fn claim(&self) -> &'static str {
        "At high sparsity the winning ticket beats both controls (same mask re-initialised, random mask at the \
         same layer densities); rewinding to iteration k is at least as good as rewinding to initialisation."
    }

    fn source(&self) -> &'static str {
        "Frankle & Carbin, The Lottery Ticket Hypothesis, ICLR 2019; Frankle et al., Linear Mode Connectivity and \
         the Lottery Ticket Hypothesis, ICML 2020"
    }

    fn notes(&self, s: &Setup) -> Vec<String> {
        vec![
            format!(
                "Global magnitude IMP to density {TICKET_DENSITY} in {} rounds (pruning {:.0}% of the remaining \
                 weights per round, more than the usual 20% to keep the rounds few); controls every round.",
                s.grid(TICKET_ROUNDS),
                100.0 * round_fraction(TICKET_DENSITY, s.grid(TICKET_ROUNDS))
            ),
            format!(
                "A second IMP, without controls, rewinds to step k = {} ({:.0}% of training) instead of to \
                 initialisation. The controls train from step 0, the step-k ticket for the remaining steps.",
                s.rewind_step(),
                100.0 * REWIND_SHARE
            ),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![
            kit.job(IMP_INIT, kit.imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Init, true)),
            kit.job(IMP_STEP, kit.imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Step, false)),
        ]
    }

    fn summary(&self, r: &Results) -> Summary {
        let rounds =
            |f: fn(&ImpRound) -> f64| move |m: &Measured| m.imp().map(|i| i.rounds.iter().map(f).collect::<Vec<f64>>());
        let maybe = |t: &Option<Trained>| t.as_ref().map_or(f64::NAN, |t| pct(t.test.accuracy));
        let density = r.stats(IMP_INIT, rounds(|x| x.density));
        let ticket = r.stats(IMP_INIT, rounds(|x| pct(x.ticket.test.accuracy)));
        let reinit = r.stats(IMP_INIT, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.reinit)).collect()));
        let random = r.stats(IMP_INIT, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.random)).collect()));
        let rewound = r.stats(IMP_STEP, rounds(|x| pct(x.ticket.test.accuracy)));
        let table = Table::new(
            "Test accuracy (%) per IMP round",
            &[
                "round",
                "density",
                "ticket (rewind to init)",
                "same mask, re-initialised",
                "random mask",
                "ticket (rewind to step k)",
            ],
        )
        .rows((0..ticket.len()).map(|i| {
            let at = |v: &[Stat]| v.get(i).map_or(text("–"), pc);
            vec![
                text(i.to_string()),
                text(format!("{:.4}", density[i].mean)),
                pc(&ticket[i]),
                at(&reinit),
                at(&random),
                at(&rewound),
            ]
        }));
        let mut checks = vec![];
        if let (Some(t), Some(re), Some(ra), Some(k)) = (ticket.last(), reinit.last(), random.last(), rewound.last()) {
            let at = format!("at density {:.3}", density.last().map_or(f64::NAN, |d| d.mean));
            checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "the same mask re-initialised", re, "%"));
            checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "a random mask", ra, "%"));
            checks.push(compare(&format!("rewinding to step k {at}"), k, Order::AtLeast, "rewinding to init", t, "%"));
            checks.push(
                compare("the final ticket (rewind to init)", t, Order::AtLeast, "the dense network", &ticket[0], "%")
                    .observed(),
            );
        }
        let x: Vec<f64> = density.iter().map(|d| 100.0 * d.mean).collect();
        let series = |name: &str, v: &[Stat]| stat_series(name, x.iter().copied().zip(v.iter().cloned()));
        let chart = Chart::new("IMP: ticket vs controls", "density (% of weights kept, log)", "test accuracy (%)")
            .log_x(true)
            .series(series("ticket, rewind to init", &ticket))
            .series(series("same mask, re-initialised", &reinit))
            .series(series("random mask", &random))
            .series(series("ticket, rewind to step k", &rewound));
        Summary::new(table, chart, checks)
    }
}
