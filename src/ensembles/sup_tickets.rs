//! Sup-tickets (Yin et al., Superposing Many Tickets into One, 2022): a sparse run whose last part is a series of
//! cyclic learning-rate cycles, each starting with a re-exploration; the cycles' tickets are averaged into one
//! network, re-pruned to the same budget, with BatchNorm recalibrated.

use burn::prelude::*;

use super::{
    Built, Evaluator, Member, advance, dense_run_flops, derived_seed, member_result, regrow_scores, train_member,
};
use crate::config::{Regrow, TrainConfig};
use crate::error::TrainError;
use crate::mask::Masks;
use crate::model::Network;
use crate::pace::{News, Pacer};
use crate::results::{Extras, SupCycle, SupTicketsExtras};
use crate::sparsity::prune::{Budget, Scope, keep_top, magnitudes};
use crate::sparsity::reexplore;
use crate::train::{Recalibration, TrainData, Trainer};

pub(super) async fn sup_tickets(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let total = Trainer::with_data(config.clone(), data.clone(), device.clone())?.total_steps();
    let cycles = s.members;
    let cycle_len = (s.cyclic_fraction * total as f64).round() as usize / cycles;
    if cycle_len < 2 || cycles * cycle_len >= total {
        return Err(TrainError::Config(format!(
            "Sup-tickets needs at least 2 steps per cycle and some steps before them: {total} steps, a cyclic share of {} and {cycles} cycles",
            s.cyclic_fraction
        )));
    }
    let base_steps = total - cycles * cycle_len;
    // The base run: the configuration's schedule compressed into the steps before the cycles.
    let mut t =
        Trainer::with_data(TrainConfig { steps: Some(base_steps), ..config.clone() }, data.clone(), device.clone())?;
    let ev = Evaluator::of(&t);
    pacer.news(News::Stage(format!("Sup-tickets base run: {base_steps} steps ({})", config.schedule)));
    advance(&mut t, base_steps, None, pacer).await?;
    let base_accuracy = ev.test(t.net(), t.sparse_plan()).await?.0.accuracy;
    // The cycles: no mask updates inside a cycle; the step counter runs on to the full length.
    let method = config.method;
    t.freeze_masks();
    t.extend_to(total);
    let budget = t.masks().active();
    let (low, high) = (config.lr * s.cycle_low, config.lr * s.cycle_high);
    let triangle = move |step: usize| -> f64 {
        let phase = ((step - base_steps) % cycle_len) as f64 / cycle_len as f64;
        low + (high - low) * (1.0 - (2.0 * phase - 1.0).abs())
    };
    let regrow = Regrow::for_method(method);
    let mut members = vec![];
    let mut records = vec![];
    let mut sup: Option<(Network, Masks)> = None;
    for c in 0..cycles {
        let (a, b) = (base_steps + c * cycle_len, base_steps + (c + 1) * cycle_len);
        let mut reexplored = 0;
        if s.cycle_reexplore > 0.0 {
            let scores = regrow_scores(&mut t, regrow, derived_seed(config.seed, "sup-regrow", c));
            let (masks, dropped) =
                reexplore(t.net(), t.masks(), s.cycle_reexplore, Scope::Layerwise, scores, device).await?;
            reexplored = dropped;
            t.set_masks(masks);
        }
        pacer.news(News::Stage(format!(
            "Sup-tickets cycle {}/{cycles}: steps {a}..{b}, lr {low:.3e} → {high:.3e} → {low:.3e}",
            c + 1
        )));
        advance(&mut t, b, Some(&triangle), pacer).await?;
        let ticket = Member::of(&ev, format!("cycle {}", c + 1), &t).await?;
        // Superpose as the reference code does (CAA): the previous superposed network, already re-pruned, and this
        // cycle's ticket weighted 1/(c+1), then re-pruned globally by magnitude to the same budget.
        let mean = match &sup {
            None => ticket.net.clone(),
            Some((net, _)) => net.interpolate(&ticket.net, 1.0 / (c + 1) as f64),
        };
        let dense = Masks::dense(t.spec());
        let kept = keep_top(&dense, magnitudes(&mean, &dense), &Budget::Global(budget), device).await?;
        let mut pruned = mean;
        for layer in &kept.layers {
            let m = Tensor::<1>::from_data(TensorData::new(layer.bits.to_f32(), [layer.bits.len()]), device);
            pruned.params[layer.param] = pruned.params[layer.param].clone() * m;
        }
        let pruned = Recalibration::of(&t).run(&pruned, &[], s.bn_batches, derived_seed(config.seed, "sup-bn", c));
        let superposed_accuracy = ev.test(&pruned, &[]).await?.0.accuracy;
        records.push(SupCycle {
            cycle: c + 1,
            start_step: a,
            end_step: b,
            reexplored,
            ticket_accuracy: ticket.test.accuracy,
            superposed_accuracy,
        });
        sup = Some((pruned, kept));
        members.push(ticket);
    }
    let (sup_net, sup_masks) = sup.expect("at least two cycles");
    let superposed =
        member_result(t.spec(), "superposed", ev.test(&sup_net, &[]).await?.0, &sup_masks, t.train_flops());
    let last = members.last().expect("at least two cycles");
    let final_network = member_result(t.spec(), "final network", last.test.clone(), &last.masks, t.train_flops());
    let superposed_mask_iou = sup_masks.overlap(&last.masks).1.iou;
    pacer.news(News::Stage(format!("Sup-tickets comparison: the configuration trained normally for {total} steps")));
    let standard = train_member(config.clone(), data, device, pacer).await?;
    let standard_run = Member::of(&ev, "standard run".into(), &standard).await?.result(standard.spec());
    let extras = Extras::SupTickets(Box::new(SupTicketsExtras {
        method,
        base_steps,
        base_accuracy,
        cycle_steps: cycle_len,
        cycle_lr: (low, high),
        cycles: records,
        superposed,
        final_network,
        standard_run,
        superposed_mask_iou,
    }));
    Ok(Built { ev, members, train_flops: t.train_flops(), dense_train_flops: dense_run_flops(&t), extras, gate: None })
}
