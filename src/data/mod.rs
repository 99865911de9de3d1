//! Image data: CIFAR-10/100 readers (a directory, the official `.tar.gz`, or files already in memory in the
//! browser), a built-in synthetic set that needs no download, and the batch pipeline (normalisation and
//! augmentation) that turns stored bytes into training tensors.
//!
//! Images are stored as bytes in the CIFAR binary layout: per image an R, a G and a B plane of 32×32 row-major
//! pixels, so a parsed file needs no reshuffling and a batch is a straight NCHW copy.

mod batch;
mod cifar;
mod synthetic;

pub use batch::{Augment, Flip, Normalizer, Padding, fill_batch};
pub use cifar::{
    CifarKind, Progress, Unwatched, cifar10_from_files, cifar100_from_files, guess_cifar_kind, load_cifar10,
    load_cifar100, parse_cifar10_records, parse_cifar100_records, read_cifar_files,
};
pub use synthetic::{SYNTHETIC_CLASSES, Split, synthetic, synthetic_image};

use crate::rng::Rng;

pub const IMAGE_SIDE: usize = 32;
pub const CHANNELS: usize = 3;
/// Pixels in one channel plane of one image.
pub const PLANE: usize = IMAGE_SIDE * IMAGE_SIDE;
pub const IMAGE_BYTES: usize = CHANNELS * PLANE;

/// A labelled set of 32×32 RGB images. Invariant: `images.len() == labels.len() * IMAGE_BYTES` and every label is
/// below `num_classes`.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// N×3×32×32 bytes: per image the R, G and B planes, each row-major (the CIFAR binary layout).
    pub images: Vec<u8>,
    pub labels: Vec<u16>,
    pub num_classes: usize,
    pub class_names: Vec<String>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `IMAGE_BYTES` bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// The images at `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * IMAGE_BYTES);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
        }
    }

    /// Split off `fraction` of each class (rounded per class) as a validation set, so both parts keep the class
    /// balance. The choice depends only on `seed` and the labels; both parts keep the original order.
    pub fn split_validation(&self, fraction: f32, seed: u64) -> (Dataset, Dataset) {
        self.split_by_class(fraction, Rng::stream(seed, "validation-split"))
    }

    /// The class-balanced split behind [`Dataset::split_validation`], drawing from `rng`: (kept, split off).
    fn split_by_class(&self, fraction: f32, rng: Rng) -> (Dataset, Dataset) {
        let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        let mut by_class = vec![Vec::new(); self.num_classes];
        for (i, &label) in self.labels.iter().enumerate() {
            by_class[label as usize].push(i);
        }
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for (class, mut members) in by_class.into_iter().enumerate() {
            rng.fork(class as u64).shuffle(&mut members);
            let n_val = ((members.len() as f32 * fraction).round() as usize).min(members.len());
            val.extend_from_slice(&members[..n_val]);
            train.extend_from_slice(&members[n_val..]);
        }
        train.sort_unstable();
        val.sort_unstable();
        (self.subset(&train), self.subset(&val))
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in &self.labels {
            counts[label as usize] += 1;
        }
        counts
    }
}

/// A named data set with its standard train/test split.
#[derive(Clone, Debug)]
pub struct DataSplits {
    pub name: String,
    pub train: Dataset,
    pub test: Dataset,
}

impl DataSplits {
    /// Move `share` of the training images (rounded per class) to the end of the test set: more test images for
    /// comparisons whose margins a small test set cannot resolve (1,000 images leave a paired difference between
    /// two networks about ±1 point of sampling noise). The choice is class-balanced and fixed, the same for every
    /// seed, so every run of a page tests on the same images; the original test images stay first.
    pub fn move_to_test(self, share: f64) -> DataSplits {
        if share <= 0.0 {
            return self;
        }
        let (train, moved) = self.train.split_by_class(share as f32, Rng::stream(0, "test-from-train"));
        let mut test = self.test;
        test.images.extend_from_slice(&moved.images);
        test.labels.extend_from_slice(&moved.labels);
        DataSplits { train, test, ..self }
    }
}

