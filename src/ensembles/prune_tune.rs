//! Prune-and-Tune ensembles (Whitaker & Whitley, Prune and Tune Ensembles, AAAI 2022): a dense parent, children
//! pruned from it in anti-random pairs (complementary halves) and each tuned briefly with a one-cycle learning rate;
//! their predictions are averaged.

use burn::prelude::Device;

use super::{Built, Evaluator, Member, advance, dense_run_flops, derived_seed, train_member};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::mask::{Bits, Masks};
use crate::pace::{News, Pacer};
use crate::results::{Extras, PruneTuneExtras};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::sparsity::Method;
use crate::train::{TrainData, Trainer};

/// Prune-and-Tune's anti-random pair: in every prunable layer but the last, the first mask keeps a random half
/// (⌊active / 2⌋) of the parent's active weights and the second the rest; the last layer stays as the parent's in
/// both.
pub fn anti_random_pair(parent: &Masks, rng: &mut Rng) -> (Masks, Masks) {
    let (mut a, mut b) = (parent.clone(), parent.clone());
    let last = parent.layers.len().saturating_sub(1);
    for (l, layer) in parent.layers.iter().enumerate().take(last) {
        let active = layer.bits.ones_indices();
        let half = Bits::random(active.len(), active.len() / 2, rng);
        let (mut first, mut second) = (Bits::zeros(layer.bits.len()), Bits::zeros(layer.bits.len()));
        for (j, &i) in active.iter().enumerate() {
            if half.get(j) { first.set(i, true) } else { second.set(i, true) }
        }
        a.layers[l].bits = first;
        b.layers[l].bits = second;
    }
    (a, b)
}

pub(super) async fn prune_tune(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let parent_config =
        TrainConfig { schedule: LrSchedule::Linear { hold_frac: 0.5, final_frac: 0.0 }, ..config.clone() };
    pacer.news(News::Stage("Prune-and-Tune parent: LR flat for half the run, then linear decay".into()));
    let parent = train_member(parent_config, data.clone(), device, pacer).await?;
    let ev = Evaluator::of(&parent);
    let parent_result = Member::of(&ev, "parent".into(), &parent).await?.result(parent.spec());
    let tune_steps = ((s.tune_fraction * parent.total_steps() as f64).round() as usize).max(1);
    let mut flops = parent.train_flops();
    let mut members = vec![];
    let mut complementary = true;
    for pair in 0..s.members / 2 {
        let (a, b) =
            anti_random_pair(parent.masks(), &mut Rng::stream(config.seed, "prune-tune-pair").fork(pair as u64));
        let last = parent.masks().layers.len() - 1;
        for l in 0..=last {
            let (x, y, p) = (&a.layers[l].bits, &b.layers[l].bits, &parent.masks().layers[l].bits);
            complementary &= if l == last { x == p && y == p } else { x.and(y).count_ones() == 0 && &x.or(y) == p };
        }
        for (side, masks) in [("A", a), ("B", b)] {
            let k = members.len();
            let data_seed = derived_seed(config.seed, "prune-tune-data", k);
            let child = TrainConfig {
                method: Method::Static,
                steps: Some(tune_steps),
                lr: config.lr * s.tune_lr,
                schedule: LrSchedule::OneCycle { warmup_frac: 0.1, div_factor: 100.0, final_div: 1e4 },
                data_seed: Some(data_seed),
                ..config.clone()
            };
            pacer.news(News::Stage(format!(
                "Prune-and-Tune child {}/{} (pair {}, mask {side}): {tune_steps} steps one-cycle",
                k + 1,
                s.members,
                pair + 1
            )));
            let mut t = Trainer::with_data(child, data.clone(), device.clone())?;
            t.set_masks(masks);
            t.load_network(parent.net().clone());
            advance(&mut t, tune_steps, None, pacer).await?;
            flops += t.train_flops();
            members.push(Member::of(&ev, format!("child {} (pair {}{side})", k + 1, pair + 1), &t).await?);
        }
    }
    let extras = Extras::PruneTune(Box::new(PruneTuneExtras { parent: parent_result, tune_steps, complementary }));
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_run_flops(&parent), extras, gate: None })
}
