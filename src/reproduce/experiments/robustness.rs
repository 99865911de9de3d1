//! Robustness under corruptions: dense vs sparse vs ensembles; CARD-Deck gate.
//! The robustness experiment: accuracy per corruption and severity for each network, averaged per severity.

use super::*;

const CARD_DECK: &str = "CARD-Deck";

/// The corruptions of the robustness experiment, at [`SEVERITIES`]: noise (CARD-Deck's second member trains on it),
/// a blur no member trains on, and two weather/digital ones.
pub const ROBUST_CORRUPTIONS: [Corruption; 4] =
    [Corruption::GaussianNoise, Corruption::DefocusBlur, Corruption::Contrast, Corruption::Fog];
pub const SEVERITIES: [u8; 3] = [1, 3, 5];

pub struct Robustness;

impl Reproduction for Robustness {
    fn name(&self) -> &'static str {
        "robustness"
    }

    fn title(&self) -> &'static str {
        "Robustness under corruptions: dense vs sparse vs ensembles; CARD-Deck gate"
    }

    fn claim(&self) -> &'static str {
        "A sparse ensemble is more robust to corruptions than one dense network, and CARD-Deck's spectral gate \
         beats averaging its members."
    }

    fn source(&self) -> &'static str {
        "Diffenderfer et al., A Winning Hand (CARD-Decks), NeurIPS 2021; Liu et al., FreeTickets, ICLR 2022"
    }

    fn notes(&self, s: &Setup) -> Vec<String> {
        vec![format!(
            "Dense network; a DST Ensemble ({ENSEMBLE_MEMBERS} RigL members at density {:.2}; its members are the sparse \
             single networks); a CARD-Deck of 3 RigL members at the same density trained on clean, Gaussian-noise- \
             and Gaussian-blur-augmented data, gated per batch of 100 test images. Corruptions {} at severities {:?}.",
            s.ensemble_density(ENSEMBLE_MEMBERS),
            ROBUST_CORRUPTIONS.map(|c| c.name()).join(", "),
            SEVERITIES
        )]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![
            kit.dense(),
            kit.dst_ensemble(),
            kit.job(CARD_DECK, kit.ensemble(kit.rigl(), EnsembleKind::CardDeck, true)),
        ]
    }

    fn summary(&self, r: &Results) -> Summary {
        type Getter = Box<dyn Fn(&Measured, Option<(Corruption, u8)>) -> Option<f64>>;
        let row_of = |m: &Measured, c: Corruption, s: u8| {
            m.ensemble().and_then(|e| e.robustness.iter().find(|x| x.corruption == c && x.severity == s).cloned())
        };
        let dense: Getter = Box::new(|m, cs| match (m, cs) {
            (Measured::Corrupted { run, .. }, None) => Some(run.test.accuracy),
            (Measured::Corrupted { rows, .. }, Some((c, s))) => rows.iter().find(|x| x.0 == c && x.1 == s).map(|x| x.2),
            _ => None,
        });
        let single: Getter = Box::new(move |m, cs| match cs {
            None => member_mean(m).map(|a| a / 100.0),
            Some((c, s)) => row_of(m, c, s).map(|x| x.members.iter().sum::<f64>() / x.members.len().max(1) as f64),
        });
        let averaged: Getter = Box::new(move |m, cs| match cs {
            None => m.ensemble().map(|e| e.ensemble.accuracy),
            Some((c, s)) => row_of(m, c, s).map(|x| x.ensemble),
        });
        let gated: Getter = Box::new(move |m, cs| match cs {
            None => extras(m, |x| if let Extras::CardDeck(d) = x { Some(d.gated.accuracy) } else { None }),
            Some((c, s)) => row_of(m, c, s).and_then(|x| x.gated),
        });
        let columns: [(&str, &str, &Getter); 5] = [
            ("dense", DENSE, &dense),
            ("sparse single (DST member, mean)", DST_ENSEMBLE, &single),
            ("DST Ensemble", DST_ENSEMBLE, &averaged),
            ("CARD-Deck, averaged", CARD_DECK, &averaged),
            ("CARD-Deck, gated", CARD_DECK, &gated),
        ];
        let at = |cs: Option<(Corruption, u8)>| -> Vec<Stat> {
            columns.iter().map(|(_, label, get)| r.stat(label, |m| get(m, cs).map(pct))).collect()
        };
        // Mean over the corruptions of each seed's accuracy, per severity (or over all of them).
        let mean_over = |severities: &[u8]| -> Vec<Stat> {
            columns
                .iter()
                .map(|(_, label, get)| {
                    r.stat(label, |m| {
                        let v: Vec<f64> = ROBUST_CORRUPTIONS
                            .iter()
                            .flat_map(|&c| severities.iter().map(move |&s| (c, s)))
                            .filter_map(|cs| get(m, Some(cs)))
                            .collect();
                        (!v.is_empty()).then(|| pct(v.iter().sum::<f64>() / v.len() as f64))
                    })
                })
                .collect()
        };
        let mut header = vec!["test set", "severity"];
        header.extend(columns.iter().map(|c| c.0));
        let line = |name: String, sev: String, stats: Vec<Stat>| {
            let mut row = vec![text(name), text(sev)];
            row.extend(stats.iter().map(pc));
            row
        };
        let mut table = Table::new("Test accuracy (%)", &header).row(line("clean".into(), "–".into(), at(None)));
        for c in ROBUST_CORRUPTIONS {
            for s in SEVERITIES {
                table = table.row(line(c.name().into(), s.to_string(), at(Some((c, s)))));
            }
        }
        let overall = mean_over(&SEVERITIES);
        table = table.row(line("mean over corruptions".into(), "all".into(), overall.clone()));
        let [d, single, dst, card_avg, card_gated] = <[Stat; 5]>::try_from(overall).expect("five columns");
        let checks = vec![
            compare(
                "the sparse ensemble (DST Ensemble) under corruption",
                &dst,
                Order::Above,
                "the dense network",
                &d,
                "%",
            ),
            compare(
                "CARD-Deck gated under corruption",
                &card_gated,
                Order::Above,
                "CARD-Deck averaged",
                &card_avg,
                "%",
            ),
            compare("a single sparse network under corruption", &single, Order::Above, "the dense network", &d, "%")
                .observed(),
            compare("CARD-Deck averaged under corruption", &card_avg, Order::Above, "the dense network", &d, "%")
                .observed(),
        ];
        let mut chart = Chart::new(
            "Accuracy under corruption (mean over corruptions)",
            "severity (0 = clean)",
            "test accuracy (%)",
        );
        let clean = at(None);
        let per_severity: Vec<Vec<Stat>> = SEVERITIES.iter().map(|&s| mean_over(&[s])).collect();
        for (i, (name, _, _)) in columns.iter().enumerate() {
            let points = std::iter::once((0.0, clean[i].clone()))
                .chain(SEVERITIES.iter().zip(&per_severity).map(|(&s, v)| (s as f64, v[i].clone())));
            chart = chart.series(stat_series(name, points));
        }
        Summary::new(table, chart, checks)
    }
}
