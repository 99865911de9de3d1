//! `ticketlab reproduce`: experiment names, the job lists each experiment expands to, and one tiny experiment end to
//! end. The verdict logic has its unit tests beside it (`src/reproduce/verdict.rs`).

use std::collections::BTreeSet;
use std::process::Command;

use ticketlab::config::DatasetSpec;
use ticketlab::model::Arch;
use ticketlab::reproduce::{
    Experiment, Runner, Setup, Task, index_markdown, parse_seeds, parse_selection, run_experiment, with_label_noise,
};
use ticketlab::sparsity::Method;

/// synthetic 256/128, conv2 ×0.25, the given seeds, the shortest runs.
fn tiny(seeds: Vec<u64>) -> Setup {
    Setup::new(DatasetSpec::Synthetic { train: 256, test: 128 }, 256, Arch::Conv2, Some(0.25), seeds, 0.1).unwrap()
}

#[test]
fn experiment_names_parse_and_unknown_names_list_the_valid_ones() {
    for e in Experiment::ALL {
        assert_eq!(e.name().parse::<Experiment>().unwrap(), e);
        assert_eq!(e.to_string(), e.name());
    }
    assert_eq!("double_descent".parse::<Experiment>().unwrap(), Experiment::DoubleDescent);
    assert_eq!(parse_selection("all").unwrap(), Experiment::ALL.to_vec());
    assert_eq!(
        parse_selection("soups, dst,soups").unwrap(),
        vec![Experiment::Soups, Experiment::Dst],
        "a list keeps its order and drops repeats"
    );
    let err = parse_selection("rigl").unwrap_err();
    assert!(err.contains("'rigl'"), "{err}");
    for e in Experiment::ALL {
        assert!(err.contains(e.name()), "the error lists {}: {err}", e.name());
    }
    assert_eq!(parse_seeds("0, 1,7").unwrap(), vec![0, 1, 7]);
    assert!(parse_seeds("0,x").unwrap_err().contains("'x'"));
    assert!(parse_seeds("1,1").unwrap_err().contains("twice"));
    assert!(Setup::new(DatasetSpec::SYNTHETIC_DEFAULT, 5000, Arch::Conv4, None, vec![0], 0.0).is_err());
    assert!(Setup::new(DatasetSpec::SYNTHETIC_DEFAULT, 5000, Arch::Conv4, Some(9.0), vec![0], 1.0).is_err());
    assert!(Setup::new(DatasetSpec::SYNTHETIC_DEFAULT, 5000, Arch::Conv4, None, vec![], 1.0).is_err());
}

