//! Lottery tickets: IMP winning ticket vs random re-initialisation vs random pruning.
//! Accuracy per IMP round of the ticket, its controls and the step-k ticket; the comparisons at the last round.

use super::*;

const IMP_INIT: &str = "IMP, rewind to init";

/// IMP's final density in the tickets experiment, reached in [`TICKET_ROUNDS`] rounds at scale 1.
pub const TICKET_DENSITY: f64 = 0.05;
pub const TICKET_ROUNDS: usize = 3;

pub struct Tickets;

impl Reproduction for Tickets {
    fn name(&self) -> &'static str {
        "tickets"
    }

    fn title(&self) -> &'static str {
        "Lottery tickets: IMP winning ticket vs random re-initialisation vs random pruning"
    }

    fn claim(&self) -> &'static str {
        "At high sparsity the IMP ticket, rewound to early in training (step k), beats both controls: the same \
         mask re-initialised and a random mask at the same layer densities."
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
                "The ticket rewinds to step k = {} ({:.0}% of training), and both controls train the same steps, from \
                 k to the end: the re-initialised mask from fresh weights, the random mask from the weights the \
                 ticket rewinds to (as OpenLTH's random-pruning control). Networks with BatchNorm trained at large \
                 learning rates need this late rewinding for tickets to appear (Frankle et al. 2020); rewinding to \
                 initialisation (a second IMP, without controls) is reported beside the verdict as the original LTH \
                 setting.",
                s.rewind_step(),
                100.0 * REWIND_SHARE
            ),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![
            kit.job(IMP_STEP, kit.imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Step, true)),
            kit.job(IMP_INIT, kit.imp(TICKET_DENSITY, s.grid(TICKET_ROUNDS), Rewind::Init, false)),
        ]
    }

    fn summary(&self, r: &Results) -> Summary {
        let rounds =
            |f: fn(&ImpRound) -> f64| move |m: &Measured| m.imp().map(|i| i.rounds.iter().map(f).collect::<Vec<f64>>());
        let maybe = |t: &Option<Trained>| t.as_ref().map_or(f64::NAN, |t| pct(t.test.accuracy));
        let density = r.stats(IMP_STEP, rounds(|x| x.density));
        let ticket = r.stats(IMP_STEP, rounds(|x| pct(x.ticket.test.accuracy)));
        let reinit = r.stats(IMP_STEP, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.reinit)).collect()));
        let random = r.stats(IMP_STEP, move |m| m.imp().map(|i| i.rounds.iter().map(|x| maybe(&x.random)).collect()));
        let at_init = r.stats(IMP_INIT, rounds(|x| pct(x.ticket.test.accuracy)));
        let table = Table::new(
            "Test accuracy (%) per IMP round",
            &[
                "round",
                "density",
                "ticket (rewind to step k)",
                "same mask, re-initialised",
                "random mask",
                "ticket (rewind to init)",
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
                at(&at_init),
            ]
        }));
        let mut checks = vec![];
        if let (Some(t), Some(re), Some(ra), Some(i)) = (ticket.last(), reinit.last(), random.last(), at_init.last()) {
            let at = format!("at density {:.3}", density.last().map_or(f64::NAN, |d| d.mean));
            checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "the same mask re-initialised", re, "%"));
            checks.push(compare(&format!("the ticket {at}"), t, Order::Above, "a random mask", ra, "%"));
            checks.push(
                compare(&format!("rewinding to step k {at}"), t, Order::Above, "rewinding to init", i, "%").observed(),
            );
            checks.push(compare("the final ticket", t, Order::Above, "the dense network", &ticket[0], "%").observed());
        }
        // The papers' axis: weights remaining on a log scale, decreasing to the right.
        let x: Vec<f64> = density.iter().map(|d| 100.0 * d.mean).collect();
        let series = |name: &str, v: &[Stat]| stat_series(name, x.iter().copied().zip(v.iter().cloned()));
        let chart = Chart::new("IMP: ticket vs controls", "weights remaining (%, log scale)", "test accuracy (%)")
            .log_x(true)
            .reversed_x(true)
            .series(series("ticket, rewind to step k", &ticket))
            .series(series("same mask, re-initialised", &reinit))
            .series(series("random mask", &random))
            .series(series("ticket, rewind to init", &at_init));
        Summary::new(table, chart, checks)
    }
}
