//! A small zip writer for the export bundle: entries stored (photos, already compressed) or
//! deflated (the archive's text), UTF-8 names, no encryption, no zip64 (a bundle over 4 GiB is
//! refused). Zip is what every computer opens without installing anything.

use flate2::Compression;
use flate2::write::DeflateEncoder;
use std::io::Write;

struct Entry {
    name: String,
    crc: u32,
    compressed: u32,
    size: u32,
    method: u16,
    offset: u32,
}

#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    entries: Vec<Entry>,
}

/// The general-purpose flag that says names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;
/// 1980-01-01, the earliest date zip can say (the entries carry no meaningful time).
const DOS_DATE: u16 = (1 << 5) | 1;

fn too_big() -> std::io::Error {
    std::io::Error::other("the export bundle would be over 4 GiB")
}

fn small(n: usize) -> std::io::Result<u32> {
    u32::try_from(n).map_err(|_| too_big())
}

impl ZipWriter {
    /// Adds a file; `deflate` compresses it (for text; photos are stored as they are).
    pub fn add(&mut self, name: &str, data: &[u8], deflate: bool) -> std::io::Result<()> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let (method, body) = if deflate {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data)?;
            (8u16, encoder.finish()?)
        } else {
            (0u16, data.to_vec())
        };
        let entry = Entry {
            name: name.to_string(),
            crc: crc.sum(),
            compressed: small(body.len())?,
            size: small(data.len())?,
            method,
            offset: small(self.out.len())?,
        };
        let out = &mut self.out;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        out.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        out.extend_from_slice(&entry.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&DOS_DATE.to_le_bytes());
        out.extend_from_slice(&entry.crc.to_le_bytes());
        out.extend_from_slice(&entry.compressed.to_le_bytes());
        out.extend_from_slice(&entry.size.to_le_bytes());
        out.extend_from_slice(&u16::try_from(name.len()).map_err(|_| too_big())?.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra field
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        small(out.len())?;
        self.entries.push(entry);
        Ok(())
    }

    /// The whole archive: the entries, then the central directory that lists them.
    pub fn finish(mut self) -> std::io::Result<Vec<u8>> {
        let directory_at = small(self.out.len())?;
        for entry in &self.entries {
            let out = &mut self.out;
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes()); // made by
            out.extend_from_slice(&20u16.to_le_bytes()); // needed
            out.extend_from_slice(&UTF8_NAMES.to_le_bytes());
            out.extend_from_slice(&entry.method.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&DOS_DATE.to_le_bytes());
            out.extend_from_slice(&entry.crc.to_le_bytes());
            out.extend_from_slice(&entry.compressed.to_le_bytes());
            out.extend_from_slice(&entry.size.to_le_bytes());
            out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
            out.extend_from_slice(&entry.offset.to_le_bytes());
            out.extend_from_slice(entry.name.as_bytes());
        }
        let directory_size = small(self.out.len())? - directory_at;
        let count = u16::try_from(self.entries.len()).map_err(|_| too_big())?;
        let out = &mut self.out;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // this disk, the directory's disk
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&directory_size.to_le_bytes());
        out.extend_from_slice(&directory_at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // comment
        Ok(self.out)
    }
}