#[test]
fn every_experiment_expands_to_valid_jobs() {
    let default =
        Setup::new(DatasetSpec::Synthetic { train: 3000, test: 1000 }, 3000, Arch::Vgg11, None, vec![0, 1], 1.0)
            .unwrap();
    let long = Setup { scale: 3.0, ..default.clone() };
    // The largest scale allowed: IMP's rounds stop growing at the most a run may have.
    let longest = Setup { scale: 100.0, ..default.clone() };
    for setup in [tiny(vec![0, 1]), default.clone(), long, longest] {
        // RigL's schedule with ΔT scaled to the run: at least 8 updates.
        let dst = setup.dst();
        assert!(dst.end_step(setup.steps()) / dst.update_every >= 8, "{dst:?} over {} steps", setup.steps());
        for e in Experiment::ALL {
            let jobs = e.jobs(&setup);
            assert!(!jobs.is_empty(), "{e}");
            for job in &jobs {
                job.validate().unwrap_or_else(|m| panic!("{e}: {m}"));
                assert_eq!(job.config.seed, job.seed, "{e}: {}", job.label);
                assert_eq!(job.config.steps, Some(setup.steps()), "{e}: {}", job.label);
                assert_eq!(job.config.model, setup.model);
            }
            // The same labelled jobs for every seed, in the same order.
            let per_seed: Vec<Vec<&str>> = setup
                .seeds
                .iter()
                .map(|&s| jobs.iter().filter(|j| j.seed == s).map(|j| j.label.as_str()).collect())
                .collect();
            assert!(per_seed.windows(2).all(|w| w[0] == w[1]), "{e}: {per_seed:?}");
            assert_eq!(per_seed[0].iter().collect::<BTreeSet<_>>().len(), per_seed[0].len(), "{e}: labels are unique");
        }
    }
    // Jobs several experiments compare against are the same job (trained once by `reproduce all`): the dense
    // network of DST, FreeTickets and robustness, and the DST Ensemble of FreeTickets and robustness.
    let content = |e: Experiment, label: &str| {
        let job = e.jobs(&default).into_iter().find(|j| j.label == label && j.seed == 1).unwrap();
        serde_json::to_string(&(job.config, job.task, job.label_noise)).unwrap()
    };
    let dense = content(Experiment::Robustness, "dense");
    assert_eq!(content(Experiment::Dst, "dense"), dense);
    assert_eq!(content(Experiment::Freetickets, "dense"), dense);
    assert_eq!(content(Experiment::Freetickets, "DST Ensemble"), content(Experiment::Robustness, "DST Ensemble"));
    assert_eq!(content(Experiment::Dst, "static 95%"), content(Experiment::PruneAtInit, "random, ERK"));
    // A few specifics of the claims.
    let jobs = Experiment::Dst.jobs(&default);
    assert_eq!(jobs.len(), 2 * 10, "dense + 3 sparsities × 3 methods, per seed");
    assert!(jobs.iter().any(|j| j.config.method == Method::Rigl && (j.config.density - 0.05).abs() < 1e-12));
    let tickets = Experiment::Tickets.jobs(&default);
    let imp = &tickets[0].config;
    assert_eq!(imp.method, Method::Imp);
    assert!(imp.imp.controls);
    let rounds = imp.imp.round_densities(imp.density).unwrap();
    assert_eq!(rounds.len(), 3);
    assert!((rounds[2] - imp.density).abs() < 1e-12);
    assert!(imp.imp.rewind_step > 0, "the ticket with controls rewinds to step k");
    assert!(tickets[1].config.imp.rewind_step == 0 && !tickets[1].config.imp.controls, "rewinding to init: observed");
    assert!(Experiment::DoubleDescent.jobs(&default).iter().all(|j| j.label_noise > 0.0 && j.config.density <= 0.011));
    let ks: Vec<usize> = Experiment::Instability
        .jobs(&default)
        .iter()
        .filter(|j| j.seed == 0)
        .map(|j| match j.task {
            Task::Instability { from_step } => from_step,
            _ => panic!("instability jobs only"),
        })
        .collect();
    assert_eq!(ks[0], 0);
    assert!(ks.windows(2).all(|w| w[0] < w[1]) && ks.len() == 4, "{ks:?}");
}

#[test]
fn label_noise_changes_the_share_asked_for_and_never_keeps_the_label() {
    let data = ticketlab::data::synthetic(3, 500, 10);
    let noisy = with_label_noise(&data.train, 0.2, 7);
    let changed = data.train.labels.iter().zip(&noisy.labels).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 100);
    assert!(noisy.labels.iter().all(|&l| (l as usize) < noisy.num_classes));
    assert_eq!(noisy.images, data.train.images);
    assert_eq!(with_label_noise(&data.train, 0.2, 7).labels, noisy.labels, "seeded");
}

