//! Readers for the CIFAR-10 and CIFAR-100 binary versions.
//!
//! A CIFAR-10 record is one label byte followed by 3072 pixel bytes; a CIFAR-100 record has a coarse and a fine
//! label byte first. Files may hold any whole number of records up to the official file's count, so cut-down copies
//! (e.g. a test fixture of a few thousand images) load like the originals.
//!
//! Every source (a directory, the official `.tar.gz` on disk or in memory, `.bin` files in memory) streams through
//! one record reader into the data set's final buffers: pixels are copied once, from the input into the image
//! buffer, and nothing is read past the official sizes, so an oversized file or a gzip bomb is refused before it
//! costs memory. The same reader runs natively and in the browser, where it hands control back to the page now and
//! then ([`Progress`]) so a progress bar can be drawn while a 170 MB archive decodes.

use std::cell::Cell;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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

/// Records in each official file, except CIFAR-100's training file.
const OFFICIAL_RECORDS: usize = 10_000;
/// Records in CIFAR-100's `train.bin`.
const CIFAR100_TRAIN_RECORDS: usize = 50_000;
/// The official class-name lists are under 1 KB; a larger "list" is not one.
const MAX_NAMES_BYTES: u64 = 64 << 10;
/// What an official archive holds besides the data files (readme, name lists, tar headers) is well under this.
const ARCHIVE_EXTRA_BYTES: u64 = 1 << 20;
/// Records decoded between progress reports: about 200 KB.
const CHUNK_RECORDS: usize = 64;

/// One label byte of a record: how messages call it and how many classes it may take.
struct LabelByte {
    kind: &'static str,
    classes: usize,
}

const CIFAR10_LABELS: [LabelByte; 1] = [LabelByte { kind: "", classes: 10 }];
const CIFAR100_LABELS: [LabelByte; 2] =
    [LabelByte { kind: "coarse ", classes: 20 }, LabelByte { kind: "fine ", classes: 100 }];

/// Which data set is read, and for CIFAR-100 which label is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    Cifar10,
    Cifar100 { coarse: bool },
}

impl CifarKind {
    fn dataset(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "CIFAR-10",
            CifarKind::Cifar100 { .. } => "CIFAR-100",
        }
    }

    fn split_name(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "cifar10",
            CifarKind::Cifar100 { coarse: false } => "cifar100",
            CifarKind::Cifar100 { coarse: true } => "cifar100-coarse",
        }
    }

    /// The directory the official archive unpacks to.
    fn dir_name(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "cifar-10-batches-bin",
            CifarKind::Cifar100 { .. } => "cifar-100-binary",
        }
    }

    /// Training files in concatenation order; any non-empty subset of them is accepted.
    fn train_files(self) -> &'static [&'static str] {
        match self {
            CifarKind::Cifar10 => &CIFAR10_TRAIN_FILES,
            CifarKind::Cifar100 { .. } => &["train.bin"],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "test_batch.bin",
            CifarKind::Cifar100 { .. } => "test.bin",
        }
    }

    /// The optional file of class names, one per line.
    fn names_file(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "batches.meta.txt",
            CifarKind::Cifar100 { coarse: true } => "coarse_label_names.txt",
            CifarKind::Cifar100 { coarse: false } => "fine_label_names.txt",
        }
    }

    fn default_names(self) -> &'static [&'static str] {
        match self {
            CifarKind::Cifar10 => &CIFAR10_NAMES,
            CifarKind::Cifar100 { coarse: true } => &CIFAR100_COARSE_NAMES,
            CifarKind::Cifar100 { coarse: false } => &CIFAR100_FINE_NAMES,
        }
    }

    fn label_bytes(self) -> &'static [LabelByte] {
        match self {
            CifarKind::Cifar10 => &CIFAR10_LABELS,
            CifarKind::Cifar100 { .. } => &CIFAR100_LABELS,
        }
    }

    fn record_len(self) -> usize {
        self.label_bytes().len() + IMAGE_BYTES
    }

    /// Which of `label_bytes` becomes the label.
    fn kept_label(self) -> usize {
        match self {
            CifarKind::Cifar100 { coarse: false } => 1,
            _ => 0,
        }
    }

    fn num_classes(self) -> usize {
        self.label_bytes()[self.kept_label()].classes
    }

    /// The most records the file called `name` may hold: the official file's count.
    fn max_records(self, name: &str) -> usize {
        match self {
            CifarKind::Cifar100 { .. } if name != self.test_file() => CIFAR100_TRAIN_RECORDS,
            _ => OFFICIAL_RECORDS,
        }
    }

    /// The most bytes the official archive expands to: every data file at its official size, plus the rest.
    fn archive_limit(self) -> u64 {
        let files = self.train_files().iter().copied().chain([self.test_file()]);
        let records: usize = files.map(|name| self.max_records(name)).sum();
        (records * self.record_len()) as u64 + ARCHIVE_EXTRA_BYTES
    }

    /// Whether a file (by base name) belongs to this data set; other files are skipped.
    fn wants(self, name: &str) -> bool {
        name == self.test_file() || name == self.names_file() || self.train_files().contains(&name)
    }
}

