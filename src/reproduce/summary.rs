//! What a summary makes of an experiment's measurements: tables of statistics over seeds, charts and the checks of
//! a verdict; with the getters the experiments share.

use serde::Serialize;

use super::chart::{Chart, Series};
use super::jobs::{Job, Measured};
use super::setup::Setup;
use crate::metrics::{EvalMetrics, Stat};
use crate::results::Extras;
use crate::verdict::{Check, Verdict};

/// A table cell: text, or a statistic shown with some decimals.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Stat {
        #[serde(flatten)]
        stat: Stat,
        #[serde(skip)]
        decimals: usize,
    },
}

impl Cell {
    pub(super) fn show(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Stat { stat, decimals } => stat.show(*decimals),
        }
    }
}

pub(super) fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// A statistic in percent (accuracies) or another quantity, to two decimals (`num` with more).
pub(super) fn pc(stat: &Stat) -> Cell {
    Cell::Stat { stat: stat.clone(), decimals: 2 }
}

pub(super) fn num(stat: &Stat, decimals: usize) -> Cell {
    Cell::Stat { stat: stat.clone(), decimals }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(super) fn new(title: &str, columns: &[&str]) -> Table {
        Table { title: title.into(), columns: columns.iter().map(|c| c.to_string()).collect(), rows: vec![] }
    }

    pub(super) fn row(mut self, cells: Vec<Cell>) -> Table {
        self.rows.push(cells);
        self
    }

    pub(super) fn rows(mut self, rows: impl IntoIterator<Item = Vec<Cell>>) -> Table {
        self.rows.extend(rows);
        self
    }

    pub fn to_markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let mut out = String::new();
        if !self.title.is_empty() {
            out += &format!("**{}**\n\n", self.title);
        }
        out += &line(self.columns.clone());
        out += &line(self.columns.iter().map(|_| "---".to_string()).collect());
        for row in &self.rows {
            out += &line(row.iter().map(Cell::show).collect());
        }
        out
    }
}

/// The measurements of one experiment, looked up by job label across seeds.
pub struct Results<'a> {
    pub setup: &'a Setup,
    pub entries: &'a [(Job, Measured)],
}

impl Results<'_> {
    /// `f` of the job labelled `label`, over the seeds, in seed order (NaN where a seed has no value, so that
    /// [`Stat::paired`] pairs seed by seed).
    pub(super) fn stat(&self, label: &str, f: impl Fn(&Measured) -> Option<f64>) -> Stat {
        let values: Vec<f64> =
            self.entries.iter().filter(|(j, _)| j.label == label).map(|(_, m)| f(m).unwrap_or(f64::NAN)).collect();
        Stat::of_finite(&values)
    }

    /// `f` (one value per point, e.g. per IMP round) of the job labelled `label`, point by point over the seeds.
    pub(super) fn stats(&self, label: &str, f: impl Fn(&Measured) -> Option<Vec<f64>>) -> Vec<Stat> {
        let rows: Vec<Vec<f64>> =
            self.entries.iter().filter(|(j, _)| j.label == label).filter_map(|(_, m)| f(m)).collect();
        let n = rows.iter().map(Vec::len).min().unwrap_or(0);
        (0..n).map(|i| Stat::of_finite(&rows.iter().map(|r| r[i]).collect::<Vec<_>>())).collect()
    }
}

/// What a summary makes of an experiment's measurements.
pub struct Summary {
    pub tables: Vec<Table>,
    /// Charts with their file-name suffixes (the first has none).
    pub charts: Vec<(String, Chart)>,
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

impl Summary {
    /// One table, one chart and the verdict of `checks`.
    pub(super) fn new(table: Table, chart: Chart, checks: Vec<Check>) -> Summary {
        Summary {
            tables: vec![table],
            charts: vec![(String::new(), chart)],
            verdict: Verdict::of(checks),
            notes: vec![],
        }
    }

    /// A further table, after the first.
    pub(super) fn table(mut self, table: Table) -> Summary {
        self.tables.push(table);
        self
    }

    /// A further chart, written as `<name><suffix>.png`.
    pub(super) fn chart(mut self, suffix: &str, chart: Chart) -> Summary {
        self.charts.push((suffix.into(), chart));
        self
    }

    pub(super) fn notes(mut self, notes: Vec<String>) -> Summary {
        self.notes = notes;
        self
    }
}

pub(super) fn pct(x: f64) -> f64 {
    100.0 * x
}

pub(super) fn accuracy(m: &Measured) -> Option<f64> {
    m.test().map(|t| pct(t.accuracy))
}

/// Test accuracy, NLL and ECE of a metrics getter, as three statistics.
pub(super) fn metric_stats(r: &Results, label: &str, get: impl Fn(&Measured) -> Option<EvalMetrics>) -> [Stat; 3] {
    [
        r.stat(label, |m| get(m).map(|t| pct(t.accuracy))),
        r.stat(label, |m| get(m).map(|t| t.nll)),
        r.stat(label, |m| get(m).map(|t| t.ece)),
    ]
}

pub(super) fn ensemble_metrics(m: &Measured) -> Option<EvalMetrics> {
    m.ensemble().map(|e| e.ensemble.clone())
}

/// Mean test accuracy of the ensemble's members.
pub(super) fn member_mean(m: &Measured) -> Option<f64> {
    let e = m.ensemble()?;
    Some(pct(e.members.iter().map(|x| x.test.accuracy).sum::<f64>() / e.members.len().max(1) as f64))
}

pub(super) fn flops_vs_dense(m: &Measured) -> Option<f64> {
    if let Some(e) = m.ensemble() {
        return Some(e.cost.train_flops_vs_dense);
    }
    let r = m.run()?;
    let a = &r.accounting;
    Some(a.train_flops / (3.0 * a.dense_flops * r.config.batch_size as f64 * r.steps as f64).max(1.0))
}

pub(super) fn joins(m: &Measured) -> Option<Vec<f64>> {
    m.ensemble().map(|e| e.accuracy_as_members_join.iter().map(|&a| pct(a)).collect())
}

pub(super) fn extras<T>(m: &Measured, f: impl Fn(&Extras) -> Option<T>) -> Option<T> {
    m.ensemble().and_then(|e| f(&e.extras))
}

/// A line with error bars through `(x, stat)` points.
pub(super) fn stat_series(name: &str, points: impl IntoIterator<Item = (f64, Stat)>) -> Series {
    let (xy, err): (Vec<(f64, f64)>, Vec<f64>) = points.into_iter().map(|(x, s)| ((x, s.mean), s.spread())).unzip();
    Series::line_and_points(name, xy).with_error(err)
}

/// A flat reference line at `y` across `[x0, x1]`.
pub(super) fn level(name: &str, y: f64, x0: f64, x1: f64) -> Series {
    Series::line(name, [(x0, y), (x1, y)])
}

/// The accuracy-as-members-join chart of ensembles, against a reference network.
pub(super) fn join_chart(title: &str, r: &Results, labels: &[&str], reference: (&str, &Stat)) -> Chart {
    let mut chart = Chart::new(title, "members averaged", "test accuracy (%)");
    let mut most = 1.0f64;
    for label in labels {
        let curve = r.stats(label, joins);
        most = most.max(curve.len() as f64);
        chart = chart.series(stat_series(label, curve.into_iter().enumerate().map(|(i, s)| ((i + 1) as f64, s))));
    }
    chart.series(level(reference.0, reference.1.mean, 1.0, most))
}
