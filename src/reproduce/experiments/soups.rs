//! Model soups: uniform and greedy soup vs the best child.
//! The soups against the best child; the parent → best child interpolation curve.

use super::*;
use crate::ensembles::SOUP_LR_FACTORS;

const SOUP: &str = "soup";
/// Soups get 4 children (the reference uses many more).
pub(super) const SOUP_CHILDREN: usize = 4;

pub struct Soups;

impl Reproduction for Soups {
    fn name(&self) -> &'static str {
        "soups"
    }

    fn title(&self) -> &'static str {
        "Model soups: uniform and greedy soup vs the best child"
    }

    fn claim(&self) -> &'static str {
        "The greedy soup is more accurate than the best child (the uniform soup is reported as it is)."
    }

    fn source(&self) -> &'static str {
        "Wortsman et al., Model Soups, ICML 2022"
    }

    fn notes(&self, _: &Setup) -> Vec<String> {
        vec![
            format!(
                "A dense parent; {SOUP_CHILDREN} children fine-tuned from it for a quarter of its steps at {} × lr, \
                 augmentation on and off in turn, and different data orders; 10% of the training set held out for \
                 the greedy soup. Every soup and every inner point of the interpolation curve (parent at α = 0, best \
                 child at α = 1) has its BatchNorm statistics recalibrated on training batches before it is evaluated.",
                SOUP_LR_FACTORS[..SOUP_CHILDREN].iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
            ),
            "Why it can miss when the parent trained a few epochs: a child's accuracy is then mostly how much further \
             it trained, so averaging pulls the best child towards the others. On cifar10-mini (12 epochs, seeds \
             0–2), children at rates close to these (1, 0.32, 0.1 and 0.56 × lr) left the greedy soup 0.0, +0.1 and \
             −0.5 points from the best child; tuned for half the parent's steps at 1, 0.74, 0.55 and 0.3 × lr, the \
             child at the full rate was best on every seed and 1.9–2.1 points higher, and the greedy soup ended \
             0.0, −0.3 and −0.5 points from it."
                .into(),
        ]
    }

    fn jobs(&self, s: &Setup, seed: u64) -> Vec<Job> {
        let kit = JobKit::new(s, seed);
        vec![kit.job(SOUP, kit.ensemble(kit.base(), EnsembleKind::Soup, false))]
    }

    fn summary(&self, r: &Results) -> Summary {
        let soup = |f: fn(&EnsembleResult, &SoupExtras) -> f64| {
            move |m: &Measured| {
                m.ensemble().and_then(|e| if let Extras::Soup(s) = &e.extras { Some(f(e, s)) } else { None })
            }
        };
        let parent = r.stat(SOUP, soup(|_, s| pct(s.parent.test.accuracy)));
        let best = r.stat(SOUP, soup(|e, s| pct(e.members[s.best_child].test.accuracy)));
        let uniform = r.stat(SOUP, soup(|_, s| pct(s.uniform.test.accuracy)));
        let greedy = r.stat(SOUP, soup(|_, s| pct(s.greedy.test.accuracy)));
        let ingredients = r.stat(SOUP, soup(|_, s| s.greedy.ingredients.len() as f64));
        let averaged = r.stat(SOUP, |m| ensemble_metrics(m).map(|t| pct(t.accuracy)));
        let table = Table::new("Test accuracy (%)", &["network", "test accuracy (%)"])
            .row(vec![text("parent"), pc(&parent)])
            .row(vec![text("best child (by held-out accuracy)"), pc(&best)])
            .row(vec![text("uniform soup"), pc(&uniform)])
            .row(vec![text(format!("greedy soup ({} ingredients)", ingredients.show(1))), pc(&greedy)])
            .row(vec![text("children's predictions averaged (an ensemble, for reference)"), pc(&averaged)]);
        let checks = vec![
            compare("the greedy soup", &greedy, Order::Above, "the best child", &best, "%"),
            compare("the uniform soup", &uniform, Order::Above, "the best child", &best, "%").observed(),
        ];
        let wise = r.stats(SOUP, soup_curve);
        let chart = Chart::new(
            "Soups: from the parent to the best child",
            "alpha (0: parent, 1: best child)",
            "test accuracy (%)",
        )
        .series(stat_series("interpolated weights", wise.into_iter().enumerate().map(|(i, s)| (i as f64 / 10.0, s))))
        .series(level("best child", best.mean, 0.0, 1.0))
        .series(level("uniform soup", uniform.mean, 0.0, 1.0))
        .series(level("greedy soup", greedy.mean, 0.0, 1.0));
        let notes = vec![format!(
            "The greedy soup ended as the best child alone in {} of {} seeds.",
            ingredients.values.iter().filter(|&&n| n == 1.0).count(),
            ingredients.values.len()
        )];
        Summary::new(table, chart, checks).notes(notes)
    }
}

fn soup_curve(m: &Measured) -> Option<Vec<f64>> {
    extras(
        m,
        |x| if let Extras::Soup(s) = x { Some(s.wise.iter().map(|p| pct(p.test_accuracy)).collect()) } else { None },
    )
}