/// Told how far a long read has got. The browser's version yields to the page every few milliseconds so that it can
/// draw a progress bar; a read whose progress never waits runs straight through.
pub trait Progress {
    /// `fraction` (0 to 1) of the input has been consumed.
    fn advance(&mut self, fraction: f32) -> impl Future<Output = ()>;
}

/// Progress nobody watches (every native reader).
pub struct Unwatched;

impl Progress for Unwatched {
    async fn advance(&mut self, _fraction: f32) {}
}

impl<P: Progress> Progress for &mut P {
    fn advance(&mut self, fraction: f32) -> impl Future<Output = ()> {
        (**self).advance(fraction)
    }
}

/// Run a read whose progress never waits to its end.
fn run_through<T>(read: impl Future<Output = T>) -> T {
    let mut read = std::pin::pin!(read);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = read.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// Parse a CIFAR-10 binary file (`data_batch_*.bin` or `test_batch.bin`, at most 10,000 records) into pixel bytes
/// and labels. `file_name` is only used in error messages.
pub fn parse_cifar10_records(file_name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    parse_records(CifarKind::Cifar10, file_name, bytes)
}

/// Parse a CIFAR-100 binary file (`train.bin`, at most 50,000 records, or `test.bin`, at most 10,000), keeping the
/// coarse (20-class) or fine (100-class) label. Both label bytes are validated.
pub fn parse_cifar100_records(file_name: &str, bytes: &[u8], coarse: bool) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    parse_records(CifarKind::Cifar100 { coarse }, file_name, bytes)
}

fn parse_records(kind: CifarKind, file_name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    let mut split = Split::default();
    let max_records = kind.max_records(base_name(file_name));
    split.reserve(kind, bytes.len() as u64, max_records);
    let mut meter = Meter::new(Unwatched, bytes.len() as u64);
    let io = |source| DataError::Io { path: file_name.to_string(), source };
    run_through(split.read_file(kind, 0, file_name, &mut &bytes[..], max_records, &mut meter, &io))?;
    Ok((split.images, split.labels))
}

/// CIFAR-10 from named files already in memory (what the browser hands over): the official `.tar.gz`, or
/// `data_batch_1.bin` … `data_batch_5.bin` (at least one), `test_batch.bin`, and optionally `batches.meta.txt`.
/// Names may carry a directory prefix; other files are ignored.
pub fn cifar10_from_files(files: &[(String, Vec<u8>)]) -> Result<DataSplits, DataError> {
    run_through(read_cifar_files(CifarKind::Cifar10, files, &mut Unwatched))
}

/// CIFAR-100 from named files in memory: the official `.tar.gz`, or `train.bin`, `test.bin`, and optionally
/// `coarse_label_names.txt` / `fine_label_names.txt`.
pub fn cifar100_from_files(files: &[(String, Vec<u8>)], coarse: bool) -> Result<DataSplits, DataError> {
    run_through(read_cifar_files(CifarKind::Cifar100 { coarse }, files, &mut Unwatched))
}

/// Load CIFAR-10 from the `cifar-10-batches-bin` directory, a directory containing it, or the official
/// `cifar-10-binary.tar.gz`.
pub fn load_cifar10(path: &Path) -> Result<DataSplits, DataError> {
    load(path, CifarKind::Cifar10)
}

/// Load CIFAR-100 from the `cifar-100-binary` directory, a directory containing it, or the official
/// `cifar-100-binary.tar.gz`, keeping the coarse or the fine labels.
pub fn load_cifar100(path: &Path, coarse: bool) -> Result<DataSplits, DataError> {
    load(path, CifarKind::Cifar100 { coarse })
}

