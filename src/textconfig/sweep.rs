//! Sweeps: a grid of settings expanded into jobs, and the shards of a job array.

use super::{TextConfigError, canonical_key, set_all, split_assignment};
use crate::config::TrainConfig;

/// The most jobs one grid may expand to: a typo such as `seed=0,...,99999` should fail, not fill the memory.
const MAX_JOBS: usize = 100_000;

/// A sweep: a base configuration and, per axis, the values to try; every combination is one job.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub base: TrainConfig,
    /// `(key, values)`, keys in canonical form.
    pub axes: Vec<(String, Vec<String>)>,
}

/// One run of a sweep. `index` is its place in the whole grid, so names stay the same across shards.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub index: usize,
    /// The job's axis values, e.g. `density=0.1,seed=2`.
    pub name: String,
    pub config: TrainConfig,
}

/// A grid from `KEY=V1,V2,...` specs, one per axis. Values that contain commas (`step:0.3,0.6:0.1`) are separated
/// by `;` instead: a spec with a `;` is split on `;` only.
pub fn parse_grid(base: &TrainConfig, specs: &[String]) -> Result<Grid, TextConfigError> {
    let mut axes: Vec<(String, Vec<String>)> = Vec::with_capacity(specs.len());
    for spec in specs {
        let (key, list) = split_assignment(spec)?;
        let key = canonical_key(key)?;
        let bad = |why: &str| TextConfigError::BadGrid(format!("'{spec}': {why}"));
        if axes.iter().any(|(k, _)| *k == key) {
            return Err(bad(&format!("{key} is already an axis")));
        }
        let separator = if list.contains(';') { ';' } else { ',' };
        let values: Vec<String> = list.split(separator).map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(bad("empty value"));
        }
        if let Some(v) = values.iter().enumerate().find_map(|(i, v)| values[..i].contains(v).then_some(v)) {
            return Err(bad(&format!("'{v}' is listed twice")));
        }
        axes.push((key, values));
    }
    Ok(Grid { base: base.clone(), axes })
}

impl Grid {
    /// Every combination, first axis slowest, each validated: an invalid one is an error naming the job.
    pub fn expand(&self) -> Result<Vec<Job>, TextConfigError> {
        let count = self
            .axes
            .iter()
            .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
            .filter(|&n| n <= MAX_JOBS)
            .ok_or_else(|| TextConfigError::BadGrid(format!("more than {MAX_JOBS} jobs")))?;
        (0..count)
            .map(|index| {
                // Mixed-radix digits of the index, the last axis fastest.
                let mut rest = index;
                let mut picks: Vec<(&str, &str)> = Vec::with_capacity(self.axes.len());
                for (key, values) in self.axes.iter().rev() {
                    picks.push((key.as_str(), values[rest % values.len()].as_str()));
                    rest /= values.len();
                }
                picks.reverse();
                let name = picks.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(",");
                match set_all(&self.base, &picks) {
                    Ok(config) => Ok(Job { index, name, config }),
                    Err(e) => Err(TextConfigError::BadJob { index, name, source: Box::new(e) }),
                }
            })
            .collect()
    }
}

/// The jobs of shard `I/N` (1-based `I`): those whose index is `I-1` modulo `N`, so shards are disjoint, cover
/// every job, and differ in size by at most one.
pub fn shard(jobs: &[Job], spec: &str) -> Result<Vec<Job>, TextConfigError> {
    let bad = |reason: String| TextConfigError::BadShard { spec: spec.to_string(), reason };
    let (i, n) = spec.trim().split_once('/').ok_or_else(|| bad("no '/'".into()))?;
    let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad(format!("'{s}' is not a whole number")));
    let (i, n) = (number(i)?, number(n)?);
    if n == 0 {
        return Err(bad("N must be at least 1".into()));
    }
    if !(1..=n).contains(&i) {
        return Err(bad(format!("I must be in 1..={n}")));
    }
    Ok(jobs.iter().filter(|job| job.index % n == i - 1).cloned().collect())
}

