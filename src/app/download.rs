//! Bytes arriving from outside the app (a download, a picked or dropped file), held in memory only up to a cap: the
//! largest file ticketlab reads is the official CIFAR archive (162 MiB), and the browser's memory is finite.

/// The most bytes one file may bring in: the official `cifar-10-binary.tar.gz` (162 MiB) and
/// `cifar-100-binary.tar.gz` (161 MiB) fit, anything much larger is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 200 << 20;

/// A file being received in chunks, refused as soon as it announces or reaches more than the cap.
pub struct Incoming {
    name: String,
    bytes: Vec<u8>,
    announced: Option<u64>,
    cap: u64,
}

impl Incoming {
    /// `announced`: the size the sender declared (a `Content-Length`, a file's size), if any.
    pub fn new(name: &str, announced: Option<u64>, cap: u64) -> Result<Self, String> {
        let incoming = Incoming { name: name.to_string(), bytes: Vec::new(), announced, cap };
        match announced {
            Some(size) if size > cap => Err(incoming.too_large(size)),
            Some(size) => Ok(Incoming { bytes: Vec::with_capacity(size as usize), ..incoming }),
            None => Ok(incoming),
        }
    }

    fn too_large(&self, size: u64) -> String {
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        format!(
            "{}: {} is more than the {:.0} MiB a CIFAR file can be; not loaded",
            self.name,
            if self.announced == Some(size) {
                format!("{:.0} MiB", mib(size))
            } else {
                format!("more than {:.0} MiB arrived", mib(size - 1))
            },
            mib(self.cap)
        )
    }

    /// Room for the next `len` bytes, to be filled by the caller; an error once the file passes the cap.
    pub fn next_chunk(&mut self, len: usize) -> Result<&mut [u8], String> {
        let total = self.bytes.len() as u64 + len as u64;
        if total > self.cap {
            return Err(self.too_large(total));
        }
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        Ok(&mut self.bytes[start..])
    }

    /// How much of the announced size has arrived, if a size was announced.
    pub fn fraction(&self) -> Option<f32> {
        self.announced.filter(|&n| n > 0).map(|n| (self.bytes.len() as f64 / n as f64).min(1.0) as f32)
    }

    pub fn finish(self) -> (String, Vec<u8>) {
        (self.name, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_announced_above_the_cap_is_refused_before_reading() {
        let err = Incoming::new("big.tar.gz", Some(300 << 20), MAX_FILE_BYTES).err().unwrap();
        assert_eq!(err, "big.tar.gz: 300 MiB is more than the 200 MiB a CIFAR file can be; not loaded");
        assert!(Incoming::new("cifar-10-binary.tar.gz", Some(170_052_171), MAX_FILE_BYTES).is_ok());
    }

    #[test]
    fn a_file_that_grows_past_the_cap_is_refused_when_it_does() {
        // No size announced (or a false one): chunks are counted as they come.
        for announced in [None, Some(10)] {
            let mut incoming = Incoming::new("stream", announced, 100).unwrap();
            incoming.next_chunk(60).unwrap().fill(7);
            assert_eq!(incoming.fraction().is_some(), announced.is_some());
            incoming.next_chunk(40).unwrap();
            let err = incoming.next_chunk(1).unwrap_err();
            assert!(err.starts_with("stream: more than 0 MiB arrived"), "{err}");
        }
        let mut incoming = Incoming::new("ok", Some(4), 100).unwrap();
        incoming.next_chunk(4).unwrap().copy_from_slice(b"abcd");
        assert_eq!(incoming.fraction(), Some(1.0));
        assert_eq!(incoming.finish(), ("ok".to_string(), b"abcd".to_vec()));
    }
}
