//! The `ticketlab` binary: natively the app (without arguments) or the command line; in the browser, the app.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cli::main()
}

/// The CPU backend allocates and frees multi-megabyte buffers every step (activations, im2col tiles, gradients).
/// glibc returns such blocks to the kernel at once (mmap above 128 KiB by default, trimming the heap top), so each
/// step page-faults them in again: about 10% of a conv4 step on 2 cores. Keep them in the heap instead.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator thresholds; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(any(all(target_os = "linux", target_env = "gnu"), target_arch = "wasm32")))]
fn keep_freed_memory() {}

/// The web entry point: the app on the page's canvas, training on the page's WebGPU device (on the CPU, with a
/// notice, where the page has only WebGL; `?backend=` in the address decides otherwise).
#[cfg(target_arch = "wasm32")]
fn main() {
    use ticketlab::app::{TicketlabApp, choose_backend, wgpu_configuration};
    use wasm_bindgen::JsCast;

    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async move {
        let canvas = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("ticketlab"))
            .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
            .expect("index.html has a <canvas id=\"ticketlab\">");
        let start = eframe::WebRunner::new()
            .start(
                canvas,
                eframe::WebOptions { wgpu_options: wgpu_configuration(), ..Default::default() },
                Box::new(|cc| {
                    let (asked, bad) = match asked_backend() {
                        Some(Err(e)) => (None, Some(e)),
                        asked => (asked.and_then(Result::ok), None),
                    };
                    let mut backend = choose_backend(cc.wgpu_render_state.as_ref(), asked);
                    if let Some(e) = bad {
                        backend.notice = Some(format!("the address's backend was ignored: {e}"));
                    }
                    Ok(Box::new(TicketlabApp::new(backend, cc.storage, None)))
                }),
            )
            .await;
        // The page's "Loading…" line gives way to the app, or says why it could not start.
        let loading = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("loading"));
        match (start, loading) {
            (Ok(()), Some(loading)) => loading.remove(),
            (Err(e), loading) => {
                if let Some(loading) = loading {
                    loading.set_text_content(Some(&format!("ticketlab could not start: {e:?}")));
                }
                web_sys::console::error_1(&e);
            }
            (Ok(()), None) => {}
        }
    });
}

/// Where the page's address asks training to run (`?backend=cpu` or `?backend=wgpu`, as `--backend` natively), if it
/// does.
#[cfg(target_arch = "wasm32")]
fn asked_backend() -> Option<Result<ticketlab::backend::BackendKind, String>> {
    let search = web_sys::window()?.location().search().ok()?;
    let value = search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix("backend="))?;
    Some(value.parse())
}
