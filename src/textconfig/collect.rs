//! Merging run results into one table: runs grouped by the settings that vary, mean ± std over each group.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diff::leaf_text;
use super::{CODECS, KIND, TextConfigError, canonical_key, diff, lookup, to_json};
use crate::metrics::Stat;
use crate::results::{RESULT_FORMAT, RunResult};

/// One group of runs: those with the same values of the table's keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// One value per [`Table::keys`] entry, in text form (`–` where a run has no such setting).
    pub values: Vec<String>,
    /// The paths of the group's runs.
    pub runs: Vec<String>,
    /// Test accuracy in percent.
    pub accuracy: Stat,
    pub nll: Stat,
    pub ece: Stat,
    pub nonzeros: f64,
    pub compression: f64,
    /// Runs that stopped early (diverged): their metrics are in the means, so the table says how many there were.
    pub stopped_early: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub keys: Vec<String>,
    pub rows: Vec<Row>,
}

/// Groups runs by the values of `group_by` (aliases allowed); with no keys, by every key whose value varies across
/// the runs except `seed`, so repeated seeds of one setting make one row. Rows are sorted by their values,
/// numbers numerically.
pub fn collect(results: &[(String, RunResult)], group_by: &[String]) -> Result<Table, TextConfigError> {
    let configs: Vec<Value> = results.iter().map(|(_, result)| to_json(&result.config)).collect();
    let keys: Vec<String> = if group_by.is_empty() {
        let changed: BTreeSet<String> =
            results.iter().flat_map(|(_, result)| diff(&result.config)).map(|(key, _)| key).collect();
        changed
            .into_iter()
            .filter(|key| key != "seed")
            .filter(|key| configs.iter().any(|config| shown(config, key) != shown(&configs[0], key)))
            .collect()
    } else {
        group_by.iter().map(|key| canonical_key(key)).collect::<Result<_, _>>()?
    };
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let values: Vec<String> = keys.iter().map(|key| shown(config, key)).collect();
        match groups.iter_mut().find(|(v, _)| *v == values) {
            Some((_, members)) => members.push(i),
            None => groups.push((values, vec![i])),
        }
    }
    groups.sort_by(|(a, _), (b, _)| compare_values(a, b));
    let rows = groups
        .into_iter()
        .map(|(values, members)| {
            let of = |metric: fn(&RunResult) -> f64| members.iter().map(|&i| metric(&results[i].1)).collect::<Vec<_>>();
            let mean = |metric: fn(&RunResult) -> f64| Stat::of(&of(metric)).mean;
            Row {
                values,
                runs: members.iter().map(|&i| results[i].0.clone()).collect(),
                accuracy: Stat::of(&of(|r| 100.0 * r.test.accuracy)),
                nll: Stat::of(&of(|r| r.test.nll)),
                ece: Stat::of(&of(|r| r.test.ece)),
                nonzeros: mean(|r| r.accounting.nonzeros as f64),
                compression: mean(|r| r.accounting.compression),
                stopped_early: members.iter().filter(|&&i| results[i].1.stopped_early.is_some()).count(),
            }
        })
        .collect();
    Ok(Table { keys, rows })
}

/// A setting's value for display: its text form, or its kind for a tagged group.
fn shown(config: &Value, path: &str) -> String {
    let Some(value) = lookup(config, path) else { return "–".into() };
    let codec = CODECS.iter().find(|codec| codec.key == path);
    match (codec.and_then(|codec| (codec.show)(value)), value.get(KIND).and_then(Value::as_str)) {
        (Some(text), _) => text,
        (None, Some(kind)) => kind.to_string(),
        (None, None) => leaf_text(config, path, Some(value), value),
    }
}

