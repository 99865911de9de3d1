//! Readers for the CIFAR-10 and CIFAR-100 binary versions.
//!
//! A CIFAR-10 record is one label byte followed by 3072 pixel bytes; a CIFAR-100 record has a coarse and a fine
//! label byte first. Files may hold any whole number of records, so cut-down copies (e.g. a test fixture of a few
//! thousand images) load like the originals. All three sources (a directory, the `.tar.gz`, files in memory) feed
//! the same [`Collector`], which validates each file as it arrives, so an archive never needs to be held whole.

use std::path::Path;

use super::{DataError, DataSplits, Dataset, IMAGE_BYTES};

const CIFAR10_NAMES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const CIFAR100_COARSE_NAMES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

const CIFAR100_FINE_NAMES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

/// One label byte of a record: how messages call it and how many classes it may take.
struct LabelByte {
    kind: &'static str,
    classes: usize,
}

const CIFAR10_LABELS: [LabelByte; 1] = [LabelByte { kind: "", classes: 10 }];
const CIFAR100_LABELS: [LabelByte; 2] =
    [LabelByte { kind: "coarse ", classes: 20 }, LabelByte { kind: "fine ", classes: 100 }];

/// Which data set is being read, and for CIFAR-100 which label is kept.
#[derive(Clone, Copy, Debug)]
enum Variant {
    Cifar10,
    Cifar100 { coarse: bool },
}

impl Variant {
    fn dataset(self) -> &'static str {
        match self {
            Variant::Cifar10 => "CIFAR-10",
            Variant::Cifar100 { .. } => "CIFAR-100",
        }
    }

    fn split_name(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar10",
            Variant::Cifar100 { coarse: false } => "cifar100",
            Variant::Cifar100 { coarse: true } => "cifar100-coarse",
        }
    }

    /// The directory the official archive unpacks to.
    fn dir_name(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar-10-batches-bin",
            Variant::Cifar100 { .. } => "cifar-100-binary",
        }
    }

    /// Training files in concatenation order; any non-empty subset of them is accepted.
    fn train_files(self) -> &'static [&'static str] {
        match self {
            Variant::Cifar10 => &CIFAR10_TRAIN_FILES,
            Variant::Cifar100 { .. } => &["train.bin"],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "test_batch.bin",
            Variant::Cifar100 { .. } => "test.bin",
        }
    }

    /// The optional file of class names, one per line.
    fn names_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "batches.meta.txt",
            Variant::Cifar100 { coarse: true } => "coarse_label_names.txt",
            Variant::Cifar100 { coarse: false } => "fine_label_names.txt",
        }
    }

    fn default_names(self) -> &'static [&'static str] {
        match self {
            Variant::Cifar10 => &CIFAR10_NAMES,
            Variant::Cifar100 { coarse: true } => &CIFAR100_COARSE_NAMES,
            Variant::Cifar100 { coarse: false } => &CIFAR100_FINE_NAMES,
        }
    }

    fn label_bytes(self) -> &'static [LabelByte] {
        match self {
            Variant::Cifar10 => &CIFAR10_LABELS,
            Variant::Cifar100 { .. } => &CIFAR100_LABELS,
        }
    }

    /// Which of `label_bytes` becomes the label.
    fn kept_label(self) -> usize {
        match self {
            Variant::Cifar100 { coarse: false } => 1,
            _ => 0,
        }
    }

    fn num_classes(self) -> usize {
        self.label_bytes()[self.kept_label()].classes
    }

    fn parse(self, file_name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u16>), DataError> {
        let labels = self.label_bytes();
        let record_len = labels.len() + IMAGE_BYTES;
        if bytes.is_empty() {
            return Err(DataError::EmptyFile { file: file_name.to_string(), record_len });
        }
        let partial = bytes.len() % record_len;
        if partial != 0 {
            return Err(DataError::PartialRecord {
                file: file_name.to_string(),
                len: bytes.len(),
                record_len,
                offset: bytes.len() - partial,
            });
        }
        let n = bytes.len() / record_len;
        let mut images = Vec::with_capacity(n * IMAGE_BYTES);
        let mut kept = Vec::with_capacity(n);
        for (record, chunk) in bytes.chunks_exact(record_len).enumerate() {
            // Every label byte is checked, not only the kept one: a bad one means the file is not what we think.
            for (label, spec) in chunk.iter().zip(labels) {
                if *label as usize >= spec.classes {
                    return Err(DataError::BadLabel {
                        file: file_name.to_string(),
                        record,
                        offset: record * record_len,
                        kind: spec.kind,
                        label: *label,
                        dataset: self.dataset(),
                        classes: spec.classes,
                    });
                }
            }
            kept.push(chunk[self.kept_label()] as u16);
            images.extend_from_slice(&chunk[labels.len()..]);
        }
        Ok((images, kept))
    }
}

