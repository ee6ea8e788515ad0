//! The last-known-good (LKG) config file and the install-id file. The LKG copy is what keeps an
//! app routing while the store is down (`docs/seed.md`, S6).
//!
//! Both are written atomically: write a temporary file in the same directory, `fsync` it,
//! `rename` it over the target, then `fsync` the directory. A crash at any point leaves either
//! the old file or the new one, never a torn one. The LKG file holds the *validated*,
//! normalised document (see [`crate::config::MarketplaceConfig::to_document`]), so reading it
//! back cannot fail validation unless the file was damaged; a damaged file is ignored with a
//! warning and never crashes the app.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::MarketplaceConfig;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LkgFile {
    format: u32,
    saved_at: String,
    source: String,
    document: serde_json::Value,
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename + directory fsync).
///
/// # Errors
/// Any I/O error; the target is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Directory fsync makes the rename durable; not supported everywhere, so best effort.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Persists `config` as the last-known-good document, noting where it came from.
pub(crate) fn save_lkg(
    path: &Path,
    config: &MarketplaceConfig,
    source: &str,
) -> std::io::Result<()> {
    let file = LkgFile {
        format: 1,
        saved_at: crate::date::rfc3339(std::time::SystemTime::now()),
        source: source.to_string(),
        document: config.to_document(),
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Reads the last-known-good document, or `None` (with a warning) if it is absent or damaged.
pub(crate) fn load_lkg(path: &Path) -> Option<MarketplaceConfig> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read last-known-good config");
            return None;
        }
    };
    let parsed = serde_json::from_slice::<LkgFile>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|f| MarketplaceConfig::from_value(&f.document).map_err(|e| e.to_string()));
    match parsed {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring damaged last-known-good config");
            None
        }
    }
}

/// Reads the install id stored at `path`, or generates a UUID v4 and stores it.
///
/// # Errors
/// I/O errors other than "not found" when reading, and any error writing.
pub(crate) fn install_id_from_file(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = uuid::Uuid::new_v4().to_string();
    write_atomic(path, id.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lkg_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lkg.json");
        assert!(load_lkg(&p).is_none());
        std::fs::write(&p, b"{ truncated").unwrap();
        assert!(load_lkg(&p).is_none());
        let c = MarketplaceConfig::from_json_slice(
            br#"{"type":"cdn","cdnUrl":"https://c/","gitUrl":"https://g/","version":4}"#,
        )
        .unwrap();
        save_lkg(&p, &c, "test").unwrap();
        assert_eq!(load_lkg(&p), Some(c));
    }

    #[test]
    fn install_id_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/install-id");
        let a = install_id_from_file(&p).unwrap();
        let b = install_id_from_file(&p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 36);
    }
}