/// The result file of a job, e.g. `run-0007-density=0.1_seed=2.json`: sorted by index, readable, and safe in any
/// shell or file system (anything but letters, digits and `.=-` becomes `_`; long names are cut).
pub fn job_file_name(index: usize, name: &str) -> String {
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || ".=-".contains(c) { c } else { '_' }).take(80).collect();
    if slug.is_empty() { format!("run-{index:04}.json") } else { format!("run-{index:04}-{slug}.json") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::LrSchedule;

    fn grid(specs: &[&str]) -> Result<Grid, TextConfigError> {
        parse_grid(&TrainConfig::default(), &specs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn grids_expand_in_order_first_axis_slowest() {
        let jobs =
            grid(&["density=0.1,0.2", "seed=0, 1, 2", "schedule=step:0.3,0.6:0.1;cosine"]).unwrap().expand().unwrap();
        assert_eq!(jobs.len(), 12);
        assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
        assert_eq!(jobs[0].name, "density=0.1,seed=0,schedule=step:0.3,0.6:0.1");
        assert_eq!(jobs[1].name, "density=0.1,seed=0,schedule=cosine");
        assert_eq!(jobs[2].name, "density=0.1,seed=1,schedule=step:0.3,0.6:0.1");
        assert_eq!(jobs[11].name, "density=0.2,seed=2,schedule=cosine");
        assert_eq!((jobs[7].config.density, jobs[7].config.seed), (0.2, 0));
        assert_eq!(jobs[7].config.schedule, LrSchedule::Cosine { final_frac: 0.0 });
        assert_eq!(grid(&["wd=0.1"]).unwrap().axes, vec![("weight_decay".to_string(), vec!["0.1".to_string()])]);
        let single = grid(&[]).unwrap().expand().unwrap();
        assert_eq!(single, vec![Job { index: 0, name: String::new(), config: TrainConfig::default() }]);
    }

    #[test]
    fn bad_grids_are_refused() {
        let err = grid(&["density=0.1,2", "seed=0,1"]).unwrap().expand().unwrap_err();
        assert!(matches!(&err, TextConfigError::BadJob { index: 2, name, .. } if name == "density=2,seed=0"), "{err}");
        assert!(err.to_string().contains("density 2 is out of range"), "{err}");
        for (specs, needle) in [
            (&["density"][..], "not KEY=VALUE"),
            (&["dens=0.1"], "unknown key 'dens'"),
            (&["density=0.1,,0.2"], "empty value"),
            (&["density="], "empty value"),
            (&["density=0.1,0.1"], "listed twice"),
            (&["seed=1", "seed=2"], "already an axis"),
        ] {
            let err = grid(specs).unwrap_err().to_string();
            assert!(err.contains(needle), "{specs:?}: {err:?} lacks {needle:?}");
        }
        let huge: Vec<String> =
            (0..4).map(|_| format!("seed={}", (0..100).map(|i| i.to_string()).collect::<Vec<_>>().join(","))).collect();
        let huge = Grid {
            base: TrainConfig::default(),
            axes: huge
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("k{i}"), s.split(',').map(String::from).collect()))
                .collect(),
        };
        assert!(huge.expand().unwrap_err().to_string().contains("more than"));
        // A hand-built grid with an empty axis has no jobs rather than a panic.
        let empty = Grid { base: TrainConfig::default(), axes: vec![("seed".into(), vec![])] };
        assert_eq!(empty.expand().unwrap(), vec![]);
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_job() {
        let jobs = grid(&["density=0.05,0.1,0.2,0.5", "seed=0,1,2"]).unwrap().expand().unwrap();
        for n in 1..=14 {
            let mut seen = vec![0; jobs.len()];
            for i in 1..=n {
                let part = shard(&jobs, &format!("{i}/{n}")).unwrap();
                assert!(part.len() == jobs.len() / n || part.len() == jobs.len().div_ceil(n));
                for job in part {
                    assert_eq!(job, jobs[job.index], "a job keeps its global index");
                    seen[job.index] += 1;
                }
            }
            assert!(seen.iter().all(|&count| count == 1), "{n} shards: {seen:?}");
        }
        assert_eq!(shard(&jobs, " 2/5 ").unwrap().iter().map(|j| j.index).collect::<Vec<_>>(), [1, 6, 11]);
        for spec in ["0/3", "4/3", "x", "1/0", "1/", "/3", "-1/3", "1/3/5", ""] {
            assert!(matches!(shard(&jobs, spec), Err(TextConfigError::BadShard { .. })), "{spec}");
        }
    }

    #[test]
    fn job_file_names_sort_and_are_safe() {
        assert_eq!(job_file_name(7, ""), "run-0007.json");
        assert_eq!(job_file_name(7, "density=0.1,seed=2"), "run-0007-density=0.1_seed=2.json");
        assert_eq!(job_file_name(12345, "dataset=cifar10:/a b/é"), "run-12345-dataset=cifar10__a_b__.json");
        assert!(job_file_name(1, &"x".repeat(500)).len() < 100);
    }
}
