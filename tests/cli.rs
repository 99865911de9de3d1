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
        (vec!["train", "--model", "conv5"], "conv5"),
        (vec!["train", "--dataset", "cifar10"], "path is missing"),
        (vec!["train", "--dataset", "cifar10:/nonexistent/dir"], "/nonexistent/dir"),
        (vec!["train", "--schedule", "step:0.8,0.3:0.1"], "0.8"),
        (vec!["train", "--batch-size", "0"], "batch size"),
        (vec!["train", "--backend", "tpu"], "tpu"),
        (vec!["train", "--optimizer", "lion"], "lion"),
        (vec!["info", "--classes", "0"], "classes"),
    ] {
        let (code, _, stderr) = ticketlab(&args);
        assert_ne!(code, 0, "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: stderr does not mention '{needle}':\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
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
