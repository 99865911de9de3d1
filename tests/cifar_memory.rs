//! What reading the official archive costs in memory: the pixels are copied once, from the decoder into the data
//! set's buffers, so the peak stays near the size of the data set itself (the reader once held each member's raw
//! bytes, a parsed copy and a concatenated copy: about 3× at the end).
//!
//! A counting allocator wraps the system one; this binary holds this one test so nothing else allocates meanwhile.

mod archive;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is passed straight to the system allocator; only the counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    // Counted as growing in place, as glibc does for large blocks (mremap): the reader's own copies are what this
    // test measures, not the allocator's.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The official archive's layout at 2,000 records per file (5 training batches and the test batch, members in the
/// official order), pixels pseudo-random so they do not compress away.
fn archive(records: usize) -> Vec<u8> {
    let names = ["data_batch_1", "data_batch_3", "data_batch_4", "test_batch", "data_batch_2", "data_batch_5"];
    let names = names.map(|name| format!("{name}.bin"));
    archive::cifar10_tar_gz(&names.each_ref().map(|name| (name.as_str(), records)), 0x9e37_79b9_7f4a_7c15)
}

#[test]
fn reading_the_archive_copies_the_pixels_once() {
    let records = 2000;
    let dir = std::env::temp_dir().join(format!("ticketlab-cifar-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cifar-10-binary.tar.gz");
    std::fs::write(&path, archive(records)).unwrap();
    let mut check = Vec::new();
    std::fs::File::open(&path).unwrap().read_to_end(&mut check).unwrap();
    drop(check);

    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let splits = ticketlab::data::load_cifar10(&path).unwrap();
    let peak = PEAK.load(Relaxed) - before;
    let data = splits.train.images.len() + splits.test.images.len() + 2 * (splits.train.len() + splits.test.len());
    assert_eq!((splits.train.len(), splits.test.len()), (5 * records, records));
    println!("data set {data} bytes, peak while reading {peak} bytes ({:.2}×)", peak as f64 / data as f64);
    // The data set itself, plus the decoder's and the reader's small buffers.
    assert!(peak < data + data / 10 + (1 << 20), "peak {peak} bytes for {data} bytes of data");
    let _ = std::fs::remove_dir_all(&dir);
}
