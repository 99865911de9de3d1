//! The egui application: set up a run, train it on the GPU (WebGPU in the browser) or the CPU, and watch it.
//!
//! The UI talks to the engine through [`Session`] and [`Trainer`](crate::train::Trainer) only; it holds no tensors.

mod session;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use eframe::egui;
use egui_plot::{Legend, Line, Plot};

use crate::config::{DatasetSpec, TrainConfig};
use crate::model::Arch;
use crate::optim::OptimizerKind;
use crate::sparsity::Distribution;

pub use session::{Session, Status};

/// Where training runs, once known.
pub enum Backend {
    /// The GPU device is still being requested (the browser answers asynchronously).
    Starting,
    Ready {
        device: burn::prelude::Device,
        label: String,
        notice: Option<String>,
    },
}

pub struct TicketlabApp {
    config: TrainConfig,
    backend: Rc<RefCell<Backend>>,
    session: Option<Session>,
    message: Option<String>,
    /// The title last set, so it is only sent when it changes (a title command repaints the window).
    title: String,
}

/// Time per frame given to training, so the UI stays responsive.
const FRAME_BUDGET: Duration = Duration::from_millis(25);

impl TicketlabApp {
    pub fn new(backend: Rc<RefCell<Backend>>) -> Self {
        let config = TrainConfig {
            dataset: DatasetSpec::Synthetic { train: 5000, test: 1000 },
            model: Arch::Conv4,
            width: 0.25,
            density: 0.2,
            epochs: 5,
            optimizer: OptimizerKind::adam(),
            lr: 1e-3,
            eval_every: 40,
            ..TrainConfig::default()
        };
        TicketlabApp { config, backend, session: None, message: None, title: String::new() }
    }

    fn reset(&mut self, ctx: &egui::Context) {
        let Backend::Ready { device, .. } = &*self.backend.borrow() else { return };
        if let Err(e) = self.config.validate() {
            self.message = Some(e);
            return;
        }
        // The app's datasets are built in; CIFAR from a folder or file arrives with the data views.
        let DatasetSpec::Synthetic { train, test } = self.config.dataset else { return };
        let data = crate::data::synthetic(self.config.seed, train, test);
        let ctx = ctx.clone();
        match Session::new(self.config.clone(), data, device.clone(), move || ctx.request_repaint()) {
            Ok(session) => {
                self.session = Some(session);
                self.message = None;
            }
            Err(e) => self.message = Some(e.to_string()),
        }
    }

