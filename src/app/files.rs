//! Bringing files into the app: CIFAR-10/100 (a folder or the official `.tar.gz` natively; the `.tar.gz` or the
//! extracted `.bin` files picked, dropped or fetched in the browser) and saved runs. The browser reads, downloads and
//! decodes as page tasks with a progress bar, so the page keeps drawing; the decoding is the native reader's.

use eframe::egui;

#[cfg(target_arch = "wasm32")]
use super::web;
use super::{TicketlabApp, UserData};
use crate::config::DatasetSpec;
use crate::data::DataSplits;

/// What files being brought in are for.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FileUse {
    Data,
    SavedRun,
}

/// Files on their way in: being chosen, read (or downloaded), then, for a data set, decoded.
#[derive(Default)]
pub(super) struct Incoming {
    /// Whether CIFAR-100 keeps its 20 coarse classes rather than the 100 fine ones.
    cifar100_coarse: bool,
    #[cfg(target_arch = "wasm32")]
    choosing: Option<(FileUse, std::rc::Rc<std::cell::RefCell<Option<Vec<web_sys::File>>>>)>,
    #[cfg(target_arch = "wasm32")]
    reading: Option<(FileUse, web::Job<web::Files>)>,
    #[cfg(target_arch = "wasm32")]
    decoding: Option<(DatasetSpec, web::Job<DataSplits>)>,
}

const DROP_HINT: &str = "Drop CIFAR-10 or CIFAR-100 (the official .tar.gz or its .bin files) or a saved run (.json)";