/// Parse a CIFAR-10 binary file (`data_batch_*.bin` or `test_batch.bin`) into pixel bytes and labels.
/// `file_name` is only used in error messages.
pub fn parse_cifar10_records(file_name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    Variant::Cifar10.parse(file_name, bytes)
}

/// Parse a CIFAR-100 binary file (`train.bin` or `test.bin`), keeping the coarse (20-class) or fine (100-class)
/// label. Both label bytes are validated.
pub fn parse_cifar100_records(file_name: &str, bytes: &[u8], coarse: bool) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    Variant::Cifar100 { coarse }.parse(file_name, bytes)
}

/// CIFAR-10 from named files already in memory (what the browser hands over): `data_batch_1.bin` …
/// `data_batch_5.bin` (at least one), `test_batch.bin`, and optionally `batches.meta.txt`. Names may carry a
/// directory prefix; other files are ignored.
pub fn cifar10_from_files(files: &[(String, Vec<u8>)]) -> Result<DataSplits, DataError> {
    from_files(files, Variant::Cifar10)
}

/// CIFAR-100 from named files in memory: `train.bin`, `test.bin`, and optionally `coarse_label_names.txt` /
/// `fine_label_names.txt`.
pub fn cifar100_from_files(files: &[(String, Vec<u8>)], coarse: bool) -> Result<DataSplits, DataError> {
    from_files(files, Variant::Cifar100 { coarse })
}

/// Load CIFAR-10 from the `cifar-10-batches-bin` directory, a directory containing it, or the official
/// `cifar-10-binary.tar.gz`.
pub fn load_cifar10(path: &Path) -> Result<DataSplits, DataError> {
    load(path, Variant::Cifar10)
}

/// Load CIFAR-100 from the `cifar-100-binary` directory, a directory containing it, or the official
/// `cifar-100-binary.tar.gz`, keeping the coarse or the fine labels.
pub fn load_cifar100(path: &Path, coarse: bool) -> Result<DataSplits, DataError> {
    load(path, Variant::Cifar100 { coarse })
}

fn from_files(files: &[(String, Vec<u8>)], variant: Variant) -> Result<DataSplits, DataError> {
    let mut collector = Collector::new(variant, Origin::Memory);
    for (name, bytes) in files {
        collector.add(base_name(name), name, bytes)?;
    }
    collector.finish()
}

fn load(path: &Path, variant: Variant) -> Result<DataSplits, DataError> {
    let metadata = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if !metadata.is_dir() {
        return archive::load(path, variant);
    }
    // Accept the parent of the data directory too, as long as the path itself does not hold the data.
    let nested = path.join(variant.dir_name());
    let dir = if !path.join(variant.test_file()).exists() && nested.is_dir() { nested.as_path() } else { path };
    let mut collector = Collector::new(variant, Origin::Directory(dir));
    let wanted = variant.train_files().iter().copied().chain([variant.test_file(), variant.names_file()]);
    for name in wanted {
        let file = dir.join(name);
        match std::fs::read(&file) {
            Ok(bytes) => collector.add(name, &file.display().to_string(), &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(&file, source)),
        }
    }
    collector.finish()
}

fn io_error(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io { path: path.display().to_string(), source }
}

