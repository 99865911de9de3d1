//! The egui application: set up a run (or pick a preset), train it on the GPU (WebGPU in the browser) or the CPU,
//! and watch tickets form, topologies evolve and ensembles combine.
//!
//! The UI talks to the engine through [`Session`] and plain results only; it holds no tensors.

#[cfg(any(target_arch = "wasm32", test))]
mod download;
mod export;
mod files;
mod gpu;
mod maskview;
mod session;
pub mod views;
#[cfg(target_arch = "wasm32")]
mod web;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;

use crate::config::{DatasetSpec, EnsembleKind, TrainConfig};
use crate::data::{DataSplits, Dataset};
use crate::model::Arch;
use crate::optim::OptimizerKind;
use crate::procedure::Outcome;
use crate::schedule::LrSchedule;
use crate::sparsity::{Distribution, Method};
use crate::textconfig;
use crate::train::TrainData;

use crate::presets::{self, PRESET_SEEDS, PRESETS, Preset};
use crate::verdict::Verdict;
pub use export::{curves_csv, parse_saved_run};
pub use gpu::{choose_backend, wgpu_configuration};
pub use session::{Session, Stage, Status};

/// Where training runs (see [`choose_backend`]).
pub struct Backend {
    pub device: burn::prelude::Device,
    /// What the UI shows, e.g. "GPU (NVIDIA …)"; its first word goes into the title.
    pub label: String,
    /// Why training runs somewhere else than asked, if it does.
    pub notice: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Training,
    Tickets,
    Topology,
    Ensembles,
}

/// Images brought by the user (the built-in synthetic set needs none).
struct UserData {
    /// How the configuration names it.
    spec: DatasetSpec,
    splits: DataSplits,
}

const STORAGE_KEY: &str = "ticketlab-config";

pub struct TicketlabApp {
    config: TrainConfig,
    backend: Backend,
    session: Option<Session>,
    /// Runs still to train (a preset's queue), and the finished ones, for comparison.
    queue: VecDeque<TrainConfig>,
    history: Vec<Outcome>,
    /// The preset whose queue is running or ran, and its verdict once every run finished.
    preset: Option<(&'static Preset, Option<Verdict>)>,
    user_data: Option<UserData>,
    /// The test set of the current session, for the gallery.
    test_set: Option<Arc<Dataset>>,
    tab: Tab,
    views: views::ViewState,
    /// A message about the last action (an error or where a file went).
    message: Option<(bool, String)>,
    link_input: String,
    path_input: String,
    /// Whether a new run starts by itself (false after the user opened a saved run).
    autostart: bool,
    /// The title last set, so it is only sent when it changes (a title command repaints the window).
    title: String,
    /// A screenshot to save as PNG, once the integration has read the pixels.
    screenshot: Option<Arc<std::sync::Mutex<Option<Arc<egui::ColorImage>>>>>,
    incoming: files::Incoming,
}

impl TicketlabApp {
    /// The app with the settings of `link` if given and valid, else the last settings saved, else the default run.
    pub fn new(backend: Backend, storage: Option<&dyn eframe::Storage>, link: Option<&str>) -> Self {
        let saved = storage
            .and_then(|s| s.get_string(STORAGE_KEY))
            .and_then(|json| serde_json::from_str::<TrainConfig>(&json).ok())
            .filter(|c| c.validate().is_ok() && matches!(c.dataset, DatasetSpec::Synthetic { .. }));
        let mut app = TicketlabApp {
            config: saved.unwrap_or_else(presets::default_run),
            backend,
            session: None,
            queue: VecDeque::new(),
            history: vec![],
            preset: None,
            user_data: None,
            test_set: None,
            tab: Tab::Training,
            views: views::ViewState::default(),
            message: None,
            link_input: String::new(),
            path_input: String::new(),
            autostart: true,
            title: String::new(),
            screenshot: None,
            incoming: files::Incoming::default(),
        };
        #[cfg(target_arch = "wasm32")]
        let link = link.map(str::to_string).or_else(web::location_hash);
        if let Some(link) = link {
            app.open_link(link.as_ref());
        }
        app
    }

    /// Apply a shared link; a bad one leaves the settings as they were, says why, and starts nothing (the first run
    /// starts by itself only when it is the run asked for).
    fn open_link(&mut self, link: &str) {
        match textconfig::from_fragment(link) {
            Ok(config) => {
                self.tab = tab_for(&config);
                self.config = config;
                self.queue.clear();
                self.session = None;
                self.message = Some((false, "settings restored from the link".into()));
            }
            Err(e) => {
                self.autostart = false;
                self.message = Some((true, format!("the link was not applied: {e}")));
            }
        }
    }

