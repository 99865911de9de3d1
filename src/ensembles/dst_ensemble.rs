//! FreeTickets' DST Ensemble (Liu et al., Deep Ensembling with No Overhead for either Training or Testing, ICLR
//! 2022): M independent dynamic sparse runs (seeds from `member_seed`), their softmax outputs averaged.

use burn::prelude::Device;

use super::{Built, Evaluator, Member, dense_run_flops, dynamic, iou_matrix, member_seed, train_member};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::pace::{News, Pacer};
use crate::results::{DstEnsembleExtras, Extras};
use crate::train::TrainData;

pub(super) async fn dst_ensemble(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let base = dynamic(config);
    let mut members = vec![];
    let mut seeds = vec![];
    let mut ev = None;
    let (mut flops, mut dense_flops) = (0.0, 0.0);
    for m in 0..config.ensemble.members {
        let seed = member_seed(config.seed, m);
        pacer.news(News::Stage(format!(
            "member {}/{}: {} from seed {seed}",
            m + 1,
            config.ensemble.members,
            base.method
        )));
        let t = train_member(TrainConfig { seed, ..base.clone() }, data.clone(), device, pacer).await?;
        let e = ev.get_or_insert_with(|| Evaluator::of(&t));
        dense_flops = dense_run_flops(&t);
        flops += t.train_flops();
        members.push(Member::of(e, format!("seed {seed}"), &t).await?);
        seeds.push(seed);
    }
    let mask_iou = iou_matrix(&members.iter().map(|m| &m.masks).collect::<Vec<_>>());
    let extras = Extras::DstEnsemble(DstEnsembleExtras { method: base.method, seeds, mask_iou });
    let ev = ev.expect("at least two members");
    Ok(Built { ev, members, train_flops: flops, dense_train_flops: dense_flops, extras, gate: None })
}