fn compare_values(a: &[String], b: &[String]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x.parse::<f64>(), y.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => x.cmp(y),
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

impl Table {
    pub fn to_markdown(&self) -> String {
        let escape = |s: &str| s.replace('|', "\\|");
        let columns = ["n", "test accuracy (%)", "NLL", "ECE", "non-zeros", "compression", "stopped early"];
        let header: Vec<String> = self.keys.iter().map(|k| escape(k)).chain(columns.map(String::from)).collect();
        let align: Vec<&str> = self.keys.iter().map(|_| "---").chain(columns.map(|_| "---:")).collect();
        let mut out = format!("| {} |\n|{}|\n", header.join(" | "), align.join("|"));
        for row in &self.rows {
            let cells: Vec<String> = row
                .values
                .iter()
                .map(|v| escape(v))
                .chain([
                    row.runs.len().to_string(),
                    row.accuracy.show(2),
                    row.nll.show(4),
                    row.ece.show(4),
                    format!("{:.0}", row.nonzeros),
                    format!("{:.2}×", row.compression),
                    row.stopped_early.to_string(),
                ])
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
        };
        let columns = [
            "n",
            "accuracy_mean",
            "accuracy_std",
            "nll_mean",
            "nll_std",
            "ece_mean",
            "ece_std",
            "nonzeros_mean",
            "compression_mean",
            "stopped_early",
        ];
        let header: Vec<String> = self.keys.iter().map(|k| quote(k)).chain(columns.map(String::from)).collect();
        let mut out = header.join(",") + "\n";
        let std = |stat: &Stat| stat.std.map_or(String::new(), |s| s.to_string());
        for row in &self.rows {
            let cells: Vec<String> = row
                .values
                .iter()
                .map(|v| quote(v))
                .chain([
                    row.runs.len().to_string(),
                    row.accuracy.mean.to_string(),
                    std(&row.accuracy),
                    row.nll.mean.to_string(),
                    std(&row.nll),
                    row.ece.mean.to_string(),
                    std(&row.ece),
                    row.nonzeros.to_string(),
                    row.compression.to_string(),
                    row.stopped_early.to_string(),
                ])
                .collect();
            out += &(cells.join(",") + "\n");
        }
        out
    }
}

/// Reads run results from files and directories (searched recursively for `*.json`, in name order). A file that
/// cannot be read or is not a result of this format is skipped and reported as `path: reason`.
pub fn load_results<P: AsRef<Path>>(paths: &[P]) -> (Vec<(String, RunResult)>, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        gather(path.as_ref(), &mut files, &mut errors);
    }
    let mut results = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        match read_result(&file) {
            Ok(result) => results.push((name, result)),
            Err(why) => errors.push(format!("{name}: {why}")),
        }
    }
    (results, errors)
}