/// Why a data set could not be read. Every message names the file (or directory, or archive) concerned, and
/// content errors give the byte offset of the bad record.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no {dataset} data at {path}: no such file or folder (give the downloaded binary archive, the {folder} folder it unpacks to, or the folder holding that)"
    )]
    NotFound { path: String, dataset: &'static str, folder: &'static str },
    #[error("missing file {0}")]
    MissingFile(String),
    #[error("no training data in {location}: expected at least one of {expected}")]
    NoTrainingData { location: String, expected: String },
    #[error("{0}: the same file was given twice")]
    DuplicateFile(String),
    #[error("{file}: file is empty, expected {record_len}-byte records")]
    EmptyFile { file: String, record_len: usize },
    #[error(
        "{file}: {len} bytes is not a whole number of {record_len}-byte records \
         (offset {offset} starts a partial record)"
    )]
    PartialRecord { file: String, len: usize, record_len: usize, offset: usize },
    /// `kind` is "" for CIFAR-10 and "coarse " or "fine " for CIFAR-100.
    #[error(
        "{file}: record {record} (offset {offset}) has {kind}label {label}, but {dataset} has {classes} {kind}classes"
    )]
    BadLabel {
        file: String,
        record: usize,
        offset: usize,
        kind: &'static str,
        label: u8,
        dataset: &'static str,
        classes: usize,
    },
    #[error("{file}: expected {expected} class names (one per line), found {found}")]
    ClassNames { file: String, expected: usize, found: usize },
    #[error("{0}: not a gzip archive")]
    NotGzip(String),
    /// `entry` is the 0-based index of the archive member being read, with its path when known.
    #[error("{archive}: truncated archive at entry {entry}")]
    TruncatedArchive { archive: String, entry: String },
    #[error("{archive}: corrupt archive at entry {entry}: {source}")]
    CorruptArchive {
        archive: String,
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: more than {max} records, the most an official {dataset} file holds")]
    TooManyRecords { file: String, max: usize, dataset: &'static str },
    #[error("{file}: more than {limit} bytes, too large for this file of the data set")]
    TooLarge { file: String, limit: u64 },
    #[error("{archive}: expands to more than {limit} bytes, more than the official archive")]
    ArchiveTooLarge { archive: String, limit: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images whose first two bytes hold their index, labels cycling through `classes` unevenly.
    fn indexed(n: usize, classes: usize) -> Dataset {
        let mut images = vec![0; n * IMAGE_BYTES];
        for (i, image) in images.chunks_exact_mut(IMAGE_BYTES).enumerate() {
            image[..2].copy_from_slice(&(i as u16).to_le_bytes());
        }
        let labels = (0..n).map(|i| ((i * i) % classes) as u16).collect();
        Dataset { images, labels, num_classes: classes, class_names: vec![] }
    }

    fn ids(ds: &Dataset) -> Vec<usize> {
        (0..ds.len()).map(|i| u16::from_le_bytes([ds.image(i)[0], ds.image(i)[1]]) as usize).collect()
    }

    #[test]
    fn subset_and_class_counts() {
        let ds = indexed(10, 3);
        let sub = ds.subset(&[7, 2, 2]);
        assert_eq!(ids(&sub), [7, 2, 2]);
        assert_eq!(sub.labels, [ds.labels[7], ds.labels[2], ds.labels[2]]);
        assert_eq!(ds.class_counts(), [4, 6, 0]);
        assert_eq!((sub.len(), sub.is_empty(), ds.subset(&[]).is_empty()), (3, false, true));
    }

    #[test]
    fn validation_split_is_stratified_disjoint_and_deterministic() {
        let ds = indexed(1000, 7);
        let (train, val) = ds.split_validation(0.2, 42);
        let counts = ds.class_counts();
        for ((&all, &v), &t) in counts.iter().zip(&val.class_counts()).zip(&train.class_counts()) {
            assert_eq!(v, (all as f32 * 0.2).round() as usize);
            assert_eq!(v + t, all);
        }
        let (train_ids, val_ids) = (ids(&train), ids(&val));
        assert!(train_ids.windows(2).all(|w| w[0] < w[1]) && val_ids.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = train_ids.iter().chain(&val_ids).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());

        assert_eq!(ids(&ds.split_validation(0.2, 42).1), val_ids);
        assert_ne!(ids(&ds.split_validation(0.2, 43).1), val_ids);
        assert_eq!(ds.split_validation(0.0, 1).1.len(), 0);
        assert_eq!(ds.split_validation(f32::NAN, 1).0.len(), 1000);
    }

    #[test]
    fn moving_training_images_to_the_test_set_is_class_balanced_fixed_and_keeps_the_test_images_first() {
        let train = indexed(1000, 7);
        let test = Dataset { images: vec![0xFF; 3 * IMAGE_BYTES], labels: vec![1, 2, 3], ..indexed(0, 7) };
        let splits = DataSplits { name: "indexed".into(), train: train.clone(), test };
        let moved = splits.clone().move_to_test(0.25);
        // Class-balanced, from the training set only, disjoint from what is left.
        let (left, taken) = (ids(&moved.train), ids(&moved.test.subset(&(3..moved.test.len()).collect::<Vec<_>>())));
        let mut all: Vec<usize> = left.iter().chain(&taken).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let per_class = moved.test.class_counts();
        for (class, &all) in train.class_counts().iter().enumerate() {
            let extra = usize::from(class == 1 || class == 2 || class == 3);
            assert_eq!(per_class[class], (all as f32 * 0.25).round() as usize + extra, "class {class}");
        }
        // The original test images come first, unchanged.
        assert_eq!(moved.test.labels[..3], [1, 2, 3]);
        assert!(moved.test.images[..3 * IMAGE_BYTES].iter().all(|&b| b == 0xFF));
        // The same images every time, and none moved at share 0.
        assert_eq!(ids(&splits.clone().move_to_test(0.25).train), left);
        assert_eq!(splits.move_to_test(0.0).train.len(), 1000);
    }
}