/// The file name after the last `/` or `\`, so archive members and browser paths match regardless of directory.
fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Where the files come from, for naming missing ones.
enum Origin<'a> {
    Directory(&'a Path),
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Archive(&'a Path),
    Memory,
}

impl Origin<'_> {
    fn location(&self) -> String {
        match self {
            Origin::Directory(path) | Origin::Archive(path) => path.display().to_string(),
            Origin::Memory => "the provided files".to_string(),
        }
    }

    fn file(&self, name: &str) -> String {
        match self {
            Origin::Directory(dir) => dir.join(name).display().to_string(),
            Origin::Archive(archive) => format!("{name} in {}", archive.display()),
            Origin::Memory => name.to_string(),
        }
    }
}

type Parsed = (Vec<u8>, Vec<u16>);

/// Gathers a data set's files one at a time, parsing each as it arrives.
struct Collector<'a> {
    variant: Variant,
    origin: Origin<'a>,
    train: Vec<Option<Parsed>>,
    test: Option<Parsed>,
    names: Option<Vec<String>>,
}

impl<'a> Collector<'a> {
    fn new(variant: Variant, origin: Origin<'a>) -> Self {
        Collector { variant, origin, train: vec![None; variant.train_files().len()], test: None, names: None }
    }

    /// Take in the file called `name` (a base name); `display` names it in errors. Unknown names are ignored.
    fn add(&mut self, name: &str, display: &str, bytes: &[u8]) -> Result<(), DataError> {
        let variant = self.variant;
        let slot_taken = if name == variant.names_file() {
            let taken = self.names.is_some();
            self.names = Some(parse_names(display, bytes, variant.num_classes())?);
            taken
        } else {
            let slot = if name == variant.test_file() {
                &mut self.test
            } else if let Some(i) = variant.train_files().iter().position(|&f| f == name) {
                &mut self.train[i]
            } else {
                return Ok(());
            };
            slot.replace(variant.parse(display, bytes)?).is_some()
        };
        if slot_taken {
            return Err(DataError::DuplicateFile(display.to_string()));
        }
        Ok(())
    }

    fn finish(self) -> Result<DataSplits, DataError> {
        let variant = self.variant;
        let Some((test_images, test_labels)) = self.test else {
            return Err(DataError::MissingFile(self.origin.file(variant.test_file())));
        };
        let parts: Vec<Parsed> = self.train.into_iter().flatten().collect();
        if parts.is_empty() {
            return Err(DataError::NoTrainingData {
                location: self.origin.location(),
                expected: variant.train_files().join(", "),
            });
        }
        let (mut train_images, mut train_labels) = (Vec::new(), Vec::new());
        for (images, labels) in parts {
            train_images.extend_from_slice(&images);
            train_labels.extend_from_slice(&labels);
        }
        let class_names = self.names.unwrap_or_else(|| variant.default_names().iter().map(|s| s.to_string()).collect());
        let dataset = |images, labels| Dataset {
            images,
            labels,
            num_classes: variant.num_classes(),
            class_names: class_names.clone(),
        };
        Ok(DataSplits {
            name: variant.split_name().to_string(),
            train: dataset(train_images, train_labels),
            test: dataset(test_images, test_labels),
        })
    }
}

/// Class names, one per line; blank lines and surrounding whitespace (including `\r`) are ignored.
fn parse_names(display: &str, bytes: &[u8], expected: usize) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != expected {
        return Err(DataError::ClassNames { file: display.to_string(), expected, found: names.len() });
    }
    Ok(names)
}

#[cfg(not(target_arch = "wasm32"))]
mod archive {
    //! Streaming reader for the official `.tar.gz` archives.

    use std::cell::Cell;
    use std::fs::File;
    use std::io::{BufReader, Read, Seek};
    use std::path::Path;
    use std::rc::Rc;

    use super::{Collector, DataError, DataSplits, Origin, Variant, base_name, io_error};