    fn link(&self) -> String {
        let fragment = textconfig::to_fragment(&self.config);
        #[cfg(target_arch = "wasm32")]
        return web::link_with(&fragment);
        #[cfg(not(target_arch = "wasm32"))]
        format!("ticketlab://run?{fragment}")
    }

    /// The data `config` names: generated, or what the user brought.
    fn data_for(&self, config: &TrainConfig) -> Result<DataSplits, String> {
        match &config.dataset {
            DatasetSpec::Synthetic { train, test } => Ok(crate::data::synthetic(config.seed, *train, *test)),
            spec => match &self.user_data {
                Some(d) if &d.spec == spec => Ok(d.splits.clone()),
                #[cfg(not(target_arch = "wasm32"))]
                _ => crate::train::load_dataset(spec, config.seed).map_err(|e| e.to_string()),
                #[cfg(target_arch = "wasm32")]
                _ => Err(format!("{spec} is not loaded: pick the CIFAR files again")),
            },
        }
    }

    /// Start `config` as the current session (running if `run`).
    fn start(&mut self, config: TrainConfig, run: bool, ctx: &egui::Context) {
        let (device, label) = (self.backend.device.clone(), self.backend.label.clone());
        let data = match config.validate().and_then(|_| self.data_for(&config)) {
            Ok(d) => d,
            Err(e) => {
                self.message = Some((true, e));
                self.session = None;
                return;
            }
        };
        let data = TrainData::for_config(data, &config);
        self.test_set = Some(data.test.clone());
        let ctx = ctx.clone();
        match Session::new(config, data, device, label, move || ctx.request_repaint()) {
            Ok(mut session) => {
                session.set_running(run);
                self.session = Some(session);
                self.views.clear();
            }
            Err(e) => self.message = Some((true, e.to_string())),
        }
    }

    /// Train the setup panel's configuration (and nothing queued after it).
    fn apply(&mut self, ctx: &egui::Context) {
        self.queue.clear();
        self.history.clear();
        self.preset = None;
        self.message = None;
        self.tab = tab_for(&self.config);
        self.start(self.config.clone(), true, ctx);
    }

    /// Queue every run of `preset` over [`PRESET_SEEDS`]; its verdict shows when the last one finishes.
    fn run_preset(&mut self, preset: &'static Preset, ctx: &egui::Context) {
        self.queue = preset.runs(&PRESET_SEEDS).into_iter().map(|(_, _, config)| config).collect();
        self.history.clear();
        self.preset = Some((preset, None));
        self.message = Some((false, preset.about.to_string()));
        if let Some(first) = self.queue.pop_front() {
            self.config = first.clone();
            self.tab = tab_for(&first);
            self.start(first, true, ctx);
        }
    }

    /// When a run of a queue finishes, keep it (for comparison) and start the next one; after a preset's last run,
    /// decide its verdict.
    fn advance_queue(&mut self, ctx: &egui::Context) {
        let deciding = matches!(self.preset, Some((_, None)));
        if self.queue.is_empty() && !deciding {
            return;
        }
        let Some(outcome) = self.session.as_ref().and_then(|s| s.outcome.clone()) else { return };
        self.history.push(outcome);
        if self.queue.is_empty()
            && let Some((preset, verdict)) = &mut self.preset
        {
            *verdict = Some(preset.verdict(&PRESET_SEEDS, &self.history));
            return;
        }
        if let Some(next) = self.queue.pop_front() {
            self.config = next.clone();
            self.start(next, true, ctx);
        }
    }