/// Files named directly are taken whatever their extension. Symbolic links to directories are not followed, so a
/// link cycle cannot trap the walk.
fn gather(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    if !path.is_dir() {
        files.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return errors.push(format!("{}: {e}", path.display())),
    };
    let mut children = Vec::new();
    for entry in entries {
        match entry.and_then(|entry| Ok((entry.path(), entry.file_type()?))) {
            Ok(child) => children.push(child),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    children.sort_by(|(a, _), (b, _)| a.cmp(b));
    for (child, kind) in children {
        if kind.is_dir() {
            gather(&child, files, errors);
        } else if child.extension().is_some_and(|ext| ext == "json") && child.is_file() {
            files.push(child);
        }
    }
}

fn read_result(file: &Path) -> Result<RunResult, String> {
    let bytes = crate::results::read_saved(file)?;
    let result: RunResult = serde_json::from_slice(&bytes).map_err(|e| format!("not a ticketlab run result ({e})"))?;
    if result.format != RESULT_FORMAT {
        return Err(format!("result format {} (this build reads {RESULT_FORMAT})", result.format));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Map;

    use super::*;
    use crate::accounting::Accounting;
    use crate::config::{DatasetSpec, TrainConfig};
    use crate::metrics::EvalMetrics;
    use crate::optim::OptimizerKind;

    /// A result with the given metrics. It is built through serde, and a field `collect` does not read (one added
    /// to `RunResult` later included) gets the first empty value of a fitting type.
    fn result(config: TrainConfig, accuracy: f64, nll: f64, ece: f64, nonzeros: usize) -> RunResult {
        let accounting = Accounting {
            layers: vec![],
            params: 1000,
            prunable_params: 900,
            nonzeros,
            compression: 1000.0 / nonzeros as f64,
            dense_flops: 1e6,
            sparse_flops: 1e5,
            theoretical_speedup: 10.0,
            train_flops: 3e5,
        };
        let mut json = serde_json::json!({
            "format": RESULT_FORMAT,
            "config": config,
            "test": EvalMetrics { n: 1000, accuracy, nll, ece, ..EvalMetrics::default() },
            "accounting": accounting,
        });
        let missing = |e: &serde_json::Error| {
            e.to_string().strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).map(String::from)
        };
        loop {
            let field = match RunResult::deserialize(&json) {
                Ok(result) => return result,
                Err(e) => missing(&e).unwrap_or_else(|| panic!("cannot build a RunResult: {e}")),
            };
            let empties =
                [Value::Null, 0.into(), Value::Array(vec![]), "".into(), false.into(), Value::Object(Map::new())];
            let fits = empties.into_iter().find(|empty| {
                json[&field] = empty.clone();
                RunResult::deserialize(&json).map_or_else(|e| missing(&e).is_some_and(|f| f != field), |_| true)
            });
            assert!(fits.is_some(), "no empty value fits RunResult's field {field}");
        }
    }

    fn runs() -> Vec<(String, RunResult)> {
        let config = |density, seed, epochs| TrainConfig { density, seed, epochs, ..TrainConfig::default() };
        vec![
            ("a.json".into(), result(config(0.1, 0, 10), 0.70, 1.0, 0.10, 200)),
            ("b.json".into(), result(config(0.2, 0, 10), 0.80, 0.5, 0.02, 300)),
            ("c.json".into(), result(config(0.1, 1, 9), 0.72, 1.2, 0.20, 200)),
            ("d.json".into(), result(config(0.1, 2, 10), 0.74, 1.4, 0.30, 250)),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn collect_groups_varying_keys_but_not_seeds() {
        let runs = runs();
        let table = collect(&runs[..], &[]).unwrap();
        assert_eq!(table.keys, ["density", "epochs"]);
        let values: Vec<&[String]> = table.rows.iter().map(|r| r.values.as_slice()).collect();
        assert_eq!(values, [["0.1", "9"], ["0.1", "10"], ["0.2", "10"]], "9 sorts before 10");

        let by_density = collect(&runs, &["density".into()]).unwrap();
        assert_eq!(by_density.rows.len(), 2);
        let row = &by_density.rows[0];
        assert_eq!(
            (row.values.as_slice(), row.runs.as_slice()),
            (&["0.1".to_string()][..], &["a.json".to_string(), "c.json".into(), "d.json".into()][..])
        );
        assert!(close(row.accuracy.mean, 72.0) && close(row.accuracy.std.unwrap(), 2.0), "{row:?}");
        assert!(close(row.nll.mean, 1.2) && close(row.nll.std.unwrap(), 0.2), "{row:?}");
        assert!(close(row.ece.mean, 0.2) && close(row.ece.std.unwrap(), 0.1), "{row:?}");
        assert!(close(row.nonzeros, 650.0 / 3.0), "{row:?}");
        assert!(close(row.compression, (5.0 + 5.0 + 4.0) / 3.0), "{row:?}");
        let single = &by_density.rows[1];
        assert_eq!((single.runs.len(), single.accuracy.std), (1, None));

        let markdown = by_density.to_markdown();
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), 4, "{markdown}");
        assert!(lines[0].starts_with("| density | n | test accuracy (%) |"), "{markdown}");
        assert_eq!(lines[2], "| 0.1 | 3 | 72.00 ± 2.00 | 1.2000 ± 0.2000 | 0.2000 ± 0.1000 | 217 | 4.67× | 0 |");
        assert_eq!(lines[3], "| 0.2 | 1 | 80.00 | 0.5000 | 0.0200 | 300 | 3.33× | 0 |");
        let csv = by_density.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "density,n,accuracy_mean,accuracy_std,nll_mean,nll_std,ece_mean,ece_std,nonzeros_mean,compression_mean,stopped_early"
        );
        assert!(lines[2].starts_with("0.2,1,80,,0.5,,0.02,,300,"), "{csv}");

        // Aliases work, unknown keys do not, and one group of everything is allowed.
        assert_eq!(collect(&runs, &["wd".into()]).unwrap().keys, ["weight_decay"]);
        assert!(collect(&runs, &["nope".into()]).is_err());
        assert_eq!(collect(&runs[..1], &[]).unwrap().rows.len(), 1);
        assert!(collect(&[], &[]).unwrap().rows.is_empty());
    }

    #[test]
    fn collect_shows_kinds_and_quotes_csv() {
        let adam = TrainConfig { optimizer: OptimizerKind::adam(), ..TrainConfig::default() };
        let cifar = TrainConfig { dataset: DatasetSpec::Cifar10 { path: "/a,b|c".into() }, ..TrainConfig::default() };
        let runs = [
            ("a".to_string(), result(TrainConfig::default(), 0.5, 1.0, 0.1, 100)),
            ("b".to_string(), result(adam, 0.5, 1.0, 0.1, 100)),
            ("c".to_string(), result(cifar, 0.5, 1.0, 0.1, 100)),
        ];
        let table = collect(&runs, &[]).unwrap();
        assert_eq!(table.keys, ["dataset", "optimizer"]);
        let values: Vec<Vec<&str>> = table.rows.iter().map(|r| r.values.iter().map(String::as_str).collect()).collect();
        assert_eq!(
            values,
            [vec!["cifar10:/a,b|c", "sgd"], vec!["synthetic:5000:1000", "adam"], vec!["synthetic:5000:1000", "sgd"]]
        );
        assert!(table.to_csv().contains("\n\"cifar10:/a,b|c\",sgd,1,"), "{}", table.to_csv());
        assert!(table.to_markdown().contains("| cifar10:/a,b\\|c | sgd |"), "{}", table.to_markdown());
    }

    #[test]
    fn load_results_reads_directories_and_reports_bad_files() {
        let dir = std::env::temp_dir().join(format!("ticketlab-textconfig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        let run = result(TrainConfig { seed: 3, ..TrainConfig::default() }, 0.6, 1.0, 0.1, 100);
        std::fs::write(dir.join("run-0001.json"), serde_json::to_string(&run).unwrap()).unwrap();
        std::fs::write(dir.join("nested/run-0002.json"), serde_json::to_string_pretty(&run).unwrap()).unwrap();
        std::fs::write(dir.join("masks.json"), r#"{"layers": []}"#).unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        std::fs::write(dir.join("notes.txt"), "not json, not looked at").unwrap();
        let mut future = serde_json::to_value(&run).unwrap();
        future["format"] = 99.into();
        std::fs::write(dir.join("future.json"), future.to_string()).unwrap();

        let missing = dir.join("missing.json");
        let (results, errors) = load_results(&[dir.clone(), missing]);
        let names: Vec<&str> = results.iter().map(|(p, _)| p.strip_prefix(dir.to_str().unwrap()).unwrap()).collect();
        assert_eq!(names, ["/nested/run-0002.json", "/run-0001.json"], "name order, depth first");
        assert_eq!(results[1].1.config.seed, 3);
        assert_eq!(errors.len(), 4, "{errors:#?}");
        for (needle, why) in [
            ("broken.json", "not a ticketlab run result"),
            ("future.json", "format 99"),
            ("masks.json", "missing field"),
            ("missing.json", ""),
        ] {
            assert!(errors.iter().any(|e| e.contains(needle) && e.contains(why)), "{needle}: {errors:#?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
