//! CARD-Deck (Diffenderfer et al., A Winning Hand, NeurIPS 2021): members trained on differently augmented copies
//! of the training set, and a gate that routes each test batch to the member whose training spectrum is closest.

use std::sync::Arc;

use burn::prelude::Device;

use super::{Built, Evaluator, Member, dense_run_flops, member_seed, train_member};
use crate::config::TrainConfig;
use crate::corrupt::{Corruption, Spectrum, corrupt_image, gate, spectral_similarity, spectrum_of};
use crate::data::{Dataset, IMAGE_BYTES};
use crate::error::TrainError;
use crate::metrics::evaluate;
use crate::pace::{News, Pacer};
use crate::results::{CardDeckExtras, Extras};
use crate::rng::Rng;
use crate::train::{TrainData, labels_of};

/// The augmentations of CARD-Deck's members, in order (member k takes entry k mod 6): the first is the plain
/// crop-and-flip pipeline, the others add a share of training images corrupted at random severities.
pub const CARD_AUGMENTATIONS: [Option<Corruption>; 6] = [
    None,
    Some(Corruption::GaussianNoise),
    Some(Corruption::GaussianBlur),
    Some(Corruption::Contrast),
    Some(Corruption::Jpeg),
    Some(Corruption::Fog),
];

/// Member k's training set (CARD-Deck): its corruption is [`CARD_AUGMENTATIONS`]`[k mod 6]`, applied to a share
/// `augment_share` of the images at a severity drawn from 1..=5 per image; the first member's is the clean set
/// itself. Everything is drawn from `seed`. Made one member at a time, so a deck holds one augmented copy at most.
pub fn card_training_set(
    train: &Arc<Dataset>,
    k: usize,
    augment_share: f64,
    seed: u64,
) -> (Option<Corruption>, Arc<Dataset>) {
    let aug = CARD_AUGMENTATIONS[k % CARD_AUGMENTATIONS.len()];
    let Some(c) = aug else { return (None, train.clone()) };
    let base = Rng::stream(seed, "card-augment").fork(k as u64);
    let mut set = Dataset::clone(train);
    for (i, image) in set.images.chunks_exact_mut(IMAGE_BYTES).enumerate() {
        let mut rng = base.fork(i as u64);
        if (rng.uniform() as f64) < augment_share {
            let severity = 1 + rng.below(5) as u8;
            let clean = image.to_vec();
            corrupt_image(c, severity, &clean, &mut rng, image);
        }
    }
    (aug, Arc::new(set))
}

/// The spectrum of a seeded sample of at most 1000 images of `set` (a member's training spectrum for the gate).
pub fn training_spectrum(set: &Dataset, seed: u64) -> Spectrum {
    let mut order = Rng::stream(seed, "card-spectrum").permutation(set.len());
    order.truncate(1000);
    spectrum_of(set, order)
}

/// The gate's choice for each batch of `batch` consecutive images of `set`.
pub fn gate_choices(set: &Dataset, spectra: &[Spectrum], batch: usize) -> Vec<usize> {
    let indices: Vec<usize> = (0..set.len()).collect();
    indices
        .chunks(batch.max(1))
        .map(|chunk| gate(&spectrum_of(set, chunk.iter().copied()), spectra).unwrap_or(0))
        .collect()
}

/// The gated deck's prediction: each batch's rows from the member the gate chose for it.
pub(super) fn gated_probs(choices: &[usize], member_probs: &[&[f32]], batch: usize, classes: usize) -> Vec<f32> {
    let mut out = vec![];
    for (b, &m) in choices.iter().enumerate() {
        let rows = &member_probs[m][b * batch * classes..];
        out.extend_from_slice(&rows[..rows.len().min(batch * classes)]);
    }
    out
}

pub(super) fn count_choices(choices: &[usize], members: usize) -> Vec<usize> {
    let mut counts = vec![0; members];
    for &c in choices {
        counts[c] += 1;
    }
    counts
}

pub(super) async fn card_deck(
    config: &TrainConfig,
    data: TrainData,
    device: &Device,
    pacer: &mut impl Pacer,
) -> Result<Built, TrainError> {
    let s = &config.ensemble;
    let mut members = vec![];
    let mut spectra = vec![];
    let mut augmentations = vec![];
    let mut ev = None;
    let (mut flops, mut dense_flops) = (0.0, 0.0);
    for k in 0..s.members {
        let (aug, set) = card_training_set(&data.train, k, s.augment_share, config.seed);
        let name = aug.map_or("none".to_string(), |c| c.name().to_string());
        spectra.push(training_spectrum(&set, config.seed));
        // The members share the clean set's normaliser, so the gate alone decides who sees a batch.
        let member_data = TrainData { train: set, ..data.clone() };
        let seed = member_seed(config.seed, k);
        pacer.news(News::Stage(format!("CARD-Deck member {}/{}: augmentation {name}", k + 1, s.members)));
        let t = train_member(TrainConfig { seed, ..config.clone() }, member_data, device, pacer).await?;
        let e = ev.get_or_insert_with(|| Evaluator::of(&t));
        dense_flops = dense_run_flops(&t);
        flops += t.train_flops();
        members.push(Member::of(e, format!("{name} (seed {seed})"), &t).await?);
        augmentations.push(name);
    }
    let ev = ev.expect("at least two members");
    let choices = gate_choices(&ev.test, &spectra, s.gate_batch);
    let probs: Vec<&[f32]> = members.iter().map(|m| m.probs.as_slice()).collect();
    let gated = gated_probs(&choices, &probs, s.gate_batch, ev.spec.num_classes);
    let test_spectrum = spectrum_of(&ev.test, 0..ev.test.len());
    let extras = Extras::CardDeck(Box::new(CardDeckExtras {
        augmentations,
        augment_share: s.augment_share,
        gate_batch: s.gate_batch,
        gated: evaluate(&gated, ev.spec.num_classes, &labels_of(&ev.test)),
        gate_choices: count_choices(&choices, members.len()),
        test_similarity: spectra.iter().map(|sp| spectral_similarity(sp, &test_spectrum)).collect(),
    }));
    Ok(Built {
        ev,
        members,
        train_flops: flops,
        dense_train_flops: dense_flops,
        extras,
        gate: Some((spectra, s.gate_batch)),
    })
}
