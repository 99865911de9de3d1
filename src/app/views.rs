//! The three views of a run: training (curves, gallery, confusion), tickets forming (IMP rounds) and topology
//! evolving (mask updates). They draw from a [`Session`]'s plain data and hold no tensors.

use std::collections::HashMap;

use eframe::egui::{self, Color32, ColorImage, RichText, TextureHandle, TextureOptions};
use egui_plot::{Bar, BarChart, Corner, Legend, Line, Plot, Points, VLine};

use super::maskview::layer_image;
use super::session::{GALLERY, Session};
use crate::config::EnsembleKind;
use crate::data::Dataset;
use crate::procedure::Outcome;

/// What the views remember between frames.
#[derive(Default)]
pub struct ViewState {
    /// Index of the mask snapshot shown in the topology view, and whether it plays through them.
    pub snapshot: usize,
    pub playing: bool,
    last_advance: f64,
    /// The IMP round shown in the tickets view.
    pub round: usize,
    textures: HashMap<String, TextureHandle>,
}

impl ViewState {
    /// Forget textures (a new run).
    pub fn clear(&mut self) {
        *self = ViewState::default();
    }

    fn texture(&mut self, ctx: &egui::Context, key: String, make: impl FnOnce() -> ColorImage) -> &TextureHandle {
        self.textures.entry(key.clone()).or_insert_with(|| ctx.load_texture(key, make(), TextureOptions::NEAREST))
    }
}

fn explain(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(format!("What am I seeing: {text}")).italics().weak());
}

/// The most points a train curve is drawn with: a long run reports hundreds of thousands, redrawn every frame.
const MAX_CURVE_POINTS: usize = 2000;

/// (step, value in `column`) of the train reports, as the means of [`MAX_CURVE_POINTS`] equal runs of reports at most.
fn curve(reports: &[[f64; 4]], column: usize) -> Vec<[f64; 2]> {
    let per_point = reports.len().div_ceil(MAX_CURVE_POINTS).max(1);
    reports
        .chunks(per_point)
        .map(|chunk| {
            let mean = |c: usize| chunk.iter().map(|p| p[c]).sum::<f64>() / chunk.len() as f64;
            [mean(0), mean(column)]
        })
        .collect()
}

fn plot_height(ui: &egui::Ui, share: f32) -> f32 {
    (ui.available_height() * share).clamp(140.0, 420.0)
}

/// What the run is doing before its first metrics, in place of an empty chart.
fn first_steps(s: &Session) -> String {
    match &s.status {
        _ if s.is_done() => "The run ended before its first metrics.".into(),
        _ if !s.running => "Paused before the first metrics: press Play or Step.".into(),
        Some(status) if status.step > 0 => format!("Step {}: reading back the first metrics…", status.step),
        _ => format!(
            "First step… {:.0} s (on a GPU it compiles the network's kernels: seconds on real hardware, up to a \
             minute on a software renderer)",
            s.elapsed()
        ),
    }
}