    /// Wraps the compressed file and notes when it has been read to the end, which tells a truncated archive
    /// (the data ran out) from a corrupt one (the data was wrong) whatever error the decoders report.
    struct EofWatch<R> {
        inner: R,
        reached_end: Rc<Cell<bool>>,
    }

    impl<R: Read> Read for EofWatch<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            if n == 0 && !buf.is_empty() {
                self.reached_end.set(true);
            }
            Ok(n)
        }
    }

    /// Whether a member is one of the data set's files; the rest are streamed past without being kept.
    fn is_wanted(variant: Variant, name: &str) -> bool {
        name == variant.test_file() || name == variant.names_file() || variant.train_files().contains(&name)
    }

    pub(super) fn load(path: &Path, variant: Variant) -> Result<DataSplits, DataError> {
        let archive_name = path.display().to_string();
        let mut file = File::open(path).map_err(|source| io_error(path, source))?;
        let mut magic = [0u8; 2];
        let magic_len = file.read(&mut magic).map_err(|source| io_error(path, source))?;
        if magic_len < 2 || magic != [0x1f, 0x8b] {
            return Err(DataError::NotGzip(archive_name));
        }
        file.rewind().map_err(|source| io_error(path, source))?;

        let reached_end = Rc::new(Cell::new(false));
        let watched = EofWatch { inner: file, reached_end: Rc::clone(&reached_end) };
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(watched)));
        let failure = |entry: String, source: std::io::Error| {
            if reached_end.get() {
                DataError::TruncatedArchive { archive: archive_name.clone(), entry }
            } else {
                DataError::CorruptArchive { archive: archive_name.clone(), entry, source }
            }
        };

        let mut collector = Collector::new(variant, Origin::Archive(path));
        let entries = tar.entries().map_err(|source| failure("0".to_string(), source))?;
        let mut seen = 0;
        for (index, entry) in entries.enumerate() {
            seen = index + 1;
            let mut entry = entry.map_err(|source| failure(index.to_string(), source))?;
            let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = base_name(&member);
            if !entry.header().entry_type().is_file() || !is_wanted(variant, name) {
                continue;
            }
            let describe = || format!("{index} ({member})");
            let expected = entry.size();
            // The header's size is untrusted: cap the up-front allocation; the Vec grows if the data is real.
            let mut bytes = Vec::with_capacity(expected.min(1 << 26) as usize);
            entry.read_to_end(&mut bytes).map_err(|source| failure(describe(), source))?;
            if (bytes.len() as u64) < expected {
                return Err(DataError::TruncatedArchive { archive: archive_name.clone(), entry: describe() });
            }
            collector.add(name, &member, &bytes)?;
        }
        // tar stops at its end marker, before the gzip trailer; reading on to it makes the decoder check the CRC,
        // which catches damage inside stored data that no parser could notice.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink())
            .map_err(|source| failure(format!("{seen} (gzip trailer)"), source))?;
        collector.finish()
    }
}

#[cfg(target_arch = "wasm32")]
mod archive {
    use std::path::Path;

    use super::{DataError, DataSplits, Variant};

