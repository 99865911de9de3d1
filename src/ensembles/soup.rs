//! Model soups (Wortsman et al., Model Soups, ICML 2022): children fine-tuned from one parent with different
//! hyperparameters, their weights averaged — uniformly, and greedily by held-out accuracy — and the interpolation
//! from the parent to the best child.

use std::sync::Arc;

use burn::prelude::Device;

use super::{Built, Evaluator, Member, advance, dense_run_flops, derived_seed, train_member};
use crate::config::TrainConfig;
use crate::data::Normalizer;
use crate::error::TrainError;
use crate::model::Network;
use crate::pace::{News, Pacer};
use crate::results::{Extras, GreedySoup, InterpolationPoint, SoupChild, SoupExtras, SoupMetrics};
use crate::schedule::LrSchedule;
use crate::sparsity::Method;
use crate::train::{TrainData, Trainer};

/// Recalibration reads the same batches for every soup, so soups differ only by their weights.
const RECALIBRATION_SEED: u64 = 0x50_u64;

/// A soup child's learning rate, as a multiple of the configuration's, by child index.
pub const SOUP_LR_FACTORS: [f64; 5] = [1.0, 0.3, 0.1, 0.5, 0.2];

/// The uniform soup: the mean of the networks' parameters (and BatchNorm statistics, to be recalibrated), as a
/// running mean (soup_k = lerp(soup_{k−1}, net_k, 1/k), on the GPU lerp kernel where the weights live on wgpu).
pub fn uniform_soup(nets: &[Network]) -> Option<Network> {
    let mut soup = nets.first()?.clone();
    for (k, net) in nets.iter().enumerate().skip(1) {
        soup = soup.interpolate(net, 1.0 / (k + 1) as f64);
    }
    Some(soup)
}

/// The greedy soup (Wortsman et al.): children sorted by held-out accuracy (best first, ties by index); starting
/// from the best, each candidate joins the running mean only if the held-out accuracy (BatchNorm recalibrated)
/// strictly improves.
pub async fn greedy_soup(
    ev: &Evaluator,
    children: &[Network],
    held_out: &[f64],
) -> Result<(Network, Vec<usize>, Vec<f64>), TrainError> {
    let mut order: Vec<usize> = (0..children.len()).collect();
    order.sort_by(|&a, &b| held_out[b].total_cmp(&held_out[a]).then(a.cmp(&b)));
    let Some(&first) = order.first() else {
        return Err(TrainError::Config("a greedy soup needs at least one child".into()));
    };
    // The running mean of the ingredients' weights, and that mean with recalibrated BatchNorm (what is evaluated).
    let mut soup_mean = children[first].clone();
    let mut soup = soup_mean.clone();
    let mut ingredients = vec![first];
    let mut best = held_out[first];
    let mut path = vec![best];
    for &k in &order[1..] {
        let mean = soup_mean.interpolate(&children[k], 1.0 / (ingredients.len() + 1) as f64);
        let candidate = ev.recalibrated(mean.clone(), RECALIBRATION_SEED);
        let acc = ev.held_out_accuracy(&candidate).await?;
        if acc > best {
            soup = candidate;
            soup_mean = mean;
            best = acc;
            ingredients.push(k);
        }
        path.push(best);
    }
    Ok((soup, ingredients, path))
}

/// Test (and held-out) metrics along (1 − α)·a + α·b for α = 0, 0.1, …, 1 (BatchNorm recalibrated at every
/// inner point; the ends are the trained networks as they are).
pub async fn interpolation_curve(
    ev: &Evaluator,
    a: &Network,
    b: &Network,
) -> Result<Vec<InterpolationPoint>, TrainError> {
    let mut out = vec![];
    for i in 0..=10 {
        let alpha = i as f64 / 10.0;
        let net = match i {
            0 => a.clone(),
            10 => b.clone(),
            _ => ev.recalibrated(a.interpolate(b, alpha), RECALIBRATION_SEED),
        };
        let (test, _) = ev.test(&net, &[]).await?;
        let held_out_accuracy = match &ev.held_out {
            Some(_) => Some(ev.held_out_accuracy(&net).await?),
            None => None,
        };
        out.push(InterpolationPoint {
            alpha,
            test_accuracy: test.accuracy,
            test_nll: test.nll,
            test_ece: test.ece,
            held_out_accuracy,
        });
    }
    Ok(out)
}