    fn setup_panel(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Presets");
            for preset in PRESETS {
                let hover = format!(
                    "{}\n\n{} Runs {} seeds and shows whether the claim held.",
                    preset.claim,
                    preset.about,
                    PRESET_SEEDS.len()
                );
                if ui.button(preset.name).on_hover_text(hover).clicked() {
                    self.run_preset(preset, ui.ctx());
                }
            }
            ui.separator();
            ui.heading("Setup");
            self.setup_grid(ui);
            ui.add_space(6.0);
            if ui.button("Apply and train").clicked() {
                self.apply(ui.ctx());
            }
            ui.separator();
            ui.heading("Data");
            self.data_controls(ui);
            ui.separator();
            ui.heading("Links and files");
            self.link_controls(ui);
        });
    }

    fn setup_grid(&mut self, ui: &mut egui::Ui) {
        let c = &mut self.config;
        egui::Grid::new("setup").num_columns(2).spacing([10.0, 5.0]).show(ui, |ui| {
            ui.label("method");
            egui::ComboBox::from_id_salt("method").selected_text(c.method.name()).show_ui(ui, |ui| {
                for m in Method::ALL {
                    ui.selectable_value(&mut c.method, m, m.name());
                }
            });
            ui.end_row();
            ui.label("ensemble");
            egui::ComboBox::from_id_salt("ensemble").selected_text(c.ensemble.kind.name()).show_ui(ui, |ui| {
                for k in EnsembleKind::ALL {
                    if ui.selectable_value(&mut c.ensemble.kind, k, k.name()).clicked() {
                        c.ensemble.members = k.default_members();
                    }
                }
            });
            ui.end_row();
            if c.ensemble.kind != EnsembleKind::None {
                ui.label("members");
                ui.add(egui::DragValue::new(&mut c.ensemble.members).range(2..=8));
                ui.end_row();
            }
            ui.label("model");
            egui::ComboBox::from_id_salt("model").selected_text(c.model.name()).show_ui(ui, |ui| {
                for arch in Arch::ALL {
                    ui.selectable_value(&mut c.model, arch, arch.name());
                }
            });
            ui.end_row();
            ui.label("width ×");
            ui.add(egui::Slider::new(&mut c.width, 0.0625..=1.0).logarithmic(true));
            ui.end_row();
            ui.label(if c.method.is_iterative() { "final density" } else { "density" });
            ui.add(egui::Slider::new(&mut c.density, 0.01..=1.0).logarithmic(true));
            ui.end_row();
            ui.label("distribution");
            egui::ComboBox::from_id_salt("distribution").selected_text(c.distribution.name()).show_ui(ui, |ui| {
                for d in Distribution::ALL {
                    ui.selectable_value(&mut c.distribution, d, d.name());
                }
            });
            ui.end_row();
            if c.method.is_dynamic() {
                ui.label("update every ΔT");
                ui.add(egui::DragValue::new(&mut c.dst.update_every).range(1..=10_000));
                ui.end_row();
                ui.label("drop fraction");
                ui.add(egui::Slider::new(&mut c.dst.drop_fraction, 0.0..=1.0));
                ui.end_row();
            }
            if c.method.is_iterative() {
                ui.label("prune per round");
                ui.add(egui::Slider::new(&mut c.imp.prune_fraction, 0.05..=0.9));
                ui.end_row();
                ui.label("controls");
                ui.checkbox(&mut c.imp.controls, "re-init and random");
                ui.end_row();
            }
            // A saved run or a link may fix the length in steps; show that rather than an epoch count it ignores.
            if let Some(steps) = &mut c.steps {
                ui.label("steps");
                let mut by_epochs = false;
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(steps).range(1..=1_000_000));
                    by_epochs = ui.small_button("count in epochs").clicked();
                });
                if by_epochs {
                    c.steps = None;
                }
            } else {
                ui.label("epochs");
                ui.add(egui::DragValue::new(&mut c.epochs).range(1..=200));
            }
            ui.end_row();
            ui.label("batch size");
            ui.add(egui::DragValue::new(&mut c.batch_size).range(8..=512));
            ui.end_row();
            ui.label("optimizer");
            let adam = matches!(c.optimizer, OptimizerKind::Adam { .. });
            ui.horizontal(|ui| {
                if ui.selectable_label(!adam, "SGD").clicked() && adam {
                    c.optimizer = OptimizerKind::Sgd { momentum: 0.9, nesterov: true };
                    c.lr = TrainConfig::default_lr(c.model);
                }
                if ui.selectable_label(adam, "Adam").clicked() && !adam {
                    c.optimizer = OptimizerKind::adam();
                    c.lr = 1e-3;
                }
            });
            ui.end_row();
            ui.label("learning rate");
            ui.add(egui::DragValue::new(&mut c.lr).range(1e-5..=1.0).speed(0.0005));
            ui.end_row();
            ui.label("schedule");
            let cosine = matches!(c.schedule, LrSchedule::Cosine { .. });
            ui.horizontal(|ui| {
                if ui.selectable_label(cosine, "cosine").clicked() {
                    c.schedule = LrSchedule::Cosine { final_frac: 0.0 };
                }
                if ui.selectable_label(c.schedule == LrSchedule::Constant, "constant").clicked() {
                    c.schedule = LrSchedule::Constant;
                }
            });
            ui.end_row();
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut c.seed));
            ui.end_row();
        });
    }

    fn link_controls(&mut self, ui: &mut egui::Ui) {
        if ui.button("Copy link to these settings").clicked() {
            let link = self.link();
            ui.ctx().copy_text(link.clone());
            self.message = Some((false, format!("copied {link}")));
        }
        ui.label("Open a link:");
        ui.text_edit_singleline(&mut self.link_input);
        if ui.button("Open link").clicked() {
            let link = self.link_input.trim().to_string();
            self.open_link(&link);
        }
        ui.horizontal_wrapped(|ui| {
            let has = self.session.as_ref().is_some_and(|s| s.outcome.is_some());
            if ui.add_enabled(has, egui::Button::new("Export run (JSON)")).clicked() {
                self.export_run();
            }
            if ui.add_enabled(self.session.is_some(), egui::Button::new("Export curves (CSV)")).clicked() {
                self.export_curves();
            }
            if ui.button("Save view (PNG)").clicked() {
                let slot: Arc<std::sync::Mutex<Option<Arc<egui::ColorImage>>>> = Arc::default();
                let (inbox, ctx) = (slot.clone(), ui.ctx().clone());
                ui.ctx().request_screenshot(move |image| {
                    if let Ok(mut s) = inbox.lock() {
                        *s = Some(image);
                    }
                    ctx.request_repaint();
                });
                self.screenshot = Some(slot);
            }
        });
        #[cfg(not(target_arch = "wasm32"))]
        if ui.button("Open saved run (path above)").clicked() {
            let path = self.path_input.trim().to_string();
            if path.is_empty() {
                let hint = "type the path of a saved run (a ticketlab JSON file) in the folder field above first";
                self.message = Some((true, hint.into()));
            } else {
                match crate::results::read_saved(std::path::Path::new(&path)) {
                    Ok(bytes) => self.open_saved(&path, &bytes),
                    Err(e) => self.message = Some((true, format!("{path}: {e}"))),
                }
            }
        }
        #[cfg(target_arch = "wasm32")]
        if ui.add_enabled(!self.files_busy(), egui::Button::new("Open saved run…")).clicked() {
            self.pick_saved_run();
        }
    }

    fn open_saved(&mut self, file: &str, bytes: &[u8]) {
        match parse_saved_run(file, bytes) {
            Ok(outcome) => {
                self.config = outcome.config().clone();
                self.tab = tab_for(&self.config);
                self.queue.clear();
                self.autostart = false;
                self.session = Some(Session::viewer(outcome));
                self.views.clear();
                self.message = Some((false, "opened a saved run".into()));
            }
            Err(e) => self.message = Some((true, e)),
        }
    }

    fn export_run(&mut self) {
        let Some(outcome) = self.session.as_ref().and_then(|s| s.outcome.as_ref()) else { return };
        let name = format!("ticketlab-{}-seed{}.json", outcome.config().method, outcome.config().seed);
        let json = serde_json::to_string_pretty(outcome).unwrap_or_default();
        self.save_file(&name, json.as_bytes(), "application/json");
    }

    fn export_curves(&mut self) {
        let Some(s) = &self.session else { return };
        let name = format!("ticketlab-{}-seed{}-curves.csv", s.config.method, s.config.seed);
        let csv = curves_csv(s);
        self.save_file(&name, csv.as_bytes(), "text/csv");
    }

    /// Natively: a file in the working directory; in the browser: a download.
    fn save_file(&mut self, name: &str, bytes: &[u8], mime: &str) {
        #[cfg(not(target_arch = "wasm32"))]
        let result = {
            let _ = mime;
            std::fs::write(name, bytes)
                .map(|_| {
                    format!("wrote {}", std::path::Path::new(name).canonicalize().unwrap_or(name.into()).display())
                })
                .map_err(|e| format!("could not write {name}: {e}"))
        };
        #[cfg(target_arch = "wasm32")]
        let result = web::download(name, bytes, mime).map(|_| format!("downloaded {name}"));
        self.message = Some(match result {
            Ok(m) => (false, m),
            Err(e) => (true, e),
        });
    }

    /// A screenshot arrived: save it as PNG.
    fn take_screenshot(&mut self) {
        let Some(slot) = &self.screenshot else { return };
        let image = slot.lock().ok().and_then(|mut s| s.take());
        if let Some(image) = image {
            self.screenshot = None;
            match export::png(&image) {
                Ok(bytes) => self.save_file("ticketlab-view.png", &bytes, "image/png"),
                Err(e) => self.message = Some((true, e)),
            }
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.heading("ticketlab");
            ui.separator();
            ui.label(format!("backend: {}", self.backend.label));
            if let Some(n) = &self.backend.notice {
                ui.colored_label(ui.visuals().warn_fg_color, n);
            }
            let mut reset = false;
            if let Some(s) = &mut self.session {
                ui.separator();
                let label = if s.running { "Pause" } else { "Play" };
                if ui.add_enabled(!s.is_done(), egui::Button::new(label)).clicked() {
                    s.set_running(!s.running);
                }
                if ui.add_enabled(!s.running && !s.is_done(), egui::Button::new("Step")).clicked() {
                    s.step();
                }
                reset = ui.button("Reset").clicked();
                if let Some(t) = &s.status {
                    // A large test set takes a while: say so rather than stand still at the step before.
                    let text = match s.testing {
                        Some(images) => format!("testing on {images} images"),
                        None => format!("step {}/{}", t.step, t.total_steps),
                    };
                    ui.add(
                        egui::ProgressBar::new(t.step as f32 / t.total_steps.max(1) as f32)
                            .desired_width(160.0)
                            .text(text),
                    );
                    ui.label(format!("epoch {:.2} · {:.0} images/s", t.epoch, s.images_per_second));
                }
                // Once done, the header says so: the last stage's name alone reads as if it were still running.
                let headline = match (&s.outcome, s.stage()) {
                    (Some(outcome), _) => Some(
                        outcome
                            .test_accuracy()
                            .map_or("finished".into(), |a| format!("finished · test accuracy {:.1}%", 100.0 * a)),
                    ),
                    (None, Some(stage)) => Some(stage.label.clone()),
                    (None, None) => None,
                };
                if let Some(headline) = headline {
                    ui.label(headline);
                }
                if !self.queue.is_empty() {
                    ui.label(format!("· {} more queued", self.queue.len()));
                }
            }
            if reset {
                let config = self.session.as_ref().map(|s| s.config.clone()).unwrap_or_else(|| self.config.clone());
                self.start(config, false, ui.ctx());
            }
        });
        if let Some((is_error, m)) = &self.message {
            let color = if *is_error { ui.visuals().error_fg_color } else { ui.visuals().weak_text_color() };
            ui.colored_label(color, m);
        }
        if let Some((preset, verdict)) = &self.preset {
            preset_verdict(ui, preset, verdict.as_ref(), self.history.len());
        }
        if let Some(e) = self.session.as_ref().and_then(|s| s.error.as_ref()) {
            ui.colored_label(ui.visuals().error_fg_color, format!("The run stopped: {e}"));
        }
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.tab, Tab::Training, "Training");
            ui.selectable_value(&mut self.tab, Tab::Tickets, "Tickets forming");
            ui.selectable_value(&mut self.tab, Tab::Topology, "Topology evolving");
            ui.selectable_value(&mut self.tab, Tab::Ensembles, "Ensembles combining");
        });
    }

    /// A one-line progress summary, also shown as the window or page title: the browser test reads the backend,
    /// the progress, the first train loss (which a link must reproduce) and the data brought in there.
    fn progress_line(&self) -> String {
        let data = self
            .user_data
            .as_ref()
            .map(|d| format!(" data={}:{}+{}", d.splits.name, d.splits.train.len(), d.splits.test.len()));
        let data = data.unwrap_or_default();
        let Some(s) = &self.session else { return format!("ticketlab{data}") };
        let step = s.status.as_ref().map_or(0, |t| t.step);
        let stage = s.stage();
        let train = stage.and_then(|st| st.train.last()).map(|p| format!(" loss={:.4}", p[1])).unwrap_or_default();
        let test = stage.and_then(|st| st.test.last()).map(|p| format!(" test={:.4}", p[2])).unwrap_or_default();
        let first = s.stages.first().and_then(|st| st.train.first()).map(|p| format!(" first={:.6}", p[1]));
        let backend = self.backend.label.split_whitespace().next().unwrap_or_default();
        let done = if s.outcome.is_some() { " done" } else { "" };
        format!(
            "ticketlab step={step}{train}{test}{} seed={} backend={backend}{done}{data}",
            first.unwrap_or_default(),
            s.config.seed
        )
    }
}

