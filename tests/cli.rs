//! The command line as a user meets it: help, a tiny run with a JSON result, and clear errors on bad input.

use std::process::Command;

fn ticketlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketlab")).args(args).output().expect("run ticketlab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bad_arguments_fail_with_a_message_naming_the_problem() {
    for (args, needle) in [
        (vec!["train", "--density", "1.5"], "density"),
        // A negative number is a value, not a flag: the range check names it ("unexpected argument '-0'" did not).
        (vec!["train", "--lr", "-0.1"], "learning rate -0.1 is out of range"),
        (vec!["info", "--width", "-2"], "width -2 is out of range"),
        (vec!["train", "--model", "conv5"], "conv5"),
        (vec!["train", "--dataset", "cifar10"], "path is missing"),
        (vec!["train", "--dataset", "cifar10:/nonexistent/dir"], "no CIFAR-10 data at /nonexistent/dir: no such file"),
        (vec!["train", "--schedule", "step:0.8,0.3:0.1"], "0.8"),
        (vec!["train", "--batch-size", "0"], "batch size"),
        (vec!["bench", "--quick", "--backend", "cpu", "--width", "1000"], "width 1000"),
        // A batch of 1 gave a synthetic set too small for every model; a million updates never finished.
        (vec!["bench", "--quick", "--backend", "cpu", "--batch-size", "1"], "batch size must be 2"),
        (vec!["bench", "--quick", "--backend", "cpu", "--updates", "1000000"], "updates must be"),
        (vec!["train", "--dataset", "synthetic:20:10", "--val-fraction", "0.01", "--steps", "1"], "holds out no image"),
        (vec!["ensemble", "--kind", "soup", "--dataset", "synthetic:10:10", "--steps", "1"], "holds out no image"),
        (vec!["train", "--backend", "tpu"], "tpu"),
        (vec!["train", "--optimizer", "lion"], "lion"),
        (vec!["info", "--classes", "0"], "classes"),
        (vec!["train", "--method", "magic"], "magic"),
        (vec!["train", "--rewind", "step:x"], "step"),
        (vec!["train", "--method", "imp", "--density", "0.000001"], "rounds"),
        (vec!["train", "--instability-from", "100000", "--steps", "5"], "100000"),
        (vec!["train", "--instability-from", "2", "--steps", "5", "--method", "rigl"], "fixed mask"),
        (vec!["sweep", "--grid", "densty=0.1"], "densty"),
        (vec!["sweep", "--grid", "density=0.1,2"], "density"),
        (vec!["sweep", "--grid", "seed=1", "--shard", "0/3"], "0/3"),
        (vec!["collect", "/nonexistent/results"], "no run results"),
        (vec!["train", "--link", "v=9&seed=1"], "version"),
        (vec!["train", "--link", "v=1&density=2"], "density"),
        (vec!["train", "--link", "v=3&ensemble.kind=edst"], "ticketlab ensemble --link"),
        (vec!["ensemble"], "--kind is required"),
        (vec!["ensemble", "--link", "v=3&seed=1"], "name an ensemble with --kind"),
        (vec!["ensemble", "--link", "v=3&ensemble.kind=edst", "--kind", "soup"], "kind edst"),
        (vec!["preset", "tickets"], "lottery-ticket"),
        (vec!["preset", "dst", "--seeds", "0,0"], "twice"),
        (vec!["train", "--test-from-train", "0.9"], "moved to the test set"),
        (vec!["reproduce", "dst", "--test-from-train", "0.75"], "moved to the test set"),
        (vec!["reproduce", "dst", "--jobs", "0"], "jobs 0"),
        // Issue 14: the JSON form of `dataset` skipped the size check and the run aborted allocating 307 GB.
        (
            vec![
                "train",
                "--link",
                "ticketlab://run?v=1&dataset=%7B%22kind%22%3A%22synthetic%22%2C%22train%22%3A100000000%2C%22test%22%3A10%7D",
                "--steps",
                "1",
            ],
            "sizes must be",
        ),
    ] {
        let (code, _, stderr) = ticketlab(&args);
        assert_eq!(code, 2, "{args:?} should fail as invalid arguments do:\n{stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr does not mention '{needle}':\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    }
}

/// Without a Vulkan driver, wgpu would fall back to OpenGL, where burn's kernels fail validation at every step; the
/// command refuses it up front instead. (Linux: hiding every Vulkan driver leaves at most OpenGL.)
#[cfg(target_os = "linux")]
#[test]
fn wgpu_without_vulkan_is_refused_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketlab"))
        .args(["train", "--backend", "wgpu", "--dataset", "synthetic:64:32", "--epochs", "1"])
        .env("VK_ICD_FILENAMES", "/nonexistent")
        .env("VK_DRIVER_FILES", "/nonexistent")
        .output()
        .expect("run ticketlab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no Vulkan, Metal or DX12 adapter") && stderr.contains("--backend cpu"), "{stderr}");
}

