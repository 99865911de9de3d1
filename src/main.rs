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
/// notice, where the page has only WebGL).
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
                    let backend = choose_backend(cc.wgpu_render_state.as_ref(), None);
                    Ok(Box::new(TicketlabApp::new(backend, cc.storage, None)))
                }),
            )
            .await;
        if let Err(e) = start {
            web_sys::console::error_1(&e);
        }
    });
}
