//! The HS256 secret of the JWTs: from `SOURCEGATE_JWT_SECRET`, else (embedded development mode
//! only) the `<data_dir>/jwt-secret` file, generated on first start.

use std::path::Path;

use crate::server::StartError;
use crate::settings::Settings;

/// Reads the JWT secret from settings; else, with `DATABASE_URL` (a shared deployment), none
/// when `SOURCEGATE_JWKS_URL` is set (an empty secret: HS256 off); else, embedded only, from
/// `<data_dir>/jwt-secret`, else generates and stores one there (mode 0600). Returns the secret
/// and whether it was just generated.
///
/// A generated secret is per data directory, so with `DATABASE_URL` it would differ between
/// replicas and a token would work on one only: that case is refused.
///
/// # Errors
/// [`StartError::NoTokenVerifier`] with `DATABASE_URL` but neither a secret nor a JWKS URL;
/// [`StartError::Io`] when the file cannot be read or written.
pub fn load_or_create_secret(settings: &Settings) -> Result<(Vec<u8>, bool), StartError> {
    if let Some(s) = settings.jwt_secret.as_ref().filter(|s| !s.is_empty()) {
        if s.len() < 32 {
            tracing::warn!("SOURCEGATE_JWT_SECRET is shorter than 32 bytes");
        }
        return Ok((s.as_bytes().to_vec(), false));
    }
    if settings.database_url.is_some() {
        return match settings.jwks_url {
            Some(_) => Ok((Vec::new(), false)),
            None => Err(StartError::NoTokenVerifier),
        };
    }
    let path = settings.data_dir.join("jwt-secret");
    let io = |context: &str, source| StartError::Io {
        context: format!("{context} {}", path.display()),
        source,
    };
    if path.is_file() {
        let s = std::fs::read_to_string(&path).map_err(|e| io("reading", e))?;
        return Ok((s.trim().as_bytes().to_vec(), false));
    }
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| io("creating dir for", e))?;
    let secret = {
        use rand::Rng as _;
        use rand::distr::Alphanumeric;
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect::<String>()
    };
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("creating", e))?;
        f.write_all(secret.as_bytes())
            .map_err(|e| io("writing", e))?;
    }
    Ok((secret.into_bytes(), true))
}

/// Reads the secret for `mint-token`: `SOURCEGATE_JWT_SECRET`, else `<data_dir>/jwt-secret`.
///
/// # Errors
/// [`StartError::Io`] when neither is available.
pub fn secret_for_cli(settings: &Settings) -> Result<Vec<u8>, StartError> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt-secret");
    read_secret_file(&path)
}

fn read_secret_file(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().as_bytes().to_vec())
        .map_err(|source| StartError::Io {
            context: format!(
                "reading {} (set SOURCEGATE_JWT_SECRET or start the server once)",
                path.display()
            ),
            source,
        })
}
