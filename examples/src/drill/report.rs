//! The drill's table, as `migration_drill` prints it.

use super::Report;

/// Bytes as KB (1,000 bytes), one decimal.
fn kb(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let kb = bytes as f64 / 1000.0;
    format!("{kb:.1}")
}

/// Renders the per-phase table printed by the drill.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let header = [
        "phase",
        "mode",
        "requests",
        "git",
        "cdn",
        "fallbacks",
        "errors",
        "429s",
        "p50 ms",
        "p99 ms",
        "propagation ms",
        "on CDN",
        "git KB",
        "cdn KB",
        "200s",
        "304s",
        "fresh",
    ];
    let rows: Vec<Vec<String>> = report
        .phases
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.mode.clone(),
                p.requests.to_string(),
                p.git.to_string(),
                p.cdn.to_string(),
                p.fallbacks.to_string(),
                p.errors.to_string(),
                p.rate_limited.to_string(),
                format!("{:.1}", p.p50_ms),
                format!("{:.1}", p.p99_ms),
                p.propagation_ms
                    .map_or_else(|| "-".into(), |m| format!("{m:.0}")),
                p.canary_share_percent
                    .map_or_else(|| "-".into(), |s| format!("{s:.1}%")),
                kb(p.git_bytes),
                kb(p.cdn_bytes),
                (p.git_200 + p.cdn_200).to_string(),
                (p.git_304 + p.cdn_304).to_string(),
                p.fresh.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    out.push_str(&line(header.iter().map(|s| (*s).to_string()).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}
