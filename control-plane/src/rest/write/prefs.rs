//! PostgREST's `Prefer` header for table writes: `return=`, `count=exact`, `resolution=` and
//! `handling=` (PostgREST's docs, "Prefer header"; RFC 7240 for the header itself).

use axum::http::{HeaderMap, StatusCode};

use super::super::error::RestError;

/// `Prefer: return=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Return {
    /// No body (the default).
    Minimal,
    /// The affected rows.
    Representation,
    /// No body; a `Location` header for a one-row insert.
    HeadersOnly,
}

/// `Prefer: resolution=…` (inserts only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    /// `ON CONFLICT … DO UPDATE`.
    Merge,
    /// `ON CONFLICT … DO NOTHING`.
    Ignore,
}

/// The preferences of a write, and the tokens to echo in `Preference-Applied`.
#[derive(Debug)]
pub(super) struct Prefs {
    /// `return=`.
    pub(super) ret: Return,
    /// `count=exact`.
    pub(super) count: bool,
    /// `resolution=` (inserts only).
    pub(super) resolution: Option<Resolution>,
    /// The tokens honoured, one per preference name, for `Preference-Applied`.
    pub(super) applied: Vec<String>,
}

/// Reads every `Prefer` header (comma-separated tokens). Unknown or unfulfillable tokens are
/// ignored, as PostgREST's default `handling=lenient`; with `handling=strict` they are 400
/// `PGRST122`. `resolution` is only honoured on `POST`.
pub(super) fn prefs(headers: &HeaderMap, insert: bool) -> Result<Prefs, RestError> {
    let mut p = Prefs {
        ret: Return::Minimal,
        count: false,
        resolution: None,
        applied: Vec::new(),
    };
    let mut strict = false;
    let mut invalid: Vec<String> = Vec::new();
    let tokens = headers
        .get_all("prefer")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    for token in tokens {
        let applied = match token {
            "return=minimal" => {
                p.ret = Return::Minimal;
                true
            }
            "return=representation" => {
                p.ret = Return::Representation;
                true
            }
            "return=headers-only" => {
                p.ret = Return::HeadersOnly;
                true
            }
            "count=exact" => {
                p.count = true;
                true
            }
            "resolution=merge-duplicates" if insert => {
                p.resolution = Some(Resolution::Merge);
                true
            }
            "resolution=ignore-duplicates" if insert => {
                p.resolution = Some(Resolution::Ignore);
                true
            }
            "handling=strict" => {
                strict = true;
                true
            }
            "handling=lenient" => {
                strict = false;
                true
            }
            other => {
                invalid.push(other.to_owned());
                false
            }
        };
        if applied {
            // One echo per preference name: the last value given wins, as it does above.
            let name = token.split('=').next().unwrap_or(token);
            p.applied
                .retain(|a| a.split('=').next().unwrap_or(a) != name);
            p.applied.push(token.to_owned());
        }
    }
    if strict && !invalid.is_empty() {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .details(format!("Invalid preferences: {}", invalid.join(", "))));
    }
    Ok(p)
}