#[test]
fn preset_without_a_name_lists_every_preset_with_its_claim() {
    let (code, stdout, _) = ticketlab(&["preset"]);
    assert_eq!(code, 0);
    for p in ticketlab::presets::PRESETS {
        assert!(stdout.contains(p.key) && stdout.contains(p.claim), "{} missing:\n{stdout}", p.key);
    }
}

#[test]
fn info_prints_layers_and_flops() {
    let (code, stdout, _) = ticketlab(&["info", "--model", "conv4", "--density", "0.1"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("fc1.weight") && stdout.contains("256×8192"), "{stdout}");
    assert!(stdout.contains("compression"), "{stdout}");
}

#[test]
fn a_tiny_run_writes_its_result_masks_and_predictions() {
    let file = |suffix: &str| std::env::temp_dir().join(format!("ticketlab-cli-{}{suffix}", std::process::id()));
    let (out, masks_file, predictions) = (file(".json"), file("-masks.json"), file("-predictions.csv"));
    let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let args = format!(
        "train --dataset synthetic:256:64 --model conv2 --width 0.25 --steps 8 --batch-size 32 --density 0.2 \
         --out {} --masks {} --predictions {}",
        path(&out),
        path(&masks_file),
        path(&predictions)
    );
    let (code, stdout, stderr) = ticketlab(&args.split_whitespace().collect::<Vec<_>>());
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["steps"], 8);
    assert_eq!(json["config"]["model"], "conv2");
    assert!(json["test"]["accuracy"].as_f64().is_some());
    assert!(json["accounting"]["nonzeros"].as_u64().unwrap() < json["accounting"]["params"].as_u64().unwrap());

    let masks: ticketlab::mask::Masks = serde_json::from_str(&std::fs::read_to_string(&masks_file).unwrap()).unwrap();
    let layers = json["accounting"]["layers"].as_array().unwrap();
    assert_eq!(masks.active() as u64, layers.iter().map(|l| l["nonzeros"].as_u64().unwrap()).sum::<u64>());

    let csv = std::fs::read_to_string(&predictions).unwrap();
    assert_eq!(csv.lines().count(), 65, "a header and 64 test images");
    assert!(csv.starts_with("index,label,predicted,p_disc,"), "{}", csv.lines().next().unwrap());
    for f in [out, masks_file, predictions] {
        std::fs::remove_file(f).ok();
    }
}

#[test]
fn a_sweep_runs_its_shard_and_collect_merges_it() {
    let dir = std::env::temp_dir().join(format!("ticketlab-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let common =
        ["--set", "dataset=synthetic:200:100", "--set", "model=conv2", "--set", "width=0.25", "--set", "steps=3"];
    let mut args = vec!["sweep", "--grid", "density=0.2,0.5", "--grid", "seed=0,1", "--shard", "1/2", "--out", out];
    args.extend(common);
    let (code, _, stderr) = ticketlab(&args);
    assert_eq!(code, 0, "{stderr}");
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(
        files,
        ["run-0000-density=0.2_seed=0.json", "run-0002-density=0.5_seed=0.json"],
        "shard 1 of 2 is jobs 0 and 2"
    );
    let (code, stdout, stderr) = ticketlab(&["collect", out]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("| density |") && stdout.contains("| 0.2 |") && stdout.contains("| 0.5 |"), "{stdout}");
    // A file too large to be a result is skipped with a message before it is read (a sparse file: no disk used).
    std::fs::File::create(dir.join("huge.json")).unwrap().set_len(2 << 30).unwrap();
    let (code, stdout, stderr) = ticketlab(&["collect", out]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("| 0.2 |") && stderr.contains("huge.json: 2048 MiB is more than the 1024 MiB"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ensemble's link runs the ensemble it describes, with the settings it was written with: a version 2 link
/// predates EDST's longer run, so its EDST lasts the configuration's steps.
#[test]
fn an_ensemble_link_keeps_its_ensemble_settings() {
    let out = std::env::temp_dir().join(format!("ticketlab-cli-edst-{}.json", std::process::id()));
    let link =
        "v=2&ensemble.kind=edst&model=conv2&width=0.25&dataset=synthetic:256:64&steps=12&batch_size=32&density=0.2";
    let (code, stdout, stderr) = ticketlab(&["ensemble", "--link", link, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(json["config"]["ensemble"]["edst_length"], 1.0);
    let phases = json["extras"]["phases"].as_array().expect("EDST phases");
    assert_eq!(phases.last().unwrap()["end_step"], 12, "{stdout}");
}