/// Loss and accuracy curves, the learning rate, accounting, a gallery of test predictions and the confusion matrix.
pub fn training(
    ui: &mut egui::Ui,
    s: &Session,
    history: &[Outcome],
    test_set: Option<&Dataset>,
    state: &mut ViewState,
) {
    explain(
        ui,
        "a sparse network learning. Train values are averaged over recent batches; test values are measured on \
         held-out images. Finished runs stay on the accuracy plot for comparison.",
    );
    if let Some(status) = &s.status {
        let acc = &status.accounting;
        ui.label(format!(
            "{} ×{} · {} · {} of {} weights active ({:.1}%) · {:.2} MFLOPs per image ({:.2} dense, {:.1}× fewer) · \
             {:.2e} training FLOPs · lr {:.2e}",
            s.config.model,
            s.config.width,
            s.config.method,
            acc.nonzeros,
            acc.params,
            100.0 * acc.nonzeros as f64 / acc.params.max(1) as f64,
            acc.sparse_flops / 1e6,
            acc.dense_flops / 1e6,
            acc.theoretical_speedup,
            status.train_flops,
            status.lr
        ));
    }
    if let Some(seconds) = s.first_metrics_seconds {
        ui.small(format!("first results {seconds:.1} s after the run started"));
    }
    let Some(stage) = s.stage().filter(|_| s.stages.iter().any(|st| !st.train.is_empty())) else {
        ui.label(first_steps(s));
        return;
    };
    let h = plot_height(ui, 0.3);
    ui.columns(2, |cols| {
        Plot::new("loss").height(h).legend(Legend::default()).x_axis_label("step").show(&mut cols[0], |plot| {
            plot.line(Line::new("train loss", curve(&stage.train, 1)));
            let test: Vec<[f64; 2]> = stage.test.iter().map(|p| [p[0], p[1]]).collect();
            plot.line(Line::new("test loss", test.clone()));
            plot.points(Points::new("test loss", test).radius(3.0));
        });
        // Accuracies start low on the left and end high on the right (where a run tested only at its end has its
        // one point): the legend sits top left, above the first steps.
        Plot::new("accuracy")
            .height(h)
            .legend(Legend::default().position(Corner::LeftTop))
            .x_axis_label("step")
            .include_y(0.0)
            .include_y(1.0)
            .show(&mut cols[1], |plot| {
                plot.line(Line::new("train accuracy", curve(&stage.train, 2)));
                let test: Vec<[f64; 2]> = stage.test.iter().map(|p| [p[0], p[2]]).collect();
                plot.line(Line::new("test accuracy", test.clone()));
                plot.points(Points::new("test accuracy", test).radius(3.0));
                for (i, past) in history.iter().enumerate() {
                    if let Outcome::Run(r) = past {
                        let name = format!("#{} {} d={}", i + 1, r.config.method, r.config.density);
                        let pts: Vec<[f64; 2]> =
                            r.curves.iter().filter_map(|p| Some([p.step as f64, p.test_accuracy?])).collect();
                        // A run tested only at its end has one point, which a line would not draw.
                        if pts.len() == 1 {
                            plot.points(Points::new(name, pts).radius(3.0));
                        } else {
                            plot.line(Line::new(name, pts).style(egui_plot::LineStyle::dashed_loose()));
                        }
                    }
                }
            });
    });
    Plot::new("lr").height(80.0).x_axis_label("step").y_axis_label("lr").show(ui, |plot| {
        plot.line(Line::new("learning rate", curve(&stage.train, 3)));
    });
    ui.columns(2, |cols| {
        if let Some(set) = test_set {
            gallery(&mut cols[0], s, set, state);
        }
        if let Some(metrics) = &s.last_test {
            let names = test_set.map(|t| t.class_names.clone()).unwrap_or_default();
            confusion(&mut cols[1], &metrics.confusion, &names);
        }
    });
}

