//! SHA-256 as lowercase hex: bundle checksums and downloaded weight files.

use sha2::{Digest, Sha256};

/// The digest of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// The digest of everything `reader` yields.
#[cfg(not(target_arch = "wasm32"))]
pub fn hex_of_reader(reader: &mut impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(reader, &mut hasher)?;
    Ok(to_hex(&hasher.finalize()))
}

fn to_hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
