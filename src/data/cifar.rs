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
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest",
    "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard",
    "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid",
    "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum",
    "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper",
    "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
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
pub fn parse_cifar100_records(
    file_name: &str,
    bytes: &[u8],
    coarse: bool,
) -> Result<(Vec<u8>, Vec<u16>), DataError> {
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
        let class_names =
            self.names.unwrap_or_else(|| variant.default_names().iter().map(|s| s.to_string()).collect());
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

    /// Whether a member is one of the data set's files; others are skipped without decompressing into memory.
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
        for (index, entry) in entries.enumerate() {
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