    fn setup_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Setup");
        let c = &mut self.config;
        egui::Grid::new("setup").num_columns(2).spacing([12.0, 6.0]).show(ui, |ui| {
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
            ui.label("density");
            ui.add(egui::Slider::new(&mut c.density, 0.01..=1.0).logarithmic(true));
            ui.end_row();
            ui.label("distribution");
            egui::ComboBox::from_id_salt("distribution").selected_text(c.distribution.name()).show_ui(ui, |ui| {
                for d in Distribution::ALL {
                    ui.selectable_value(&mut c.distribution, d, d.name());
                }
            });
            ui.end_row();
            ui.label("epochs");
            ui.add(egui::DragValue::new(&mut c.epochs).range(1..=200));
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
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut c.seed));
            ui.end_row();
        });
        ui.add_space(8.0);
        let ready = matches!(*self.backend.borrow(), Backend::Ready { .. });
        if ui.add_enabled(ready, egui::Button::new("Apply and reset")).clicked() {
            self.reset(ui.ctx());
        }
        if let Some(m) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("ticketlab");
            ui.separator();
            match &*self.backend.borrow() {
                Backend::Starting => {
                    ui.spinner();
                    ui.label("starting the GPU…");
                }
                Backend::Ready { label, notice, .. } => {
                    ui.label(format!("backend: {label}"));
                    if let Some(n) = notice {
                        ui.colored_label(ui.visuals().warn_fg_color, n);
                    }
                }
            }
            let Some(s) = &mut self.session else { return };
            ui.separator();
            let label = if s.running { "Pause" } else { "Play" };
            if ui.add_enabled(!s.is_done(), egui::Button::new(label)).clicked() {
                s.set_running(!s.running);
            }
            if ui.add_enabled(!s.running && !s.is_done(), egui::Button::new("Step")).clicked() {
                s.step();
            }
            let reset = ui.button("Reset").clicked();
            let t = &s.status;
            ui.label(format!(
                "step {}/{} · epoch {:.2} · {:.0} images/s",
                t.step, t.total_steps, t.epoch, s.images_per_second
            ));
            if reset {
                self.reset(ui.ctx());
            }
        });
    }

    fn training_view(&self, ui: &mut egui::Ui) {
        let Some(s) = &self.session else {
            ui.label("Press “Apply and reset” to create a run.");
            return;
        };
        if let Some(e) = &s.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("The run stopped: {e}"));
        }
        let acc = &s.status.accounting;
        ui.label(format!(
            "{} ×{} · {} of {} weights active ({:.1}%) · {:.1} MFLOPs per image forward ({:.1} if dense) · {:.2e} training FLOPs so far",
            s.config.model,
            s.config.width,
            acc.nonzeros,
            acc.params,
            100.0 * acc.nonzeros as f64 / acc.params as f64,
            acc.sparse_flops / 1e6,
            acc.dense_flops / 1e6,
            s.status.train_flops
        ));
        if let Some(seconds) = s.first_metrics_seconds {
            ui.small(format!("first results {seconds:.1} s after the run started (includes compiling GPU kernels)"));
        }
        ui.small(
            "What am I seeing: the loss and accuracy of a sparse network as it trains. Train values are averaged over \
             the last batches; test values are measured on held-out images.",
        );
        let height = (ui.available_height() / 2.0 - 8.0).max(120.0);
        Plot::new("loss").height(height).legend(Legend::default()).x_axis_label("step").show(ui, |plot| {
            plot.line(Line::new("train loss", s.train_curve.iter().map(|p| [p[0], p[1]]).collect::<Vec<_>>()));
            plot.line(Line::new(
                "test loss",
                s.test_curve.iter().map(|(st, m)| [*st as f64, m.nll]).collect::<Vec<_>>(),
            ));
        });
        Plot::new("accuracy")
            .height(height)
            .legend(Legend::default())
            .x_axis_label("step")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                plot.line(Line::new("train accuracy", s.train_curve.iter().map(|p| [p[0], p[2]]).collect::<Vec<_>>()));
                plot.line(Line::new(
                    "test accuracy",
                    s.test_curve.iter().map(|(st, m)| [*st as f64, m.accuracy]).collect::<Vec<_>>(),
                ));
            });
    }

    /// A one-line progress summary, also shown as the window or page title (the browser test reads it there).
    fn progress_line(&self) -> String {
        match &self.session {
            None => "ticketlab".into(),
            Some(s) => {
                let train = s.train_curve.last().map(|p| format!(" loss={:.4}", p[1])).unwrap_or_default();
                let test = s.test_curve.last().map(|(_, m)| format!(" test={:.4}", m.accuracy)).unwrap_or_default();
                format!("ticketlab step={}{train}{test}", s.status.step)
            }
        }
    }
}

impl eframe::App for TicketlabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        // The first run starts by itself, so opening the app shows a network training.
        if self.session.is_none() && matches!(*self.backend.borrow(), Backend::Ready { .. }) && self.message.is_none() {
            self.reset(ui.ctx());
            if let Some(s) = &mut self.session {
                s.set_running(true);
            }
        }
        if let Some(s) = &mut self.session {
            s.update(FRAME_BUDGET);
            if s.busy() {
                ui.ctx().request_repaint();
            }
        } else {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        let title = self.progress_line();
        if title != self.title {
            set_title(ui.ctx(), &title);
            self.title = title;
        }
        egui::Panel::top("controls").show(ui, |ui| self.controls(ui));
        egui::Panel::left("setup").resizable(false).show(ui, |ui| self.setup_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| self.training_view(ui));
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