impl TicketlabApp {
    pub(super) fn data_controls(&mut self, ui: &mut egui::Ui) {
        ui.label(format!("using: {}", self.config.dataset));
        if ui.button("Built-in synthetic images").clicked() {
            self.config.dataset = DatasetSpec::Synthetic { train: 5000, test: 1000 };
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            ui.label("CIFAR-10/100 folder or .tar.gz (or drop it here):");
            ui.text_edit_singleline(&mut self.path_input);
            if ui.button("Load CIFAR").clicked() {
                let path = self.path_input.trim().to_string();
                self.load_path(&path);
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            let idle = !self.files_busy();
            let pick = ui.add_enabled(idle, egui::Button::new("Pick CIFAR files…")).on_hover_text(
                "cifar-10-binary.tar.gz or cifar-100-binary.tar.gz as downloaded, or the extracted .bin files \
                 (and the name lists); or drop them on the page",
            );
            if pick.clicked() {
                self.incoming.choosing = Some((FileUse::Data, web::pick_files(".gz,.tgz,.bin,.txt", true)));
            }
            ui.label("or the URL of one:");
            ui.text_edit_singleline(&mut self.path_input);
            if ui.add_enabled(idle, egui::Button::new("Fetch")).clicked() {
                self.incoming.reading = Some((FileUse::Data, web::fetch(self.path_input.trim())));
            }
            let job = match (&self.incoming.reading, &self.incoming.decoding) {
                (Some((_, job)), _) => Some((job.label.as_str(), job.progress.get())),
                (_, Some((_, job))) => Some((job.label.as_str(), job.progress.get())),
                _ => None,
            };
            if let Some((label, fraction)) = job {
                let text =
                    if fraction >= 0.0 { format!("{label} {:.0}%", fraction * 100.0) } else { label.to_string() };
                ui.add(egui::ProgressBar::new(fraction.max(0.0)).text(text).animate(fraction < 0.0));
            }
        }
        ui.checkbox(&mut self.incoming.cifar100_coarse, "CIFAR-100: the 20 coarse classes");
    }

    /// Whether files are being read or decoded (the browser does one batch at a time).
    pub(super) fn files_busy(&self) -> bool {
        #[cfg(target_arch = "wasm32")]
        return self.incoming.choosing.is_some() || self.incoming.reading.is_some() || self.incoming.decoding.is_some();
        #[cfg(not(target_arch = "wasm32"))]
        false
    }

    /// Ask for a saved run (browser).
    #[cfg(target_arch = "wasm32")]
    pub(super) fn pick_saved_run(&mut self) {
        self.incoming.choosing = Some((FileUse::SavedRun, web::pick_files(".json", false)));
    }

    /// Take in files dropped on the window; while they hover, say what can be dropped.
    pub(super) fn dropped_files(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let painter = ctx.layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::unique("drop")));
            let rect = ctx.content_rect();
            painter.rect_filled(rect, 0.0, egui::Color32::from_black_alpha(190));
            let font = egui::FontId::proportional(20.0);
            painter.text(rect.center(), egui::Align2::CENTER_CENTER, DROP_HINT, font, egui::Color32::WHITE);
        }
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if dropped.is_empty() {
            return;
        }
        if self.files_busy() {
            self.message = Some((true, "still busy with the previous files; drop again when they are in".into()));
            return;
        }
        let is_run = |name: &std::path::Path| name.extension().is_some_and(|e| e == "json");
        #[cfg(target_arch = "wasm32")]
        {
            let usage = if dropped.iter().all(|f| is_run(f.path())) { FileUse::SavedRun } else { FileUse::Data };
            let files: Vec<web_sys::File> = dropped.iter().filter_map(|f| f.web_file().cloned()).collect();
            self.incoming.reading = Some((usage, web::read_files(files)));
        }
        #[cfg(not(target_arch = "wasm32"))]
        for file in dropped {
            let path = file.path();
            if is_run(path) {
                match crate::results::read_saved(path) {
                    Ok(bytes) => self.open_saved(&path.display().to_string(), &bytes),
                    Err(e) => self.message = Some((true, format!("{}: {e}", path.display()))),
                }
            } else {
                self.load_path(&path.display().to_string());
            }
        }
    }

    /// Load CIFAR-10 or CIFAR-100 from a folder or archive, telling them apart by name.
    #[cfg(not(target_arch = "wasm32"))]
    fn load_path(&mut self, path: &str) {
        let dir = std::path::Path::new(path);
        let hundred =
            path.contains("cifar-100") || dir.join("train.bin").exists() || dir.join("cifar-100-binary").is_dir();
        let spec = if hundred {
            DatasetSpec::Cifar100 { path: path.to_string(), coarse: self.incoming.cifar100_coarse }
        } else {
            DatasetSpec::Cifar10 { path: path.to_string() }
        };
        let loaded = crate::train::load_dataset(&spec, self.config.seed).map_err(|e| e.to_string());
        self.use_data(spec, loaded);
    }

    /// Move the browser's file work on: read what was chosen, decode what was read, keep what was decoded.
    #[cfg(target_arch = "wasm32")]
    pub(super) fn poll_files(&mut self) {
        let chosen = self.incoming.choosing.as_ref().and_then(|(usage, c)| Some((*usage, c.borrow_mut().take()?)));
        if let Some((usage, files)) = chosen {
            self.incoming.choosing = None;
            if !files.is_empty() {
                self.incoming.reading = Some((usage, web::read_files(files)));
            }
        }
        let read = self.incoming.reading.as_ref().and_then(|(usage, job)| Some((*usage, job.take()?)));
        if let Some((usage, result)) = read {
            self.incoming.reading = None;
            match result {
                Err(e) => self.message = Some((true, e)),
                Ok(files) if files.is_empty() => {}
                Ok(files) if usage == FileUse::SavedRun => self.open_saved(&files[0].0, &files[0].1),
                Ok(files) => self.decode(files),
            }
        }
        let decoded = self.incoming.decoding.as_ref().and_then(|(spec, job)| Some((spec.clone(), job.take()?)));
        if let Some((spec, result)) = decoded {
            self.incoming.decoding = None;
            self.use_data(spec, result);
        }
    }

    #[cfg(target_arch = "wasm32")]
    fn decode(&mut self, files: web::Files) {
        use crate::data::CifarKind;
        let names = files.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join("+");
        let (kind, spec) = match crate::data::guess_cifar_kind(&files) {
            Some(CifarKind::Cifar10) => (CifarKind::Cifar10, DatasetSpec::Cifar10 { path: names }),
            Some(CifarKind::Cifar100 { .. }) => {
                let coarse = self.incoming.cifar100_coarse;
                (CifarKind::Cifar100 { coarse }, DatasetSpec::Cifar100 { path: names, coarse })
            }
            None => {
                let why = format!(
                    "{names}: not CIFAR-10 or CIFAR-100 (expected cifar-10-binary.tar.gz, cifar-100-binary.tar.gz or \
                     their .bin files)"
                );
                self.message = Some((true, why));
                return;
            }
        };
        self.incoming.decoding = Some((spec, web::decode_cifar(kind, files)));
    }

    fn use_data(&mut self, spec: DatasetSpec, loaded: Result<DataSplits, String>) {
        match loaded {
            Ok(splits) => {
                self.message = Some((
                    false,
                    format!(
                        "loaded {}: {} training and {} test images; press “Apply and train”",
                        splits.name,
                        splits.train.len(),
                        splits.test.len()
                    ),
                ));
                self.config.dataset = spec.clone();
                self.user_data = Some(UserData { spec, splits });
            }
            Err(e) => self.message = Some((true, e)),
        }
    }
}