/// Which data set the files in memory hold, from their names (or the first member of an archive): CIFAR-100 (fine
/// labels) or CIFAR-10; `None` if neither is recognised.
pub fn guess_cifar_kind(files: &[(String, Vec<u8>)]) -> Option<CifarKind> {
    let kind_of = |path: &str| {
        let name = base_name(path);
        let hundred = CifarKind::Cifar100 { coarse: false };
        // The official directory names first: both data sets have a `test…` file.
        if path.contains("cifar-100") {
            Some(hundred)
        } else if path.contains("cifar-10") || CifarKind::Cifar10.wants(name) {
            Some(CifarKind::Cifar10)
        } else if hundred.wants(name) || name == "coarse_label_names.txt" {
            Some(hundred)
        } else {
            None
        }
    };
    files.iter().find_map(|(name, bytes)| {
        let first_member = || {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            let entry = tar.entries().ok()?.next()?.ok()?;
            kind_of(&String::from_utf8_lossy(&entry.path_bytes()))
        };
        if bytes.starts_with(&GZIP_MAGIC) { first_member() } else { kind_of(name) }
    })
}

/// The files of `kind` in memory, reporting progress as they are decoded; an archive among them is read as a whole
/// data set.
pub async fn read_cifar_files(
    kind: CifarKind,
    files: &[(String, Vec<u8>)],
    progress: &mut impl Progress,
) -> Result<DataSplits, DataError> {
    let total = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
    let mut meter = Meter::new(progress, total);
    let mut collector = Collector::new(kind, Origin::Memory);
    for (name, bytes) in files {
        meter.next_input();
        let input = Watched::new(&bytes[..], &meter);
        if bytes.starts_with(&GZIP_MAGIC) {
            collector.read_archive(name, input, &mut meter).await?;
        } else {
            collector.read_file(base_name(name), name, input, bytes.len() as u64, &mut meter).await?;
        }
    }
    collector.finish()
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn load(path: &Path, kind: CifarKind) -> Result<DataSplits, DataError> {
    let metadata = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            DataError::NotFound { path: path.display().to_string(), dataset: kind.dataset(), folder: kind.dir_name() }
        }
        _ => io_error(path, source),
    })?;
    let mut meter = Meter::new(Unwatched, 0);
    if !metadata.is_dir() {
        let mut collector = Collector::new(kind, Origin::Archive(path));
        let file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
        let input = Watched::new(file, &meter);
        run_through(collector.read_archive(&path.display().to_string(), input, &mut meter))?;
        return collector.finish();
    }
    // Accept the parent of the data directory too, as long as the path itself does not hold the data.
    let nested = path.join(kind.dir_name());
    let dir = if !path.join(kind.test_file()).exists() && nested.is_dir() { nested.as_path() } else { path };
    let mut collector = Collector::new(kind, Origin::Directory(dir));
    let wanted = kind.train_files().iter().copied().chain([kind.test_file(), kind.names_file()]);
    for name in wanted {
        let file = dir.join(name);
        match std::fs::File::open(&file) {
            Ok(opened) => {
                let size = opened.metadata().map_err(|source| io_error(&file, source))?.len();
                let input = Watched::new(opened, &meter);
                run_through(collector.read_file(name, &file.display().to_string(), input, size, &mut meter))?;
            }
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

/// How far the reading has got, for [`Progress`]: bytes consumed of the inputs read so far and of the current one.
struct Meter<P: Progress> {
    progress: P,
    total: u64,
    finished: u64,
    current: Rc<Cell<u64>>,
}

impl<P: Progress> Meter<P> {
    fn new(progress: P, total: u64) -> Self {
        Meter { progress, total, finished: 0, current: Rc::default() }
    }

    /// The next input starts (the previous one, if any, is done).
    fn next_input(&mut self) {
        self.finished += self.current.replace(0);
    }

    async fn tick(&mut self) {
        let done = self.finished + self.current.get();
        self.progress.advance(done as f32 / self.total.max(1) as f32).await;
    }
}

/// An input being read: counts the bytes consumed (for progress) and notes when it ran out, which tells a truncated
/// archive (the data ended) from a corrupt one (the data was wrong) whatever error the decoders report.
struct Watched<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
    reached_end: Rc<Cell<bool>>,
}

impl<R: Read> Watched<R> {
    fn new<P: Progress>(inner: R, meter: &Meter<P>) -> Self {
        Watched { inner, consumed: Rc::clone(&meter.current), reached_end: Rc::default() }
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        if n == 0 && !buf.is_empty() {
            self.reached_end.set(true);
        }
        Ok(n)
    }
}

/// The decompressed stream of an archive, cut off with an error past `limit` bytes (a gzip bomb stops there).
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 && !buf.is_empty() {
            // One byte more tells a stream that ends exactly at the limit from one that goes on.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(std::io::Error::other("the archive expands past the official size"));
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// An archive member's data: ending before the size its header declared is an error, not a short file.
struct Declared<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Declared<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Where the files come from, for naming missing ones.
enum Origin<'a> {
    Directory(&'a Path),
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

/// One split's images and labels in file order, growing as files arrive in any order.
#[derive(Default)]
struct Split {
    images: Vec<u8>,
    labels: Vec<u16>,
    /// (file slot, records) of the files read so far, in slot order.
    files: Vec<(usize, usize)>,
}

impl Split {
    fn has(&self, slot: usize) -> bool {
        self.files.iter().any(|&(s, _)| s == slot)
    }

    /// Room for a file of `size` bytes (at most `max_records`), so the buffers grow once per file.
    fn reserve(&mut self, kind: CifarKind, size: u64, max_records: usize) {
        let records = (size / kind.record_len() as u64).min(max_records as u64) as usize;
        self.images.reserve_exact(records * IMAGE_BYTES);
        self.labels.reserve_exact(records);
    }

    /// Read file `slot`'s records from `input` (at most `max_records`), checking every label, straight into the
    /// split's buffers, and move them in front of the files with a later slot.
    #[allow(clippy::too_many_arguments)]
    async fn read_file<P: Progress>(
        &mut self,
        kind: CifarKind,
        slot: usize,
        display: &str,
        input: &mut impl Read,
        max_records: usize,
        meter: &mut Meter<P>,
        io: &impl Fn(std::io::Error) -> DataError,
    ) -> Result<(), DataError> {
        let (labels, record_len) = (kind.label_bytes(), kind.record_len());
        let start = self.labels.len();
        let mut chunk = vec![0u8; CHUNK_RECORDS * record_len];
        let mut len = 0usize;
        loop {
            let filled = fill(input, &mut chunk).map_err(io)?;
            let records = filled / record_len;
            if self.labels.len() - start + records > max_records {
                return Err(DataError::TooManyRecords {
                    file: display.to_string(),
                    max: max_records,
                    dataset: kind.dataset(),
                });
            }
            for (i, record) in chunk[..records * record_len].chunks_exact(record_len).enumerate() {
                // Every label byte is checked, not only the kept one: a bad one means the file is not what we think.
                for (label, spec) in record.iter().zip(labels) {
                    if *label as usize >= spec.classes {
                        let record = self.labels.len() - start + i;
                        return Err(DataError::BadLabel {
                            file: display.to_string(),
                            record,
                            offset: record * record_len,
                            kind: spec.kind,
                            label: *label,
                            dataset: kind.dataset(),
                            classes: spec.classes,
                        });
                    }
                }
            }
            for record in chunk[..records * record_len].chunks_exact(record_len) {
                self.labels.push(record[kind.kept_label()] as u16);
                self.images.extend_from_slice(&record[labels.len()..]);
            }
            len += filled;
            if filled < chunk.len() {
                break;
            }
            meter.tick().await;
        }
        if len == 0 {
            return Err(DataError::EmptyFile { file: display.to_string(), record_len });
        }
        if !len.is_multiple_of(record_len) {
            return Err(DataError::PartialRecord {
                file: display.to_string(),
                len,
                record_len,
                offset: len - len % record_len,
            });
        }
        let records = self.labels.len() - start;
        let at = self.files.iter().take_while(|&&(s, _)| s < slot).count();
        let before: usize = self.files[..at].iter().map(|&(_, n)| n).sum();
        self.images[before * IMAGE_BYTES..].rotate_right(records * IMAGE_BYTES);
        self.labels[before..].rotate_right(records);
        self.files.insert(at, (slot, records));
        Ok(())
    }
}

/// Read from `input` until `buf` is full or the input ends; returns the bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Gathers a data set's files one at a time, reading each straight into the splits as it arrives.
struct Collector<'a> {
    kind: CifarKind,
    origin: Origin<'a>,
    train: Split,
    test: Split,
    names: Option<Vec<String>>,
}

impl<'a> Collector<'a> {
    fn new(kind: CifarKind, origin: Origin<'a>) -> Self {
        Collector { kind, origin, train: Split::default(), test: Split::default(), names: None }
    }

    /// Read the file called `name` (a base name, `size` bytes) from `input`; `display` names it in errors. Unknown
    /// names are skipped without reading.
    async fn read_file<P: Progress>(
        &mut self,
        name: &str,
        display: &str,
        mut input: impl Read,
        size: u64,
        meter: &mut Meter<P>,
    ) -> Result<(), DataError> {
        let io = |source| DataError::Io { path: display.to_string(), source };
        self.read_member(name, display, &mut input, size, meter, &io).await
    }

    /// Read a file of the data set (by base name; `size` bytes expected) from `input`; skip unknown names.
    async fn read_member<P: Progress>(
        &mut self,
        name: &str,
        display: &str,
        input: &mut impl Read,
        size: u64,
        meter: &mut Meter<P>,
        io: &impl Fn(std::io::Error) -> DataError,
    ) -> Result<(), DataError> {
        let kind = self.kind;
        let duplicate = || Err(DataError::DuplicateFile(display.to_string()));
        if name == kind.names_file() {
            if self.names.is_some() {
                return duplicate();
            }
            let mut bytes = Vec::new();
            input.take(MAX_NAMES_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
            if bytes.len() as u64 > MAX_NAMES_BYTES {
                return Err(DataError::TooLarge { file: display.to_string(), limit: MAX_NAMES_BYTES });
            }
            self.names = Some(parse_names(display, &bytes, kind.num_classes())?);
            return Ok(());
        }
        let (split, slot) = if name == kind.test_file() {
            (&mut self.test, 0)
        } else if let Some(slot) = kind.train_files().iter().position(|&f| f == name) {
            (&mut self.train, slot)
        } else {
            return Ok(());
        };
        if split.has(slot) {
            return duplicate();
        }
        let max_records = kind.max_records(name);
        split.reserve(kind, size, max_records);
        split.read_file(kind, slot, display, input, max_records, meter, io).await
    }

    /// Read an official `.tar.gz` (`archive` names it) from `input`, member by member, without holding it whole.
    async fn read_archive<P: Progress>(
        &mut self,
        archive: &str,
        input: Watched<impl Read>,
        meter: &mut Meter<P>,
    ) -> Result<(), DataError> {
        let kind = self.kind;
        let reached_end = Rc::clone(&input.reached_end);
        let mut input = BufReader::new(input);
        let head = input.fill_buf().map_err(|source| DataError::Io { path: archive.to_string(), source })?;
        if !head.starts_with(&GZIP_MAGIC) {
            return Err(DataError::NotGzip(archive.to_string()));
        }
        let exceeded = Rc::new(Cell::new(false));
        let decoded = Limited {
            inner: flate2::bufread::GzDecoder::new(input),
            left: kind.archive_limit(),
            exceeded: Rc::clone(&exceeded),
        };
        let mut tar = tar::Archive::new(decoded);
        let failure = |entry: String, source: std::io::Error| {
            if exceeded.get() {
                DataError::ArchiveTooLarge { archive: archive.to_string(), limit: kind.archive_limit() }
            } else if reached_end.get() {
                DataError::TruncatedArchive { archive: archive.to_string(), entry }
            } else {
                DataError::CorruptArchive { archive: archive.to_string(), entry, source }
            }
        };
        let entries = tar.entries().map_err(|source| failure("0".to_string(), source))?;
        let mut seen = 0;
        for (index, entry) in entries.enumerate() {
            seen = index + 1;
            let entry = entry.map_err(|source| failure(index.to_string(), source))?;
            let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = base_name(&member);
            if !entry.header().entry_type().is_file() || !kind.wants(name) {
                continue;
            }
            let describe = || format!("{index} ({member})");
            let declared = entry.size();
            // Refuse an oversized member from its header, before reading it.
            let most = if name == kind.names_file() {
                MAX_NAMES_BYTES
            } else {
                (kind.max_records(name) * kind.record_len()) as u64
            };
            if declared > most {
                return Err(if name == kind.names_file() {
                    DataError::TooLarge { file: member.clone(), limit: most }
                } else {
                    DataError::TooManyRecords {
                        file: member.clone(),
                        max: kind.max_records(name),
                        dataset: kind.dataset(),
                    }
                });
            }
            let mut data = Declared { inner: entry, left: declared };
            let io = |source| failure(describe(), source);
            self.read_member(name, &member, &mut data, declared, meter, &io).await?;
            meter.tick().await;
        }
        // tar stops at its end marker, before the gzip trailer; reading on to it makes the decoder check the CRC,
        // which catches damage inside stored data that no parser could notice.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink())
            .map_err(|source| failure(format!("{seen} (gzip trailer)"), source))?;
        Ok(())
    }

    fn finish(self) -> Result<DataSplits, DataError> {
        let kind = self.kind;
        if self.test.files.is_empty() {
            return Err(DataError::MissingFile(self.origin.file(kind.test_file())));
        }
        if self.train.files.is_empty() {
            return Err(DataError::NoTrainingData {
                location: self.origin.location(),
                expected: kind.train_files().join(", "),
            });
        }
        let class_names = self.names.unwrap_or_else(|| kind.default_names().iter().map(|s| s.to_string()).collect());
        let dataset = |split: Split| Dataset {
            images: split.images,
            labels: split.labels,
            num_classes: kind.num_classes(),
            class_names: class_names.clone(),
        };
        Ok(DataSplits { name: kind.split_name().to_string(), train: dataset(self.train), test: dataset(self.test) })
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
        assert!(matches!(err, DataError::NotFound { .. }) && err.to_string().contains("nowhere"), "{err}");
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

    /// A tar.gz whose members are streamed from readers (so a huge member never sits in memory here either).
    fn tar_gz_streamed(members: Vec<(&str, u64, Box<dyn std::io::Read>)>) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (name, size, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    /// `n` records of label 0 and black pixels: highly compressible, as a gzip bomb would be.
    fn zero_records(n: usize) -> (u64, Box<dyn std::io::Read>) {
        let len = (n * (IMAGE_BYTES + 1)) as u64;
        (len, Box::new(std::io::repeat(0).take(len)))
    }

    #[test]
    fn files_past_the_official_record_count_are_refused() {
        let official = vec![0u8; 10_000 * (IMAGE_BYTES + 1)];
        assert_eq!(parse_cifar10_records("data_batch_1.bin", &official).unwrap().1.len(), 10_000);
        let mut over = official;
        over.extend_from_slice(&[0u8; IMAGE_BYTES + 1]);
        let err = parse_cifar10_records("data_batch_1.bin", &over).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data_batch_1.bin: more than 10000 records, the most an official CIFAR-10 file holds"
        );
        let err = parse_cifar100_records("test.bin", &vec![0u8; 10_001 * (IMAGE_BYTES + 2)], false).unwrap_err();
        assert!(matches!(err, DataError::TooManyRecords { max: 10_000, .. }), "{err}");

        // In a directory too: the file is read no further than one chunk past the official count.
        let dir = scratch_dir("oversized");
        let mut files = small_cifar10_files();
        files[2].1 = over;
        for (name, bytes) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let err = load_cifar10(&dir).unwrap_err();
        assert!(err.to_string().contains("test_batch.bin: more than 10000 records"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn archive_members_past_the_official_size_are_refused() {
        let (size, data) = zero_records(10_001);
        let archive = tar_gz_streamed(vec![("cifar-10-batches-bin/data_batch_1.bin", size, data)]);
        let err = cifar10_from_files(&[("cifar-10-binary.tar.gz".into(), archive)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cifar-10-batches-bin/data_batch_1.bin: more than 10000 records, the most an official CIFAR-10 file holds"
        );
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_official_size() {
        // 200 MB of zeros in a member the reader skips: only the cap on the expanded stream stops it.
        let (size, data) = (200_000_000, Box::new(std::io::repeat(0).take(200_000_000)));
        let mut members: Vec<(&str, u64, Box<dyn std::io::Read>)> = vec![("cifar-10-batches-bin/padding", size, data)];
        let (size, data) = zero_records(2);
        members.push(("cifar-10-batches-bin/test_batch.bin", size, data));
        let archive = tar_gz_streamed(members);
        assert!(archive.len() < 1 << 20, "the bomb is small: {} bytes", archive.len());
        let err = cifar10_from_files(&[("cifar-10-binary.tar.gz".into(), archive.clone())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cifar-10-binary.tar.gz: expands to more than 185428576 bytes, more than the official archive"
        );
        let dir = scratch_dir("bomb");
        let path = dir.join("cifar-10-binary.tar.gz");
        std::fs::write(&path, &archive).unwrap();
        assert!(matches!(load_cifar10(&path), Err(DataError::ArchiveTooLarge { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_archive_in_memory_reads_like_one_on_disk_whatever_the_member_order() {
        // The official archive's order: batches 1, 3, 4, then test, then 2 and 5.
        let batches: Vec<(String, Vec<u8>)> =
            (1..=5).map(|i| (format!("data_batch_{i}.bin"), cifar10_bytes(&labels(i, 10), i as u64))).collect();
        let mut members = vec![];
        for i in [0, 2, 3] {
            members.push(batches[i].clone());
        }
        members.push(("test_batch.bin".into(), cifar10_bytes(&labels(3, 10), 9)));
        members.push(("readme.html".into(), b"<html>".to_vec()));
        members.push(batches[1].clone());
        members.push(batches[4].clone());
        let members: Vec<(String, Vec<u8>)> =
            members.into_iter().map(|(name, bytes)| (format!("cifar-10-batches-bin/{name}"), bytes)).collect();
        let archive = tar_gz(&members);

        let from_memory = cifar10_from_files(&[("cifar-10-binary.tar.gz".into(), archive.clone())]).unwrap();
        let dir = scratch_dir("order");
        let path = dir.join("cifar-10-binary.tar.gz");
        std::fs::write(&path, &archive).unwrap();
        let from_disk = load_cifar10(&path).unwrap();
        let from_bins = cifar10_from_files(&batches.iter().cloned().chain([members[3].clone()]).collect::<Vec<_>>());
        let from_bins = from_bins.unwrap();
        let in_order: Vec<u8> = batches.iter().flat_map(|(_, b)| parse_cifar10_records("", b).unwrap().0).collect();
        for splits in [&from_memory, &from_disk, &from_bins] {
            assert_eq!((splits.train.len(), splits.test.len()), (15, 3));
            assert_eq!(splits.train.images, in_order);
            assert_eq!(splits.train.labels[..3], [0, 0, 1]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_kind_is_guessed_from_names_or_the_archive() {
        let named = |name: &str| vec![(name.to_string(), b"x".to_vec())];
        assert_eq!(guess_cifar_kind(&named("data_batch_1.bin")), Some(CifarKind::Cifar10));
        assert_eq!(guess_cifar_kind(&named("a/test.bin")), Some(CifarKind::Cifar100 { coarse: false }));
        assert_eq!(guess_cifar_kind(&named("photo.png")), None);
        let archive = |dir: &str| vec![("x.tgz".to_string(), tar_gz(&[(format!("{dir}/test.bin"), vec![0])]))];
        assert_eq!(guess_cifar_kind(&archive("cifar-100-binary")), Some(CifarKind::Cifar100 { coarse: false }));
        assert_eq!(guess_cifar_kind(&archive("cifar-10-batches-bin")), Some(CifarKind::Cifar10));
    }

    /// Progress that records what it was told.
    struct Recorded(Vec<f32>);

    impl Progress for Recorded {
        async fn advance(&mut self, fraction: f32) {
            self.0.push(fraction);
        }
    }

    #[test]
    fn progress_rises_through_the_archive() {
        let files: Vec<(String, Vec<u8>)> = vec![
            ("data_batch_1.bin".into(), cifar10_bytes(&labels(300, 10), 1)),
            ("test_batch.bin".into(), cifar10_bytes(&labels(200, 10), 2)),
        ];
        let archive = vec![("cifar-10-binary.tar.gz".to_string(), tar_gz(&files))];
        let mut progress = Recorded(vec![]);
        let splits = run_through(read_cifar_files(CifarKind::Cifar10, &archive, &mut progress)).unwrap();
        assert_eq!((splits.train.len(), splits.test.len()), (300, 200));
        let seen = progress.0;
        assert!(seen.len() >= 5, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.iter().all(|f| (0.0..=1.0).contains(f)), "{seen:?}");
        assert!(*seen.last().unwrap() > 0.9, "{seen:?}");
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
