//! FreeTickets' EDST (Liu et al., ICLR 2022): one dynamic sparse run, an exploration phase at the base learning
//! rate, then M refinement phases at a lower one; each phase after the first starts with a large re-exploration
//! (drop and regrow a share of the weights), and the weights at each phase's end are one ticket. The run is longer
//! than the configuration's (`EnsembleSettings::edst_length`, as the reference's 450 epochs against 250), and its
//! FLOPs are counted against one dense run of the configuration's length.

use burn::prelude::Device;

use super::{Built, Evaluator, Member, advance, dense_run_flops, derived_seed, dynamic, iou_matrix, regrow_scores};
use crate::config::{EnsembleSettings, TrainConfig};
use crate::error::TrainError;
use crate::pace::{News, Pacer};
use crate::results::{EdstExtras, EdstPhase, Extras};
use crate::sparsity::reexplore;
use crate::train::{TrainData, Trainer};

/// The length of EDST's run for a configuration of `steps` steps.
pub fn edst_steps(steps: usize, settings: &EnsembleSettings) -> usize {
    ((steps as f64 * settings.edst_length).round() as usize).max(1)
}

/// EDST's phase boundaries: (exploration steps, [(start, end)] of the refinement phases).
pub fn edst_phases(total: usize, settings: &EnsembleSettings) -> Result<(usize, Vec<(usize, usize)>), String> {
    let explore = (settings.exploration_fraction * total as f64).round() as usize;
    let m = settings.members;
    let len = (total - explore.min(total)) / m;
    if len < 2 {
        return Err(format!(
            "EDST needs at least 2 steps per refinement phase: its run of {total} steps ({}× the configuration's), \
             {explore} of them exploring, leaves {} for {m} phases",
            settings.edst_length,
            total - explore.min(total)
        ));
    }
    let phases =
        (0..m).map(|p| (explore + p * len, if p + 1 == m { total } else { explore + (p + 1) * len })).collect();
    Ok((explore, phases))
}

pub(super) async fn edst(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let base = dynamic(config);
    let mut t = Trainer::with_data(base.clone(), data, device.clone())?;
    let ev = Evaluator::of(&t);
    let dense_train_flops = dense_run_flops(&t);
    t.extend_to(edst_steps(t.total_steps(), s));
    let (explore, phases) = edst_phases(t.total_steps(), s).map_err(TrainError::Config)?;
    let (lr, refine, decay) = (config.lr, config.lr * s.refine_lr, config.lr * s.refine_lr * s.refine_decay);
    let bounds = phases.clone();
    let schedule = move |step: usize| -> f64 {
        match bounds.iter().find(|&&(a, b)| step >= a && step < b) {
            None => lr,
            Some(&(a, b)) => {
                if step - a < (b - a).div_ceil(2) {
                    refine
                } else {
                    decay
                }
            }
        }
    };
    pacer.news(News::Stage(format!("EDST exploration: {explore} steps at lr {lr:.3e}")));
    advance(&mut t, explore, Some(&schedule), pacer).await?;
    let mut members = vec![];
    let mut records = vec![];
    for (p, &(a, b)) in phases.iter().enumerate() {
        let (mut reexplored, mut changed) = (0, 0);
        if p > 0 && s.reexplore_fraction > 0.0 {
            let scores = regrow_scores(&mut t, s.regrow, derived_seed(config.seed, "edst-regrow", p));
            let (masks, dropped) =
                reexplore(t.net(), t.masks(), s.reexplore_fraction, s.reexplore_scope, scores, device).await?;
            changed =
                masks.layers.iter().zip(&t.masks().layers).map(|(n, o)| n.bits.and(&o.bits.not()).count_ones()).sum();
            reexplored = dropped;
            t.change_masks(masks, s.reexplore_fraction).await?;
        }
        pacer.news(News::Stage(format!(
            "EDST refinement phase {}/{}: steps {a}..{b}, lr {refine:.3e} then {decay:.3e}{}",
            p + 1,
            phases.len(),
            if p > 0 { format!(", after re-exploring {reexplored} weights") } else { String::new() }
        )));
        advance(&mut t, b, Some(&schedule), pacer).await?;
        members.push(Member::of(&ev, format!("ticket {}", p + 1), &t).await?);
        records.push(EdstPhase { ticket: p + 1, start_step: a, end_step: b, reexplored, changed });
    }
    let mask_iou = iou_matrix(&members.iter().map(|m| &m.masks).collect::<Vec<_>>());
    let extras =
        Extras::Edst(EdstExtras { method: base.method, exploration_steps: explore, phases: records, mask_iou });
    Ok(Built { ev, members, train_flops: t.train_flops(), dense_train_flops, extras, gate: None })
}