/// The first test images with their predicted class and the top class probabilities.
fn gallery(ui: &mut egui::Ui, s: &Session, set: &Dataset, state: &mut ViewState) {
    ui.strong("Test images: prediction and probabilities");
    let classes = set.num_classes;
    if s.gallery.len() < classes {
        // Ensemble procedures test their networks only when each is trained (no evaluations on the way).
        ui.label(if s.config.ensemble.kind == EnsembleKind::None {
            "(after the first evaluation)"
        } else {
            "(an ensemble's networks are tested as each finishes training: see Ensembles combining)"
        });
        return;
    }
    let n = (s.gallery.len() / classes).min(GALLERY).min(set.len());
    egui::Grid::new("gallery").spacing([6.0, 6.0]).show(ui, |ui| {
        for i in 0..n {
            let tex = state.texture(ui.ctx(), format!("image{i}"), || image_of(set.image(i))).id();
            let probs = &s.gallery[i * classes..(i + 1) * classes];
            let (best, p) = probs.iter().enumerate().fold((0, 0.0f32), |m, (k, &v)| if v > m.1 { (k, v) } else { m });
            let truth = set.labels[i] as usize;
            ui.vertical(|ui| {
                ui.image((tex, egui::vec2(48.0, 48.0)));
                let color = if best == truth { Color32::from_rgb(40, 150, 60) } else { Color32::from_rgb(200, 50, 40) };
                let name = set.class_names.get(best).map(String::as_str).unwrap_or("?");
                ui.label(RichText::new(format!("{name} {:.0}%", 100.0 * p)).small().color(color));
                let (rect, _) = ui.allocate_exact_size(egui::vec2(48.0, 14.0), egui::Sense::hover());
                let w = rect.width() / classes as f32;
                for (k, &v) in probs.iter().enumerate() {
                    let x = rect.left() + k as f32 * w;
                    let bar = egui::Rect::from_min_max(
                        egui::pos2(x, rect.bottom() - v * rect.height()),
                        egui::pos2(x + w * 0.8, rect.bottom()),
                    );
                    let c = if k == truth { Color32::from_rgb(40, 150, 60) } else { Color32::GRAY };
                    ui.painter().rect_filled(bar, 0.0, c);
                }
            });
            if i % 8 == 7 {
                ui.end_row();
            }
        }
    });
    ui.small("Green bar: the true class. Label colour: right (green) or wrong (red).");
}

fn image_of(chw: &[u8]) -> ColorImage {
    let pixels = (0..1024).map(|p| Color32::from_rgb(chw[p], chw[1024 + p], chw[2048 + p])).collect();
    ColorImage::new([32, 32], pixels)
}

/// A square matrix as coloured cells with their values (rows: true class; columns: predicted).
fn confusion(ui: &mut egui::Ui, counts: &[Vec<u32>], names: &[String]) {
    ui.strong("Confusion matrix (rows: true class, columns: predicted)");
    let values: Vec<Vec<f64>> = counts.iter().map(|r| r.iter().map(|&c| c as f64).collect()).collect();
    matrix(ui, &values, names, |v| format!("{v:.0}"));
}

