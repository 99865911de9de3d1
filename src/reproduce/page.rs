//! An experiment's page: the markdown with its claim, verdict, tables and charts, the JSON record, the PNG charts,
//! and the index of a `reproduce` run.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chart::Chart;
use super::experiments::Experiment;
use super::jobs::Job;
use super::setup::Setup;
use super::summary::Table;
use crate::verdict::{Check, Verdict};

/// An experiment's result: what the page, the JSON and the index show.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub experiment: Experiment,
    pub title: String,
    pub claim: String,
    pub source: String,
    pub setup: Setup,
    pub setup_text: String,
    pub notes: Vec<String>,
    pub verdict: Verdict,
    pub tables: Vec<Table>,
    pub backend: String,
    pub wall_seconds: f64,
    pub command: String,
    pub jobs: Vec<Job>,
    /// Charts, written as `<name><suffix>.png` (the first has no suffix).
    #[serde(skip)]
    pub charts: Vec<(String, Chart)>,
}

impl Report {
    /// The page: claim, verdict with its checks, tables, chart, setup and the command that regenerates it.
    pub fn to_markdown(&self) -> String {
        let name = self.experiment.name();
        let mut out = format!("# {}\n\n", self.title);
        out += &format!("**Claim** ({}): {}\n\n", self.source, self.claim);
        out += &format!("## Verdict: the claim {}\n\n", self.verdict.word());
        let (claim, observed): (Vec<&Check>, Vec<&Check>) = self.verdict.checks.iter().partition(|c| c.part_of_claim);
        for c in claim {
            out += &format!("- {}\n", c.line());
        }
        if !observed.is_empty() {
            out += "\nAlso observed (not part of the claim):\n\n";
            for c in observed {
                out += &format!("- {}\n", c.line());
            }
        }
        out += &format!("\nMeans ± sample standard deviation over {} seed(s).\n\n", self.setup.seeds.len());
        for t in &self.tables {
            out += &t.to_markdown();
            out += "\n";
        }
        for (suffix, chart) in &self.charts {
            out += &format!("![{}]({name}{suffix}.png)\n\n", chart.title);
        }
        out += &format!("## Setup\n\n{}.\n\n", self.setup_text);
        for n in &self.notes {
            out += &format!("- {n}\n");
        }
        out += &format!(
            "\nRan on the {} backend in {:.1} minutes. Regenerate with:\n\n```sh\n{}\n```\n\nEvery number is in \
             [{name}.json]({name}.json) (per-seed values and each job's configuration).\n",
            self.backend,
            self.wall_seconds / 60.0,
            self.command
        );
        out
    }

    /// Write `<name>.md`, `<name>.json` and the charts' PNGs into `dir`; returns the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let name = self.experiment.name();
        let mut files = vec![
            (dir.join(format!("{name}.md")), self.to_markdown().into_bytes()),
            (dir.join(format!("{name}.json")), serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?),
        ];
        for (suffix, chart) in &self.charts {
            files.push((dir.join(format!("{name}{suffix}.png")), chart.to_png()?));
        }
        for (path, bytes) in &files {
            std::fs::write(path, bytes).map_err(|e| format!("could not write {}: {e}", path.display()))?;
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

/// The index page of a `reproduce` run: each experiment with its claim and verdict, linked to its page.
pub fn index_markdown(
    setup: &Setup,
    backend: &str,
    entries: &[(Experiment, Result<Report, String>)],
    pending: &[Experiment],
) -> String {
    let names: Vec<&str> = entries.iter().map(|(e, _)| e.name()).chain(pending.iter().map(|e| e.name())).collect();
    let what = if names.len() == Experiment::ALL.len() { "all".to_string() } else { names.join(",") };
    let mut out = String::from("# ticketlab: the seed papers' claims at small scale\n\n");
    out += &format!(
        "Each experiment is a small version of a published claim, run over {} seed(s); its page has the table (mean ± \
         sample standard deviation), a chart, the setup and its JSON. Comparisons are paired (same seed, same data \
         order): a claim is **shown** when, for every comparison it makes, the seed-by-seed margin is positive in \
         the mean and larger than its standard deviation over at least 3 seeds; otherwise the page says \
         \"within noise\" (or \"reversed\"), with the numbers.\n\n",
        setup.seeds.len()
    );
    out += &format!("Setup: {}; {backend} backend.\n\n", setup.describe());
    out += "| # | experiment | claim | verdict | minutes |\n| --- | --- | --- | --- | --- |\n";
    // Experiments still to run get a row too, so the index written after each experiment is never mistaken for a
    // finished one.
    let rows = entries.iter().map(|(e, r)| (e, Some(r))).chain(pending.iter().map(|e| (e, None)));
    for (i, (e, result)) in rows.enumerate() {
        let (verdict, minutes) = match result {
            Some(Ok(r)) => (r.verdict.summary(), format!("{:.1}", r.wall_seconds / 60.0)),
            Some(Err(msg)) => (format!("**failed to run**: {msg}"), "–".into()),
            None => ("*not run yet*: the same command continues here".to_string(), "–".into()),
        };
        out += &format!(
            "| {} | [{}]({}.md) | {} | {} | {minutes} |\n",
            i + 1,
            e.title(),
            e.name(),
            e.claim(),
            verdict.replace('|', "\\|")
        );
    }
    let held = entries.iter().filter(|(_, r)| r.as_ref().is_ok_and(|r| r.verdict.held)).count();
    let not_run = if pending.is_empty() { String::new() } else { format!(" ({} not run yet)", pending.len()) };
    out += &format!(
        "\n{held} of {} claims shown beyond the seed noise{not_run}.\n\nRegenerate this page and every page it links with:\n\n```sh\n{} --out DIR\n```\n",
        names.len(),
        setup.command(&what)
    );
    out
}
