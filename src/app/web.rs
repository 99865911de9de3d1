//! The browser's side of links, downloads and files (wasm only).

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::JsFuture;

/// Files the user picked (or fetched), arriving asynchronously: `None` until they are read.
pub type Arrival = Rc<RefCell<Option<Result<Vec<(String, Vec<u8>)>, String>>>>;

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
    let fail = |e: wasm_bindgen::JsValue| format!("download failed: {e:?}");
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

/// Ask the user for files (`accept` as in `<input accept>`); the returned slot fills when they are read.
pub fn pick_files(accept: &str, multiple: bool) -> Arrival {
    let arrival: Arrival = Rc::default();
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        *arrival.borrow_mut() = Some(Err("no document".into()));
        return arrival;
    };
    let Ok(input) = document.create_element("input").map(|e| e.unchecked_into::<web_sys::HtmlInputElement>()) else {
        *arrival.borrow_mut() = Some(Err("cannot create a file input".into()));
        return arrival;
    };
    input.set_type("file");
    input.set_accept(accept);
    input.set_multiple(multiple);
    let slot = arrival.clone();
    let picked = input.clone();
    let on_change = Closure::once(move || {
        wasm_bindgen_futures::spawn_local(async move {
            let mut files = vec![];
            if let Some(list) = picked.files() {
                for i in 0..list.length() {
                    let Some(file) = list.get(i) else { continue };
                    match JsFuture::from(file.array_buffer()).await {
                        Ok(buffer) => files.push((file.name(), js_sys::Uint8Array::new(&buffer).to_vec())),
                        Err(e) => {
                            *slot.borrow_mut() = Some(Err(format!("could not read {}: {e:?}", file.name())));
                            return;
                        }
                    }
                }
            }
            *slot.borrow_mut() = Some(Ok(files));
        });
    });
    input.set_onchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    input.click();
    arrival
}

/// Download `url` (same rules as any page fetch: the server must allow it); the slot fills with one named file.
pub fn fetch(url: &str) -> Arrival {
    let arrival: Arrival = Rc::default();
    let slot = arrival.clone();
    let url = url.to_string();
    wasm_bindgen_futures::spawn_local(async move {
        let result = async {
            let window = web_sys::window().ok_or("no window")?;
            let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
                .await
                .map_err(|e| format!("could not fetch {url}: {e:?}"))?
                .unchecked_into();
            if !response.ok() {
                return Err(format!("could not fetch {url}: HTTP {}", response.status()));
            }
            let buffer = JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?)
                .await
                .map_err(|e| format!("could not read {url}: {e:?}"))?;
            let name = url.rsplit('/').next().unwrap_or("download").to_string();
            Ok(vec![(name, js_sys::Uint8Array::new(&buffer).to_vec())])
        }
        .await;
        *slot.borrow_mut() = Some(result);
    });
    arrival
}