/// Paint a matrix: darker cells for larger values, the value written in each cell.
fn matrix(ui: &mut egui::Ui, values: &[Vec<f64>], names: &[String], fmt: impl Fn(f64) -> String) {
    let n = values.len();
    if n == 0 {
        return;
    }
    let max = values.iter().flatten().cloned().fold(f64::MIN_POSITIVE, f64::max);
    let cell = ((ui.available_width() - 60.0) / n as f32).clamp(14.0, 36.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(60.0 + cell * n as f32, cell * n as f32), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    for (r, row) in values.iter().enumerate() {
        let label = names.get(r).cloned().unwrap_or_else(|| r.to_string());
        let y = rect.top() + r as f32 * cell;
        painter.text(
            egui::pos2(rect.left(), y + cell / 2.0),
            egui::Align2::LEFT_CENTER,
            label.chars().take(8).collect::<String>(),
            egui::FontId::proportional(10.0),
            ui.visuals().text_color(),
        );
        for (c, &v) in row.iter().enumerate() {
            let t = (v / max).clamp(0.0, 1.0) as f32;
            let color =
                Color32::from_rgb((240.0 - 200.0 * t) as u8, (244.0 - 160.0 * t) as u8, (250.0 - 90.0 * t) as u8);
            let cell_rect =
                egui::Rect::from_min_size(egui::pos2(rect.left() + 60.0 + c as f32 * cell, y), egui::vec2(cell, cell));
            painter.rect_filled(cell_rect.shrink(0.5), 0.0, color);
            if cell >= 20.0 {
                let text_color = if t > 0.5 { Color32::WHITE } else { Color32::BLACK };
                painter.text(
                    cell_rect.center(),
                    egui::Align2::CENTER_CENTER,
                    fmt(v),
                    egui::FontId::proportional(9.0),
                    text_color,
                );
            }
        }
    }
}

/// IMP rounds: accuracy against density for the ticket and its controls, the mask and magnitude histogram of a
/// round, and the stability of the tickets.
pub fn tickets(ui: &mut egui::Ui, s: &Session, state: &mut ViewState) {
    explain(
        ui,
        "iterative magnitude pruning. Each round keeps the largest weights of the last trained network, rewinds \
         them, and trains again. A winning ticket keeps its accuracy as weights go; the same mask from fresh random \
         weights (re-init) and a random mask of the same layer densities usually fall behind at high sparsity.",
    );
    if !s.config.method.is_iterative() && s.rounds.is_empty() {
        ui.label(
            "This run is not iterative magnitude pruning: choose the method “imp” or the preset “Lottery ticket”.",
        );
        return;
    }
    if s.rounds.is_empty() {
        ui.label("Round 0 (the dense network) is training…");
        return;
    }
    let h = plot_height(ui, 0.35);
    ui.columns(2, |cols| {
        let series = |f: &dyn Fn(&crate::results::ImpRound) -> Option<f64>| -> Vec<[f64; 2]> {
            // The papers' axis: weights remaining on a log scale, decreasing to the right (x = −log10 %).
            s.rounds.iter().filter_map(|r| Some([-(100.0 * r.density).log10(), f(r)?])).collect()
        };
        Plot::new("ticket accuracy")
            .height(h)
            // The axis spans 100% to the run's final density from the first round on (not, around a lone point,
            // past 100%), so the curve grows toward where it is headed.
            .include_x(-2.0)
            .include_x(-(100.0 * s.config.density.clamp(1e-6, 1.0)).log10())
            // Bottom left stays empty: the controls start at round 1 and the ticket's curve ends top right.
            .legend(Legend::default().position(Corner::LeftBottom))
            .x_axis_label("weights remaining (%, log scale)")
            .x_axis_formatter(|m, _| format!("{:.1}", 10f64.powf(-m.value)))
            .show(&mut cols[0], |plot| {
                type Pick = dyn Fn(&crate::results::ImpRound) -> Option<f64>;
                let ticket: &Pick = &|r| Some(r.ticket.test.accuracy);
                let reinit: &Pick = &|r| r.reinit.as_ref().map(|t| t.test.accuracy);
                let random: &Pick = &|r| r.random.as_ref().map(|t| t.test.accuracy);
                for (name, f, color) in [
                    ("ticket", ticket, Color32::from_rgb(0, 114, 178)),
                    ("random re-init", reinit, Color32::from_rgb(230, 159, 0)),
                    ("random pruning", random, Color32::from_rgb(204, 121, 167)),
                ] {
                    let pts = series(f);
                    plot.line(Line::new(name, pts.clone()).color(color));
                    plot.points(Points::new(name, pts).radius(3.5).color(color));
                }
            });
        let round = state.round.min(s.rounds.len() - 1);
        let r = &s.rounds[round];
        match &r.histogram {
            // Loading checks the edges (one more than the bins); the guard keeps the indexing below local proof.
            Some(hist) if !hist.counts.is_empty() && hist.edges.len() == hist.counts.len() + 1 => {
                let w = hist.edges[1] - hist.edges[0];
                let bars: Vec<Bar> = hist
                    .counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| Bar::new(hist.edges[i] + w / 2.0, c as f64).width(w))
                    .collect();
                Plot::new("magnitudes").height(h).legend(Legend::default()).x_axis_label("log10 |w|").show(
                    &mut cols[1],
                    |plot| {
                        plot.bar_chart(BarChart::new("weights before pruning", bars));
                        for (i, t) in hist.thresholds.iter().enumerate() {
                            if t.is_finite() && *t > 0.0 {
                                let name = if hist.thresholds.len() == 1 {
                                    "threshold".to_string()
                                } else {
                                    format!("layer {i} threshold")
                                };
                                plot.vline(VLine::new(name, t.log10()).color(Color32::from_rgb(200, 50, 40)));
                            }
                        }
                    },
                );
            }
            _ => {
                cols[1].label("Round 0 is the dense network: nothing was pruned yet. Pick a later round below.");
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("round");
        let max = s.rounds.len() - 1;
        ui.add(egui::Slider::new(&mut state.round, 0..=max));
    });
    egui::Grid::new("rounds").striped(true).show(ui, |ui| {
        for h in ["round", "weights left", "ticket", "re-init", "random", "ℓ₂ travelled"] {
            ui.strong(h);
        }
        ui.end_row();
        let pct = |t: &Option<crate::results::Trained>| {
            t.as_ref().map(|t| format!("{:.2}%", 100.0 * t.test.accuracy)).unwrap_or("–".into())
        };
        for r in &s.rounds {
            ui.label(r.round.to_string());
            ui.label(format!("{:.1}%", 100.0 * r.density));
            ui.label(format!("{:.2}%", 100.0 * r.ticket.test.accuracy));
            ui.label(pct(&r.reinit));
            ui.label(pct(&r.random));
            ui.label(format!("{:.2}", r.ticket.l2_from_start));
            ui.end_row();
        }
    });
    let round = state.round.min(s.rounds.len() - 1);
    let masks = s.rounds[round].masks.clone();
    let previous = round.checked_sub(1).map(|p| s.rounds[p].masks.clone());
    ui.strong(format!("Masks after round {round} (red: pruned in this round)"));
    mask_grid(ui, state, &format!("round{round}"), &masks, previous.as_ref(), s);
}

/// Each layer's mask as a picture, with its density.
fn mask_grid(
    ui: &mut egui::Ui,
    state: &mut ViewState,
    key: &str,
    masks: &crate::mask::Masks,
    previous: Option<&crate::mask::Masks>,
    s: &Session,
) {
    let spec = &s.spec;
    // One mask grid shows at a time, and a run may have hundreds of snapshots: keep only this grid's pictures.
    let prefix = format!("masks:{key}/");
    state.textures.retain(|k, _| !k.starts_with("masks:") || k.starts_with(&prefix));
    const CELL: f32 = 170.0;
    let columns = ((ui.available_width() / CELL).floor() as usize).max(1);
    egui::Grid::new(format!("masks/{key}")).spacing([10.0, 10.0]).show(ui, |ui| {
        let mut shown = 0;
        for (l, layer) in masks.layers.iter().enumerate() {
            let Some(param) = spec.params.get(layer.param) else { continue };
            if param.numel() != layer.bits.len() {
                continue;
            }
            let before = previous.and_then(|p| p.layers.get(l)).map(|p| &p.bits);
            let tex =
                state.texture(ui.ctx(), format!("{prefix}{l}"), || layer_image(&param.shape, &layer.bits, before));
            let size = tex.size_vec2();
            // 160 px on the long side (small layers at most 6× their size).
            let scale = (160.0 / size.x.max(size.y)).min(6.0);
            let id = tex.id();
            ui.vertical(|ui| {
                ui.image((id, size * scale));
                ui.small(format!(
                    "{} · {:.1}%",
                    param.name,
                    100.0 * layer.bits.count_ones() as f64 / layer.bits.len() as f64
                ));
            });
            shown += 1;
            if shown % columns == 0 {
                ui.end_row();
            }
        }
    });
}

/// Dynamic sparse training: the mask through time, the drop-fraction schedule, densities, ITOP rate and overlap.
pub fn topology(ui: &mut egui::Ui, s: &Session, state: &mut ViewState) {
    explain(
        ui,
        "dynamic sparse training. Every ΔT steps each layer drops its smallest weights and grows as many new \
         connections (SET: at random, RigL: where the gradient is largest, DST-EE: plus an exploration bonus). \
         Green: just grown; red: just dropped. The in-time over-parameterisation rate is the share of all weights that \
         have been active at some point.",
    );
    let Some(stage) = s.stage() else {
        ui.label("Waiting for the first steps…");
        return;
    };
    if !s.config.method.is_dynamic() {
        ui.label(format!(
            "This run's mask is fixed ({}): choose set, rigl or dst-ee, or the preset “RigL and SET vs a fixed mask at 98%”.",
            s.config.method
        ));
    }
    let h = plot_height(ui, 0.25);
    // A stage keeps `MAX_MASK_UPDATES` of them at most, every stride-th on a long run.
    let updates = &stage.updates;
    ui.columns(3, |cols| {
        let settings = s.config.dst;
        let total = s.status.as_ref().map_or(0, |st| st.total_steps);
        let schedule: Vec<[f64; 2]> = (0..=total)
            .step_by((total / 200).max(1))
            .map(|t| [t as f64, settings.drop_fraction_for(t, total)])
            .collect();
        Plot::new("drop fraction").height(h).legend(Legend::default()).x_axis_label("step").include_y(0.0).show(
            &mut cols[0],
            |plot| {
                plot.line(Line::new("drop fraction", schedule));
                plot.points(
                    Points::new(
                        "updates",
                        updates.iter().map(|u| [u.step as f64, u.drop_fraction]).collect::<Vec<_>>(),
                    )
                    .radius(3.0),
                );
            },
        );
        Plot::new("itop").height(h).legend(Legend::default()).x_axis_label("step").include_y(0.0).include_y(1.0).show(
            &mut cols[1],
            |plot| {
                plot.line(Line::new(
                    "ITOP rate",
                    updates.iter().map(|u| [u.step as f64, u.itop_rate]).collect::<Vec<_>>(),
                ));
                plot.line(Line::new(
                    "IoU with start",
                    updates.iter().map(|u| [u.step as f64, u.iou_initial]).collect::<Vec<_>>(),
                ));
                plot.line(Line::new(
                    "IoU with previous",
                    updates.iter().map(|u| [u.step as f64, u.iou_previous]).collect::<Vec<_>>(),
                ));
            },
        );
        let width = (settings.update_every * updates.stride()) as f64 * 0.8;
        let bars: Vec<Bar> = updates
            .iter()
            .map(|u| Bar::new(u.step as f64, u.grown.iter().sum::<usize>() as f64).width(width))
            .collect();
        Plot::new("regrown").height(h).legend(Legend::default()).x_axis_label("step").show(&mut cols[2], |plot| {
            plot.bar_chart(BarChart::new("dropped = regrown", bars));
        });
    });
    if stage.masks.is_empty() {
        return;
    }
    let last = stage.masks.len() - 1;
    let now = ui.input(|i| i.time);
    if state.playing && now - state.last_advance > 0.4 {
        state.snapshot = if state.snapshot >= last { 0 } else { state.snapshot + 1 };
        state.last_advance = now;
    }
    if state.playing {
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
    }
    ui.horizontal(|ui| {
        if ui.button(if state.playing { "Pause animation" } else { "Play animation" }).clicked() {
            state.playing = !state.playing;
        }
        ui.add(egui::Slider::new(&mut state.snapshot, 0..=last).text("mask snapshot"));
    });
    let i = state.snapshot.min(last);
    let (step, masks) = &stage.masks[i];
    let previous = i.checked_sub(1).map(|p| &stage.masks[p].1);
    ui.label(format!("Mask at step {step}{}", if i == 0 { " (start)" } else { "" }));
    if stage.masks.stride() > 1 {
        ui.small(format!(
            "A long run: one mask in {} is kept (and the latest), so green and red show the changes since the \
             snapshot before.",
            stage.masks.stride()
        ));
    }
    // Density bars per layer.
    let densities = masks.layer_densities();
    Plot::new("densities").height(90.0).x_axis_label("layer").include_y(0.0).include_y(1.0).show(ui, |plot| {
        plot.bar_chart(BarChart::new(
            "density",
            densities.iter().enumerate().map(|(l, &d)| Bar::new(l as f64, d).width(0.7)).collect(),
        ));
    });
    let key = format!("{}/{}", s.stages.len(), i);
    mask_grid(ui, state, &key, masks, previous, s);
}

/// Ensemble procedures: members against the ensemble, accuracy as members join, diversity, soups and robustness.
pub fn ensembles(ui: &mut egui::Ui, s: &Session) {
    explain(
        ui,
        "several sparse networks combined. Averaging the predictions of members that disagree can beat each of \
         them, at a fraction of a dense model's training cost (FreeTickets); soups average weights instead of \
         predictions; CARD-Deck routes each test batch to the member trained on images most like it.",
    );
    let Some(Outcome::Ensemble(r)) = &s.outcome else {
        if s.config.ensemble.kind == EnsembleKind::None {
            ui.label(
                "This run is not an ensemble: pick one in Setup (ensemble) or a preset such as “FreeTickets ensemble”.",
            );
        } else {
            let stage = s.stage().map_or(String::new(), |st| format!(" Now: {}.", st.label));
            ui.label(format!("The members are training; the ensemble appears when all are done.{stage}"));
        }
        return;
    };
    ui.label(format!(
        "{} · {} members · ensemble test accuracy {:.2}% · NLL {:.3} · ECE {:.3} · training FLOPs {:.2}× one dense run{}",
        r.kind,
        r.members.len(),
        100.0 * r.ensemble.accuracy,
        r.ensemble.nll,
        r.ensemble.ece,
        r.cost.train_flops_vs_dense,
        if r.cost.within_dense_budget { " (within the dense budget)" } else { "" }
    ));
    egui::Grid::new("members").striped(true).show(ui, |ui| {
        for h in ["network", "test accuracy", "NLL", "ECE", "non-zeros", "training GFLOPs"] {
            ui.strong(h);
        }
        ui.end_row();
        let row = |ui: &mut egui::Ui, name: &str, t: &crate::metrics::EvalMetrics, nz: String, flops: String| {
            ui.label(name);
            ui.label(format!("{:.2}%", 100.0 * t.accuracy));
            ui.label(format!("{:.3}", t.nll));
            ui.label(format!("{:.3}", t.ece));
            ui.label(nz);
            ui.label(flops);
            ui.end_row();
        };
        for (i, m) in r.members.iter().enumerate() {
            row(
                ui,
                &format!("#{} {}", i + 1, m.name),
                &m.test,
                m.nonzeros.to_string(),
                format!("{:.1}", m.train_flops / 1e9),
            );
        }
        row(ui, "ensemble", &r.ensemble, r.cost.total_nonzeros.to_string(), format!("{:.1}", r.cost.train_flops / 1e9));
        if let Some(d) = &r.dense_baseline {
            row(ui, "dense baseline", &d.test, d.nonzeros.to_string(), format!("{:.1}", d.train_flops / 1e9));
        }
    });
    let h = plot_height(ui, 0.3);
    ui.columns(2, |cols| {
        let joins: Vec<[f64; 2]> = r.accuracy_as_members_join.iter().enumerate().map(|(i, &a)| [(i + 1) as f64, a]).collect();
        let best: Vec<[f64; 2]> = (1..=r.members.len())
            .map(|k| [k as f64, r.members[..k].iter().map(|m| m.test.accuracy).fold(0.0, f64::max)])
            .collect();
        // Both curves tend to rise with k (the best member so far never falls): bottom right stays clear.
        let legend = Legend::default().position(Corner::RightBottom);
        Plot::new("joins").height(h).legend(legend).x_axis_label("members").show(&mut cols[0], |plot| {
            plot.line(Line::new("ensemble of the first k", joins.clone()));
            plot.points(Points::new("ensemble of the first k", joins).radius(3.0));
            plot.line(Line::new("best single member so far", best).style(egui_plot::LineStyle::dashed_loose()));
        });
        match &r.extras {
            crate::results::Extras::Soup(soup) => {
                let wise: Vec<[f64; 2]> = soup.wise.iter().map(|p| [p.alpha, p.test_accuracy]).collect();
                Plot::new("wise").height(h).legend(Legend::default()).x_axis_label("α (parent → best child)").show(&mut cols[1], |plot| {
                    plot.line(Line::new("interpolation", wise));
                    plot.points(Points::new("uniform soup", vec![[1.05, soup.uniform.test.accuracy]]).radius(5.0));
                    plot.points(Points::new("greedy soup", vec![[1.1, soup.greedy.test.accuracy]]).radius(5.0));
                });
            }
            _ if !r.robustness.is_empty() => {
                let rows: Vec<[f64; 2]> = r.robustness.iter().enumerate().map(|(i, c)| [i as f64, c.ensemble]).collect();
                Plot::new("robustness").height(h).legend(Legend::default()).x_axis_label("corruption × severity (see table)").include_y(0.0).show(&mut cols[1], |plot| {
                    plot.bar_chart(BarChart::new("ensemble", rows.iter().map(|p| Bar::new(p[0], p[1]).width(0.35)).collect()));
                    let gated: Vec<Bar> =
                        r.robustness.iter().enumerate().filter_map(|(i, c)| Some(Bar::new(i as f64 + 0.4, c.gated?).width(0.35))).collect();
                    if !gated.is_empty() {
                        plot.bar_chart(BarChart::new("gated (CARD-Deck)", gated));
                    }
                });
            }
            _ => {
                cols[1].label("No interpolation or corruption results for this procedure (add corruptions in the CLI: --corruptions).");
            }
        }
    });
    // Rows by member number, as in the table: names (derived seeds, child learning rates) overflow a row label.
    let names: Vec<String> = (1..=r.members.len()).map(|k| format!("#{k}")).collect();
    ui.columns(2, |cols| {
        cols[0].strong("Disagreement (share of test images predicted differently)");
        matrix(&mut cols[0], &r.disagreement, &names, |v| format!("{:.2}", v));
        cols[1].strong("KL divergence between members (nats)");
        matrix(&mut cols[1], &r.kl, &names, |v| format!("{:.2}", v));
    });
    if !r.robustness.is_empty() {
        ui.strong("Accuracy under corruptions");
        egui::Grid::new("robustness").striped(true).show(ui, |ui| {
            for h in ["corruption", "severity", "members", "ensemble", "gated"] {
                ui.strong(h);
            }
            ui.end_row();
            for c in &r.robustness {
                ui.label(c.corruption.name());
                ui.label(c.severity.to_string());
                ui.label(c.members.iter().map(|a| format!("{:.1}", 100.0 * a)).collect::<Vec<_>>().join(" / "));
                ui.label(format!("{:.1}%", 100.0 * c.ensemble));
                ui.label(c.gated.map_or("–".into(), |g| format!("{:.1}%", 100.0 * g)));
                ui.end_row();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short runs are drawn point for point; a long run from the means of equal runs of reports, within bounds.
    #[test]
    fn a_long_train_curve_is_drawn_from_bounded_means() {
        let reports = |n: usize| (0..n).map(|i| [i as f64, 2.0 * i as f64, 0.0, 0.0]).collect::<Vec<_>>();
        assert_eq!(curve(&reports(3), 1), [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]);
        let long = curve(&reports(10 * MAX_CURVE_POINTS + 5), 1);
        assert!(long.len() <= MAX_CURVE_POINTS, "{}", long.len());
        assert_eq!(long[0], [5.0, 10.0], "the mean of the first 11 reports");
        assert!(long.iter().all(|p| p[1] == 2.0 * p[0]), "each point is a mean of both coordinates");
    }
}