    pub(super) fn load(path: &Path, _variant: Variant) -> Result<DataSplits, DataError> {
        Err(DataError::ArchiveUnsupported(path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::rng::Rng;

    /// CIFAR-10 file bytes: one record per label, pixels pseudo-random (so archives do not compress away) and
    /// seeded by `tag` so files can be told apart.
    fn cifar10_bytes(labels: &[u8], tag: u64) -> Vec<u8> {
        let mut rng = Rng::new(tag);
        let mut bytes = Vec::new();
        for &label in labels {
            bytes.push(label);
            bytes.extend((0..IMAGE_BYTES).map(|_| rng.next_u32() as u8));
        }
        bytes
    }

    fn labels(n: usize, classes: usize) -> Vec<u8> {
        (0..n).map(|i| (i % classes) as u8).collect()
    }

    /// A fresh, empty directory under the system temp dir, unique to this process and test.
    fn scratch_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ticketlab-data-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The shared data folder next to the crate, falling back to the workspace's location when the crate is built
    /// from elsewhere.
    fn shared_data_dir() -> PathBuf {
        let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        if beside.is_dir() { beside } else { PathBuf::from("/work/shared/data") }
    }

    fn small_cifar10_files() -> Vec<(String, Vec<u8>)> {
        vec![
            ("data_batch_2.bin".to_string(), cifar10_bytes(&labels(4, 10), 2)),
            ("data_batch_1.bin".to_string(), cifar10_bytes(&labels(3, 10), 1)),
            ("test_batch.bin".to_string(), cifar10_bytes(&labels(2, 10), 9)),
            ("readme.html".to_string(), b"<html>".to_vec()),
        ]
    }

    fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (name, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, bytes.as_slice()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn parse_round_trips() {
        let bytes = cifar10_bytes(&[3, 0, 9], 5);
        let (images, labels) = parse_cifar10_records("x.bin", &bytes).unwrap();
        assert_eq!(labels, [3, 0, 9]);
        assert_eq!(images.len(), 3 * IMAGE_BYTES);
        for i in 0..3 {
            let record = &bytes[i * (IMAGE_BYTES + 1)..(i + 1) * (IMAGE_BYTES + 1)];
            assert_eq!(&images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES], &record[1..]);
        }
    }

    #[test]
    fn partial_record_names_file_and_offset() {
        let mut bytes = cifar10_bytes(&[1, 2], 0);
        bytes.extend_from_slice(&[7; 5]);
        let err = parse_cifar10_records("cifar-10-batches-bin/data_batch_3.bin", &bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cifar-10-batches-bin/data_batch_3.bin: 6151 bytes is not a whole number of 3073-byte records \
             (offset 6146 starts a partial record)"
        );
    }

    #[test]
    fn bad_label_names_file_record_and_offset() {
        let mut record_labels = labels(20, 10);
        record_labels[17] = 12;
        let err = parse_cifar10_records("test_batch.bin", &cifar10_bytes(&record_labels, 0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test_batch.bin: record 17 (offset 52241) has label 12, but CIFAR-10 has 10 classes"
        );
    }

    #[test]
    fn empty_file_is_an_error() {
        let err = parse_cifar10_records("data_batch_1.bin", &[]).unwrap_err();
        assert!(matches!(err, DataError::EmptyFile { .. }));
        assert_eq!(err.to_string(), "data_batch_1.bin: file is empty, expected 3073-byte records");
    }

    #[test]
    fn cifar100_keeps_coarse_or_fine_label_and_checks_both() {
        let mut bytes = Vec::new();
        for (coarse, fine) in [(3u8, 99u8), (19, 0), (0, 42)] {
            bytes.extend_from_slice(&[coarse, fine]);
            bytes.extend(std::iter::repeat_n(fine, IMAGE_BYTES));
        }
        let (images, coarse) = parse_cifar100_records("train.bin", &bytes, true).unwrap();
        assert_eq!(coarse, [3, 19, 0]);
        assert_eq!(images[IMAGE_BYTES..].first(), Some(&0));
        assert_eq!(images[2 * IMAGE_BYTES], 42);
        let (_, fine) = parse_cifar100_records("train.bin", &bytes, false).unwrap();
        assert_eq!(fine, [99, 0, 42]);

        // A bad fine label is caught even when only the coarse label is kept.
        bytes[3074 + 1] = 100;
        let err = parse_cifar100_records("train.bin", &bytes, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "train.bin: record 1 (offset 3074) has fine label 100, but CIFAR-100 has 100 fine classes"
        );
        bytes[3074] = 20;
        let err = parse_cifar100_records("train.bin", &bytes, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "train.bin: record 1 (offset 3074) has coarse label 20, but CIFAR-100 has 20 coarse classes"
        );

        let err = parse_cifar100_records("test.bin", &bytes[..3075], true).unwrap_err();
        assert!(err.to_string().contains("3074-byte records (offset 3074"), "{err}");
    }

    #[test]
    fn cifar100_from_files_uses_name_files() {
        let mut record = vec![4u8, 57];
        record.extend(std::iter::repeat_n(0, IMAGE_BYTES));
        let coarse_names: String = (0..20).map(|i| format!("coarse{i}\n")).collect();
        let files = vec![
            ("cifar-100-binary/train.bin".to_string(), record.repeat(3)),
            ("cifar-100-binary/test.bin".to_string(), record.clone()),
            ("coarse_label_names.txt".to_string(), coarse_names.into_bytes()),
        ];
        let coarse = cifar100_from_files(&files, true).unwrap();
        assert_eq!((coarse.name.as_str(), coarse.train.len(), coarse.test.len()), ("cifar100-coarse", 3, 1));
        assert_eq!((coarse.train.num_classes, coarse.train.labels[0]), (20, 4));
        assert_eq!(coarse.train.class_names[4], "coarse4");
        let fine = cifar100_from_files(&files, false).unwrap();
        assert_eq!((fine.train.num_classes, fine.train.labels[0]), (100, 57));
        assert_eq!(fine.train.class_names[57], "pear");
    }

    #[test]
    fn from_files_orders_batches_and_reads_names() {
        let mut files = small_cifar10_files();
        let names = "a\r\nb\n\nc\nd\ne\nf\ng\nh\ni\nj\n\n";
        files.push(("batches.meta.txt".to_string(), names.as_bytes().to_vec()));
        let splits = cifar10_from_files(&files).unwrap();
        assert_eq!(splits.name, "cifar10");
        assert_eq!((splits.train.len(), splits.test.len()), (7, 2));
        // data_batch_1 comes first whatever order the files arrive in.
        let (batch1, _) = parse_cifar10_records("", &files[1].1).unwrap();
        assert_eq!(&splits.train.images[..batch1.len()], batch1.as_slice());
        assert_eq!(splits.train.labels, [0, 1, 2, 0, 1, 2, 3]);
        assert_eq!(splits.train.class_names, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);

        files.last_mut().unwrap().1 = b"a\nb\n".to_vec();
        let err = cifar10_from_files(&files).unwrap_err();
        assert_eq!(err.to_string(), "batches.meta.txt: expected 10 class names (one per line), found 2");
    }

    #[test]
    fn from_files_reports_missing_and_duplicate_files() {
        let files = small_cifar10_files();
        let err = cifar10_from_files(&files[..2]).unwrap_err();
        assert_eq!(err.to_string(), "missing file test_batch.bin");
        let err = cifar10_from_files(&files[2..]).unwrap_err();
        assert!(matches!(err, DataError::NoTrainingData { .. }), "{err}");
        assert!(err.to_string().starts_with("no training data in the provided files"), "{err}");
        let mut twice = files.clone();
        twice.push(("other/data_batch_2.bin".to_string(), files[0].1.clone()));
        let err = cifar10_from_files(&twice).unwrap_err();
        assert_eq!(err.to_string(), "other/data_batch_2.bin: the same file was given twice");
    }

    #[test]
    fn loads_directory_or_its_parent() {
        let parent = scratch_dir("dir");
        let dir = parent.join("cifar-10-batches-bin");
        std::fs::create_dir(&dir).unwrap();
        for (name, bytes) in small_cifar10_files() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        for path in [&dir, &parent] {
            let splits = load_cifar10(path).unwrap();
            assert_eq!((splits.train.len(), splits.test.len()), (7, 2));
            assert_eq!(splits.train.class_names[9], "truck");
        }

        std::fs::write(dir.join("data_batch_4.bin"), &cifar10_bytes(&[1], 0)[..100]).unwrap();
        let err = load_cifar10(&parent).unwrap_err();
        let bad = dir.join("data_batch_4.bin").display().to_string();
        assert!(err.to_string().starts_with(&format!("{bad}: 100 bytes")), "{err}");

        std::fs::remove_file(dir.join("data_batch_4.bin")).unwrap();
        std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
        let err = load_cifar10(&dir).unwrap_err();
        assert_eq!(err.to_string(), format!("missing file {}", dir.join("test_batch.bin").display()));

        let err = load_cifar10(&parent.join("nowhere")).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("nowhere"), "{err}");
        let _ = std::fs::remove_dir_all(&parent);
    }

    #[test]
    fn loads_tar_gz_and_reports_bad_archives() {
        let dir = scratch_dir("archive");
        let members: Vec<(String, Vec<u8>)> = small_cifar10_files()
            .into_iter()
            .map(|(name, bytes)| (format!("cifar-10-batches-bin/{name}"), bytes))
            .collect();
        let archive = tar_gz(&members);
        let path = dir.join("cifar-10-binary.tar.gz");
        std::fs::write(&path, &archive).unwrap();
        let splits = load_cifar10(&path).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (7, 2));
        assert_eq!(splits.train.labels, [0, 1, 2, 0, 1, 2, 3]);
        assert_eq!(splits.test.images, parse_cifar10_records("", &members[2].1).unwrap().0);

        std::fs::write(&path, cifar10_bytes(&[1], 0)).unwrap();
        let err = load_cifar10(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}: not a gzip archive", path.display()));
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(load_cifar10(&path), Err(DataError::NotGzip(_))));

        // Cut inside the second member: members hold 12.3, 9.2 and 6.1 KB of incompressible bytes.
        std::fs::write(&path, &archive[..archive.len() * 11 / 20]).unwrap();
        let err = load_cifar10(&path).unwrap_err();
        let expected =
            format!("{}: truncated archive at entry 1 (cifar-10-batches-bin/data_batch_1.bin)", path.display());
        assert_eq!(err.to_string(), expected);

        // A member whose content is bad is named by its path inside the archive.
        let mut bad = members.clone();
        bad[2].1.truncate(3000);
        std::fs::write(&path, tar_gz(&bad)).unwrap();
        let err = load_cifar10(&path).unwrap_err();
        assert!(err.to_string().starts_with("cifar-10-batches-bin/test_batch.bin: 3000 bytes"), "{err}");

        std::fs::write(&path, tar_gz(&members[..2])).unwrap();
        let err = load_cifar10(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("missing file test_batch.bin in {}", path.display()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_inside_stored_data_is_caught_by_the_gzip_checksum() {
        let dir = scratch_dir("crc");
        let path = dir.join("cifar-10-binary.tar.gz");
        let mut archive = tar_gz(&small_cifar10_files());
        let middle = archive.len() / 2;
        archive[middle] ^= 0x10;
        std::fs::write(&path, &archive).unwrap();
        let err = load_cifar10(&path).unwrap_err();
        assert!(matches!(err, DataError::CorruptArchive { .. }), "{err}");
        assert!(err.to_string().contains("corrupt archive at entry 4 (gzip trailer)"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_archives_give_errors_not_panics() {
        let dir = scratch_dir("fuzz");
        let path = dir.join("cifar-10-binary.tar.gz");
        let archive = tar_gz(&small_cifar10_files());
        let mut rng = Rng::new(11);
        for trial in 0..60 {
            let mut damaged = archive.clone();
            if trial % 2 == 0 {
                damaged.truncate(rng.below(archive.len() as u32) as usize);
            } else {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(archive.len() as u32) as usize;
                    damaged[at] ^= 1 << rng.below(8);
                }
            }
            std::fs::write(&path, &damaged).unwrap();
            if let Err(err) = load_cifar10(&path) {
                assert!(!err.to_string().is_empty());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn loads_the_shared_mini_cifar10() {
        let dir = shared_data_dir().join("cifar10-mini/cifar-10-batches-bin");
        if !dir.is_dir() {
            assert!(std::env::var_os("CI").is_none(), "CI must have the mini CIFAR-10 set at {}", dir.display());
            eprintln!("note: {} not found, skipping", dir.display());
            return;
        }
        let splits = load_cifar10(&dir).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (5000, 1000));
        assert_eq!(splits.train.class_names.len(), 10);
        assert_eq!(splits.train.class_names[0], "airplane");
        assert!(splits.train.class_counts().iter().all(|&n| n > 0));
    }
}
