//! The app in a real browser: serves the built site (`dist/`, from `web/build.sh`) from a sub-path of
//! 127.0.0.1 and runs `tests/browser/e2e.mjs` in headless Chromium with WebGPU (SwiftShader): the page's time to its
//! first training metrics, a link with a seed reproducing the same first metrics on WebGPU, the official archive's
//! layout dropped on the page, and the page opening offline from its service worker. Skipped with a note where the
//! site, Chromium or the test's node modules are missing, except in CI (`CI` or `TICKETLAB_REQUIRE_BROWSER` set),
//! where `.ci/run` provides them.

mod archive;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn missing(what: &str) {
    if std::env::var_os("CI").is_some() || std::env::var_os("TICKETLAB_REQUIRE_BROWSER").is_some() {
        panic!("the browser test needs {what} (.ci/run provides it)");
    }
    eprintln!("skipping the browser test: {what} is missing (see README: web build and browser test)");
}

/// Where the site is served: a sub-path, as on a shared static host.
const SITE: &str = "/ticketlab/demo/";

/// Serve `site` under [`SITE`] and `fixtures` under `/fixtures/` on a free port of 127.0.0.1 from a background thread;
/// everything else is 404. Returns the server's base URL.
fn serve(site: PathBuf, fixtures: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (site, fixtures) = (site.clone(), fixtures.clone());
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
                let file = if let Some(relative) = path.strip_prefix(SITE) {
                    Some(site.join(if relative.is_empty() { "index.html" } else { relative }))
                } else {
                    path.strip_prefix("/fixtures/").map(|relative| fixtures.join(relative))
                };
                let (status, body) = match file.filter(|_| !path.contains("..")).map(std::fs::read) {
                    Some(Ok(body)) => ("200 OK", body),
                    _ => ("404 Not Found", b"not found".to_vec()),
                };
                let mime = match path.rsplit('.').next() {
                    _ if path.ends_with('/') => "text/html",
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
fn the_site_trains_reproduces_loads_the_archive_and_opens_offline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dist = root.join("dist");
    let script = root.join("tests/browser/e2e.mjs");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !dist.join("index.html").exists() {
        return missing("the built site (bash web/build.sh)");
    }
    if !Path::new(&chromium).exists() {
        return missing("Chromium");
    }
    if !root.join("tests/browser/node_modules/playwright-core").exists() {
        return missing("playwright-core (npm ci in tests/browser)");
    }
    let fixtures = root.join("target/browser-fixtures");
    std::fs::create_dir_all(&fixtures).expect("fixture directory");
    // The official archive cut down to 7 training images (batch 1 of 4, batch 2 of 3) and 2 test images.
    std::fs::write(
        fixtures.join("cifar-10-binary.tar.gz"),
        archive::cifar10_tar_gz(
            &[("data_batch_1.bin", 4), ("batches.meta.txt", 0), ("test_batch.bin", 2), ("data_batch_2.bin", 3)],
            0x2545_f491_4f6c_dd1d,
        ),
    )
    .expect("fixture archive");
    let base = serve(dist, fixtures);
    let shots = root.join("target/ci-artifacts");
    std::fs::create_dir_all(&shots).expect("artifact directory");
    // The script's lines are printed as they come (a run takes minutes) and kept for the failure message.
    let mut node = Command::new("node")
        .arg(&script)
        .arg(format!("{base}{SITE}"))
        .arg(format!("{base}/fixtures/cifar-10-binary.tar.gz"))
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let errors = node.stderr.take().map(|stderr| std::thread::spawn(move || std::io::read_to_string(stderr)));
    let mut log = String::new();
    for line in BufReader::new(node.stdout.take().expect("piped stdout")).lines().map_while(Result::ok) {
        println!("{line}");
        log.push_str(&line);
        log.push('\n');
    }
    let status = node.wait().expect("node ends");
    log.push_str(&errors.and_then(|t| t.join().ok()).and_then(Result::ok).unwrap_or_default());
    assert!(status.success(), "browser test failed:\n{log}");
    for shot in ["browser.png", "browser-archive.png"] {
        println!("screenshot: {}", shots.join(shot).display());
    }
}