#[test]
fn a_tiny_experiment_writes_its_page_json_and_chart() {
    let setup = tiny(vec![0]);
    let data = ticketlab::data::synthetic(0, 256, 128);
    let device = ticketlab::backend::device(ticketlab::backend::BackendKind::Cpu).unwrap();
    let dir = std::env::temp_dir().join(format!("ticketlab-reproduce-{}", std::process::id()));
    let cache = dir.join("cache");
    let runner = Runner { device, backend: "cpu".into(), parallel: 1, verbose: false, cache: Some(cache.clone()) };
    let report = run_experiment(Experiment::PruneAtInit, &setup, &data, &runner).unwrap();
    // Run again: every job is read back from the cache (an interrupted page continues), with the same numbers.
    let cached_files = std::fs::read_dir(cache.join("prune-at-init")).unwrap().count();
    assert_eq!(cached_files, 8, "one cached result per job");
    let again = run_experiment(Experiment::PruneAtInit, &setup, &data, &runner).unwrap();
    assert_eq!(serde_json::to_string(&again.tables).unwrap(), serde_json::to_string(&report.tables).unwrap());
    assert_eq!(serde_json::to_string(&again.verdict).unwrap(), serde_json::to_string(&report.verdict).unwrap());
    // Three jobs at a time, without the cache: every job is seeded on its own, so the page is the same.
    let side_by_side = Runner { parallel: 3, cache: None, ..runner.clone() };
    let parallel = run_experiment(Experiment::PruneAtInit, &setup, &data, &side_by_side).unwrap();
    assert_eq!(serde_json::to_string(&parallel.tables).unwrap(), serde_json::to_string(&report.tables).unwrap());
    assert_eq!(serde_json::to_string(&parallel.verdict).unwrap(), serde_json::to_string(&report.verdict).unwrap());
    // To the bit (serde_json's `float_roundtrip`): a resumed page is the page an uninterrupted run writes.
    let (t0, t1) = (report.wall_seconds, again.wall_seconds);
    assert_eq!(t1.to_bits(), t0.to_bits(), "the cached jobs' own times are reported: {t1} vs {t0}");
    assert_eq!(report.jobs.len(), 8, "3 methods, uniform and ERK random, 3 shuffled controls");
    assert_eq!(
        report.verdict.checks.iter().filter(|c| c.part_of_claim).count(),
        3,
        "SNIP, GraSP, SynFlow vs uniform random"
    );
    assert!(report.jobs.iter().any(|j| j.task == Task::ShuffledMask));
    // DST's fixed random mask at 95% is pruning at initialisation's random ERK mask: read from its cache, not run.
    let dst = run_experiment(Experiment::Dst, &setup, &data, &runner).unwrap();
    let dst_files: Vec<String> = std::fs::read_dir(cache.join("dst"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dst_files.len(), dst.jobs.len() - 1, "{dst_files:?}");
    assert!(!dst_files.iter().any(|f| f.starts_with("static-95--seed0-")), "{dst_files:?}");

    std::fs::create_dir_all(&dir).unwrap();
    let files = report.write(&dir).unwrap();
    assert_eq!(files.len(), 3);
    let md = std::fs::read_to_string(dir.join("prune-at-init.md")).unwrap();
    assert!(md.contains(&format!("the claim {}", report.verdict.word())), "{md}");
    assert!(md.contains("| SNIP |") && md.contains("| random, uniform (the papers' baseline) |"), "{md}");
    assert!(md.contains("(prune-at-init.png)") && md.contains("shuffled within layers"), "{md}");
    assert!(md.contains("ticketlab reproduce prune-at-init"), "the page says how to regenerate it");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("prune-at-init.json")).unwrap()).unwrap();
    assert_eq!(json["experiment"], "prune-at-init");
    assert_eq!(json["verdict"]["held"], report.verdict.held);
    assert_eq!(json["jobs"].as_array().unwrap().len(), 8);
    let acc = &json["tables"][0]["rows"][0][1];
    assert!(acc["mean"].as_f64().is_some() && acc["values"].as_array().unwrap().len() == 1, "{acc}");
    // The second table: every mask's share of each layer; weighted by the layers' sizes, each keeps the budget.
    let densities = &json["tables"][1];
    assert_eq!(densities["columns"][2], "SNIP");
    let rows = densities["rows"].as_array().unwrap();
    let weights: Vec<f64> = rows.iter().map(|r| r[1].as_str().unwrap().parse().unwrap()).collect();
    for column in 2..densities["columns"].as_array().unwrap().len() {
        let kept: f64 = rows.iter().zip(&weights).map(|(r, w)| r[column]["mean"].as_f64().unwrap() / 100.0 * w).sum();
        let share = kept / weights.iter().sum::<f64>();
        assert!((share - 0.05).abs() < 1e-3, "{}: {share}", densities["columns"][column]);
    }
    let png = std::fs::read(dir.join("prune-at-init.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let index = index_markdown(
        &setup,
        "cpu",
        &[(Experiment::PruneAtInit, Ok(report)), (Experiment::Dst, Err("it broke".into()))],
        &[Experiment::Soups],
    );
    assert!(index.contains("(prune-at-init.md)") && index.contains("failed to run**: it broke"), "{index}");
    assert!(index.contains("(soups.md)") && index.contains("*not run yet*"), "{index}");
    assert!(index.contains("of 3 claims shown beyond the seed noise (1 not run yet)"), "{index}");
    assert!(index.contains("ticketlab reproduce prune-at-init,dst,soups"), "{index}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_exits_with_status_2_and_a_message() {
    for (args, needle) in [
        (vec!["reproduce", "lottery"], "double-descent"),
        (vec!["reproduce", "dst", "--seeds", "0,a"], "'a'"),
        (vec!["reproduce", "dst", "--scale", "0"], "scale"),
        (vec!["reproduce", "dst", "--width", "9"], "width"),
        (vec!["reproduce", "dst", "--dataset", "cifar10:/nonexistent/dir"], "/nonexistent/dir"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ticketlab")).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr does not mention '{needle}': {stderr}");
    }
}