pub(super) async fn soup(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let (data, held_out) = match &data.val {
        Some(v) => (data.clone(), format!("the validation split ({} images)", v.len())),
        None => {
            let (train, val) = data.train.split_validation(s.held_out_fraction as f32, config.seed);
            if val.is_empty() {
                return Err(TrainError::Config(format!(
                    "the soup's held-out share {} of {} training images holds out no image (it is taken per \
                     class): hold out a validation split with --val-fraction, or train on more images",
                    s.held_out_fraction,
                    data.train.len()
                )));
            }
            let note = format!(
                "{} images ({}% of the training set) held out from all training",
                val.len(),
                100.0 * s.held_out_fraction
            );
            (
                TrainData {
                    normalizer: Normalizer::fit(&train),
                    train: Arc::new(train),
                    val: Some(Arc::new(val)),
                    test: data.test.clone(),
                },
                note,
            )
        }
    };
    pacer.news(News::Stage("soup parent: the configuration's run".into()));
    let parent = train_member(config.clone(), data.clone(), device, pacer).await?;
    let ev = Evaluator::of(&parent);
    let parent_result = Member::of(&ev, "parent".into(), &parent).await?.result(parent.spec());
    let parent_held_out_accuracy = ev.held_out_accuracy(parent.net()).await?;
    let finetune_steps = ((s.finetune_fraction * parent.total_steps() as f64).round() as usize).max(1);
    let mut flops = parent.train_flops();
    let mut members = vec![];
    let mut children = vec![];
    for k in 0..s.members {
        let lr = config.lr * SOUP_LR_FACTORS[k % SOUP_LR_FACTORS.len()];
        let augment = if k % 2 == 0 { config.augment } else { !config.augment };
        let data_seed = derived_seed(config.seed, "soup-data", k);
        let child = TrainConfig {
            method: Method::Static,
            steps: Some(finetune_steps),
            lr,
            augment,
            schedule: LrSchedule::Cosine { final_frac: 0.0 },
            data_seed: Some(data_seed),
            ..config.clone()
        };
        let name = format!("child {} (lr {lr:.3e}, augment {})", k + 1, if augment { "on" } else { "off" });
        pacer.news(News::Stage(format!("soup {name}: {finetune_steps} steps of fine-tuning")));
        let mut t = Trainer::with_data(child, data.clone(), device.clone())?;
        t.set_masks(parent.masks().clone());
        t.load_network(parent.net().clone());
        advance(&mut t, finetune_steps, None, pacer).await?;
        flops += t.train_flops();
        let held_out_accuracy = ev.held_out_accuracy(t.net()).await?;
        children.push(SoupChild { name: name.clone(), lr, augment, data_seed, held_out_accuracy });
        members.push(Member::of(&ev, name, &t).await?);
    }
    let nets: Vec<Network> = members.iter().map(|m| m.net.clone()).collect();
    let uniform_net = uniform_soup(&nets).expect("at least two children");
    let uniform_net = ev.recalibrated(uniform_net, RECALIBRATION_SEED);
    let uniform = SoupMetrics {
        held_out_accuracy: ev.held_out_accuracy(&uniform_net).await?,
        test: ev.test(&uniform_net, &[]).await?.0,
    };
    let accs: Vec<f64> = children.iter().map(|c| c.held_out_accuracy).collect();
    let (greedy_net, ingredients, held_out_path) = greedy_soup(&ev, &nets, &accs).await?;
    let best_child = ingredients[0];
    let greedy = GreedySoup {
        only_best_child: ingredients.len() == 1,
        held_out_accuracy: *held_out_path.last().expect("one entry per child"),
        test: ev.test(&greedy_net, &[]).await?.0,
        ingredients,
        held_out_path,
    };
    let wise = interpolation_curve(&ev, parent.net(), &nets[best_child]).await?;
    let extras = Extras::Soup(Box::new(SoupExtras {
        held_out,
        parent: parent_result,
        parent_held_out_accuracy,
        finetune_steps,
        children,
        best_child,
        uniform,
        greedy,
        wise,
    }));
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_run_flops(&parent), extras, gate: None })
}
