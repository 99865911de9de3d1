//! A `cifar-10-binary.tar.gz` in the official layout, made in memory for the tests that read archives.

/// The archive holding `files` (name, record count) under `cifar-10-batches-bin/`, in this order: each record a label
/// (its index modulo 10) and 3,072 pseudo-random pixels from `state`; a `.txt` file holds the class names instead.
pub fn cifar10_tar_gz(files: &[(&str, usize)], mut state: u64) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for &(name, records) in files {
        let mut bytes = Vec::with_capacity(records * 3073);
        if name.ends_with(".txt") {
            bytes.extend_from_slice(b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
        }
        for i in 0..records {
            bytes.push((i % 10) as u8);
            bytes.extend((0..3072).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            }));
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}
