//! The browser's side of links, downloads and files (wasm only).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_time::Instant;

use super::download::{Incoming, MAX_FILE_BYTES};
use crate::data::{CifarKind, DataSplits, Progress};

/// Named files in memory.
pub type Files = Vec<(String, Vec<u8>)>;

/// Work the page does in the background (reading or downloading files, decoding a data set): how far it has got and,
/// once finished, its result.
pub struct Job<T> {
    /// What is being done, for the progress bar.
    pub label: String,
    /// 0 to 1; negative while the total is unknown.
    pub progress: Rc<Cell<f32>>,
    result: Rc<RefCell<Option<Result<T, String>>>>,
}

impl<T: 'static> Job<T> {
    /// Start `work` as a page task; it is handed the progress cell to update.
    fn start<F>(label: String, work: impl FnOnce(Rc<Cell<f32>>) -> F) -> Self
    where
        F: Future<Output = Result<T, String>> + 'static,
    {
        let (progress, result): (Rc<Cell<f32>>, Rc<RefCell<_>>) = (Rc::new(Cell::new(-1.0)), Rc::default());
        let task = work(progress.clone());
        let slot = result.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let outcome = task.await;
            *slot.borrow_mut() = Some(outcome);
        });
        Job { label, progress, result }
    }

    /// The result, once (`None` while the work goes on).
    pub fn take(&self) -> Option<Result<T, String>> {
        self.result.borrow_mut().take()
    }
}

/// The page's URL fragment without the `#`, if any.
pub fn location_hash() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let hash = hash.trim_start_matches('#');
    (!hash.is_empty()).then(|| hash.to_string())
}

/// The page's address with `fragment`, and the fragment set on the page (so a reload keeps it).
pub fn link_with(fragment: &str) -> String {
    let Some(location) = web_sys::window().map(|w| w.location()) else { return format!("#{fragment}") };
    let _ = location.set_hash(fragment);
    let href = location.href().unwrap_or_default();
    let base = href.split('#').next().unwrap_or_default();
    format!("{base}#{fragment}")
}

/// Offer `bytes` as a download named `name`.
pub fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let fail = |e: JsValue| format!("download failed: {e:?}");
    let array = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &options).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a").map_err(fail)?.unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    web_sys::Url::revoke_object_url(&url).map_err(fail)
}

/// Read browser files into memory, refusing any above [`MAX_FILE_BYTES`] before reading it.
pub fn read_files(files: Vec<web_sys::File>) -> Job<Files> {
    let label = match files.as_slice() {
        [one] => format!("reading {}", one.name()),
        many => format!("reading {} files", many.len()),
    };
    Job::start(label, move |_| async move {
        let mut read = vec![];
        for file in files {
            let mut incoming = Incoming::new(&file.name(), Some(file.size() as u64), MAX_FILE_BYTES)?;
            let buffer = JsFuture::from(file.array_buffer())
                .await
                .map_err(|e| format!("could not read {}: {}", file.name(), js_message(&e)))?;
            let bytes = js_sys::Uint8Array::new(&buffer);
            bytes.copy_to(incoming.next_chunk(bytes.length() as usize)?);
            read.push(incoming.finish());
        }
        Ok(read)
    })
}

/// Ask the user for files (`accept` as in `<input accept>`); `None` until they have chosen.
pub fn pick_files(accept: &str, multiple: bool) -> Rc<RefCell<Option<Vec<web_sys::File>>>> {
    let chosen: Rc<RefCell<Option<Vec<web_sys::File>>>> = Rc::default();
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("input").ok())
        .map(|e| e.unchecked_into::<web_sys::HtmlInputElement>());
    let Some(input) = input else {
        *chosen.borrow_mut() = Some(vec![]);
        return chosen;
    };
    input.set_type("file");
    input.set_accept(accept);
    input.set_multiple(multiple);
    let (slot, picked) = (chosen.clone(), input.clone());
    let on_change = Closure::once(move || {
        let list = picked.files();
        let files = (0..list.as_ref().map_or(0, |l| l.length())).filter_map(|i| list.as_ref()?.get(i)).collect();
        *slot.borrow_mut() = Some(files);
    });
    input.set_onchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    input.click();
    chosen
}

/// Download `url` (same rules as any page fetch: the server must allow it), streaming it into memory and refusing
/// it past [`MAX_FILE_BYTES`], whatever size it announced.
pub fn fetch(url: &str) -> Job<Files> {
    let url = url.to_string();
    let name = url.split(['?', '#']).next().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let name = if name.is_empty() { "download".to_string() } else { name.to_string() };
    Job::start(format!("downloading {name}"), move |progress| async move {
        let failed = |e: JsValue| format!("could not fetch {url}: {}", js_message(&e));
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response =
            JsFuture::from(window.fetch_with_str(&url)).await.map_err(failed)?.unchecked_into();
        if !response.ok() {
            return Err(format!("could not fetch {url}: HTTP {}", response.status()));
        }
        let announced =
            response.headers().get("content-length").ok().flatten().and_then(|length| length.trim().parse().ok());
        let mut incoming = Incoming::new(&name, announced, MAX_FILE_BYTES)?;
        let body = response.body().ok_or_else(|| format!("could not fetch {url}: the response has no body"))?;
        let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
            if js_sys::Reflect::get(&chunk, &"done".into()).map_err(failed)?.as_bool().unwrap_or(true) {
                break;
            }
            let bytes = js_sys::Uint8Array::new(&js_sys::Reflect::get(&chunk, &"value".into()).map_err(failed)?);
            match incoming.next_chunk(bytes.length() as usize) {
                Ok(room) => bytes.copy_to(room),
                Err(e) => {
                    let _ = reader.cancel();
                    return Err(e);
                }
            }
            progress.set(incoming.fraction().unwrap_or(-1.0));
        }
        Ok(vec![incoming.finish()])
    })
}

/// Decode a CIFAR data set from files in memory (an official `.tar.gz` or `.bin` files) with the same reader as
/// natively, yielding to the page every few milliseconds so the progress bar moves.
pub fn decode_cifar(kind: CifarKind, files: Files) -> Job<DataSplits> {
    Job::start(format!("decoding {}", describe(&files)), move |progress| async move {
        let mut pacing = PageProgress { cell: progress, since_yield: Instant::now() };
        crate::data::read_cifar_files(kind, &files, &mut pacing).await.map_err(|e| e.to_string())
    })
}

fn describe(files: &Files) -> String {
    match files.as_slice() {
        [(name, _)] => name.clone(),
        many => format!("{} files", many.len()),
    }
}

/// Progress shown on the page: the reader's fraction goes into the cell the UI draws, and the reader yields to the
/// browser after each frame's worth of work.
struct PageProgress {
    cell: Rc<Cell<f32>>,
    since_yield: Instant,
}

/// Work between yields to the page: about a frame and a half.
const FRAME_BUDGET: Duration = Duration::from_millis(25);

impl Progress for PageProgress {
    async fn advance(&mut self, fraction: f32) {
        self.cell.set(fraction);
        if self.since_yield.elapsed() >= FRAME_BUDGET {
            yield_to_page().await;
            self.since_yield = Instant::now();
        }
    }
}

/// Let the browser run its event loop (draw, handle input) before going on.
async fn yield_to_page() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// A JavaScript error's message (or its debug form).
fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}
