//! The app in a real browser: serves the built site (`dist/`, from `trunk build`) on 127.0.0.1 and runs
//! `tests/browser/e2e.mjs` in headless Chromium with WebGPU (SwiftShader): the app starts, trains on WebGPU, and a
//! link with a seed reproduces the same first metrics. Skipped with a note where the site, Chromium or the test's
//! node modules are missing, except in CI (`CI` or `TICKETLAB_REQUIRE_BROWSER` set), where `.ci/run` provides them.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn missing(what: &str) {
    if std::env::var_os("CI").is_some() || std::env::var_os("TICKETLAB_REQUIRE_BROWSER").is_some() {
        panic!("the browser test needs {what} (.ci/run provides it)");
    }
    eprintln!("skipping the browser test: {what} is missing (see README: web build and browser test)");
}

/// Serve `root` on a free port of 127.0.0.1 from a background thread; returns the base URL.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").split(['?', '#']).next().unwrap_or("/");
                let relative = if path == "/" { "index.html" } else { path.trim_start_matches('/') };
                let file = root.join(relative);
                let (status, body) = match (relative.contains(".."), std::fs::read(&file)) {
                    (false, Ok(body)) => ("200 OK", body),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let mime = match file.extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html",
                    Some("js") => "text/javascript",
                    Some("wasm") => "application/wasm",
                    Some("svg") => "image/svg+xml",
                    Some("css") => "text/css",
                    _ => "application/octet-stream",
                };
                let mut out = &stream;
                let header = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = out.write_all(header.as_bytes()).and_then(|_| out.write_all(&body));
            });
        }
    });
    url
}

#[test]
fn the_app_trains_on_webgpu_and_links_reproduce() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = root.join("dist");
    let script = root.join("tests/browser/e2e.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !dist.join("index.html").exists() {
        return missing("the built site (trunk build --offline)");
    }
    if !Path::new(&chromium).exists() {
        return missing("Chromium");
    }
    if !root.join("tests/browser/node_modules/playwright-core").exists() {
        return missing("playwright-core (npm ci in tests/browser)");
    }
    let url = serve(dist);
    let shots = root.join("target/ci-artifacts");
    std::fs::create_dir_all(&shots).expect("artifact directory");
    let shot = shots.join("browser.png");
    let output =
        Command::new("node").arg(&script).arg(&url).arg(&shot).env("CHROMIUM", &chromium).output().expect("node runs");
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{log}");
    assert!(output.status.success(), "browser test failed:\n{log}");
    assert!(shot.exists(), "screenshot saved at {}", shot.display());
    println!("screenshot: {}", shot.display());
}
