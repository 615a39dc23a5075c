//! Shared by the artifact tests: alter one byte of a sealed model file the
//! way a careless hand edit would, so that loading it must be refused.

use std::path::Path;

/// Changes the first digit after `key` in `file` (9 becomes 8, any other
/// digit its successor): the JSON stays valid, only the content changes.
pub fn alter_first_digit_after(file: &Path, key: &str) {
    let t = std::fs::read_to_string(file).unwrap();
    let k = t
        .find(key)
        .unwrap_or_else(|| panic!("{key} not in {}", file.display()));
    let d = k + t[k..].find(|c: char| c.is_ascii_digit()).unwrap();
    let mut b = t.into_bytes();
    b[d] = if b[d] == b'9' { b'8' } else { b[d] + 1 };
    std::fs::write(file, b).unwrap();
}