/// The view that shows a configuration's method best.
fn tab_for(config: &TrainConfig) -> Tab {
    if config.ensemble.kind != EnsembleKind::None {
        Tab::Ensembles
    } else if config.method.is_iterative() {
        Tab::Tickets
    } else if config.method.is_dynamic() {
        Tab::Topology
    } else {
        Tab::Training
    }
}

impl eframe::App for TicketlabApp {
    /// Everything but drawing: eframe calls this before each frame, and also while the window is hidden (when a
    /// repaint was asked for), so a run's events are still taken in, and its stages thinned, while minimised.
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        #[cfg(target_arch = "wasm32")]
        self.poll_files();
        self.take_screenshot();
        // The first run starts by itself, so opening the app shows a network training.
        if self.session.is_none() && self.autostart {
            self.autostart = false;
            self.tab = tab_for(&self.config);
            self.start(self.config.clone(), true, ctx);
        }
        if let Some(s) = &mut self.session {
            s.update();
            if s.busy() {
                ctx.request_repaint_after(Duration::from_millis(30));
            }
        } else {
            ctx.request_repaint_after(Duration::from_millis(100));
        }
        if self.files_busy() {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        self.advance_queue(ctx);
        let title = self.progress_line();
        if title != self.title {
            set_title(ctx, &title);
            self.title = title;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        egui::Panel::top("controls").show(ui, |ui| self.controls(ui));
        egui::Panel::left("setup").resizable(true).default_size(270.0).show(ui, |ui| self.setup_panel(ui));
        self.dropped_files(&ctx);
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(s) = &self.session else {
                ui.label("Choose a preset or press “Apply and train”.");
                return;
            };
            egui::ScrollArea::vertical().show(ui, |ui| match self.tab {
                Tab::Training => views::training(ui, s, &self.history, self.test_set.as_deref(), &mut self.views),
                Tab::Tickets => views::tickets(ui, s, &mut self.views),
                Tab::Topology => views::topology(ui, s, &mut self.views),
                Tab::Ensembles => views::ensembles(ui, s),
            });
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Ok(json) = serde_json::to_string(&self.config) {
            storage.set_string(STORAGE_KEY, json);
        }
    }
}

fn set_title(ctx: &egui::Context, title: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        let _ = ctx;
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(title);
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.to_string()));
}

/// A preset's claim, and its verdict with the margins once every run finished (until then, how many did).
fn preset_verdict(ui: &mut egui::Ui, preset: &Preset, verdict: Option<&Verdict>, finished: usize) {
    ui.label(egui::RichText::new(format!("Claim: {}", preset.claim)).strong());
    let Some(v) = verdict else {
        let total = preset.runs(&PRESET_SEEDS).len();
        ui.label(format!(
            "{finished} of {total} runs finished ({} seeds); the verdict shows when all have.",
            PRESET_SEEDS.len()
        ));
        return;
    };
    for c in &v.checks {
        let color = if c.held { egui::Color32::from_rgb(0, 140, 70) } else { ui.visuals().warn_fg_color };
        ui.colored_label(color, format!("{}: {} — {}", c.word(), c.statement, c.numbers));
    }
    ui.label(egui::RichText::new(format!("The claim: {}.", v.word())).strong());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link of issue 14 asked for 10⁸ synthetic images through the JSON form of `dataset`, which skipped the
    /// size check, and the app started it by itself (an allocation abort). It is refused, and nothing starts.
    #[test]
    fn a_refused_link_starts_no_run() {
        let backend = || Backend { device: burn::prelude::Device::flex(), label: "CPU".into(), notice: None };
        let hostile = "ticketlab://run?v=1&dataset=%7B%22kind%22%3A%22synthetic%22%2C%22train%22%3A100000000%2C%22test%22%3A10%7D";
        let app = TicketlabApp::new(backend(), None, Some(hostile));
        assert!(!app.autostart && app.session.is_none(), "nothing starts");
        assert!(matches!(&app.message, Some((true, m)) if m.contains("sizes must be")), "{:?}", app.message);
        assert_eq!(app.config, presets::default_run(), "the settings stay");
        let good = TicketlabApp::new(backend(), None, Some("ticketlab://run?v=1&seed=7"));
        assert!(good.autostart && good.config.seed == 7, "a valid link's run starts by itself");
    }
}
