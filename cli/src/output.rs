//! Human-readable output: aligned tables (comfy-table) and one-line summaries. Pure.

use comfy_table::{CellAlignment, LineStyle, Table, TableStyle, presets};

use crate::api::{ConfigView, HistoryItem, OriginTestResult};
use crate::document;
use crate::probe::OriginProbe;

fn kv_table(rows: &[(&str, String)]) -> String {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    for (k, v) in rows {
        t.add_row(vec![(*k).to_owned(), v.clone()]);
    }
    trim_lines(&t.trim_fmt())
}

fn grid(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut t = Table::new();
    // No borders; a dashed line under the header, columns separated by spaces.
    t.load_style(TableStyle::new().header_separator(LineStyle::none().fill('-').junction(' ')));
    t.set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    for &i in right {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    trim_lines(&t.trim_fmt())
}

fn trim_lines(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_end().strip_prefix(' ').unwrap_or(l.trim_end()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The roles a request runs as (`supabase/migrations`): any other `changedRole` is the SQL
/// user of a direct database write, such as the migration that seeds version 1.
const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// Who wrote a version, for people, from the history's `changedBy` / `changedRole` (the role
/// is `None` when only the configuration view is known):
/// - a user id → `user <uuid>` (an admin user, or a service token with a `sub`);
/// - no user id, role `service_role` (or not known, past version 1) → `service_role`;
/// - no user id at version 1, written by the SQL user rather than an API role (or role not
///   known) → `seed` (the migration's seed row);
/// - no user id, any other role → that role (e.g. `authenticated` for an admin token without
///   `sub`, or the SQL user of a direct database write).
pub fn actor(changed_by: Option<&str>, changed_role: Option<&str>, version: i64) -> String {
    match (changed_by, changed_role) {
        (Some(id), _) => format!("user {id}"),
        (None, Some("service_role")) => "service_role".to_owned(),
        (None, Some(role)) if version == 1 && !API_ROLES.contains(&role) => "seed".to_owned(),
        (None, Some(role)) => role.to_owned(),
        (None, None) if version == 1 => "seed".to_owned(),
        (None, None) => "service_role".to_owned(),
    }
}

/// The writer of `view`: its [`ConfigView::actor`] when the CLI filled it in, else derived
/// from `updatedBy` and the version alone.
pub fn view_actor(view: &ConfigView) -> String {
    view.actor.clone().unwrap_or_else(|| {
        let by = view.updated_by.map(|u| u.to_string());
        actor(by.as_deref(), None, view.version)
    })
}

/// The writer of a history entry (see [`actor`]).
pub fn item_actor(item: &HistoryItem) -> String {
    item.actor.clone().unwrap_or_else(|| {
        let by = item.changed_by.map(|u| u.to_string());
        actor(by.as_deref(), item.changed_role.as_deref(), item.version)
    })
}

/// An instant as the product writes it everywhere: RFC 3339 in UTC, `Z`, with as many
/// fraction digits as it has (0, 3, 6 or 9).
pub fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} ms"))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| x.to_string())
}

/// The configuration as a key/value block.
pub fn config_block(view: &ConfigView) -> String {
    let v = &view.value;
    let flag = |k: &str| match v.get(k).and_then(serde_json::Value::as_bool) {
        Some(true) => "on",
        Some(false) => "off",
        None => "on (default)",
    };
    kv_table(&[
        ("Configuration", view.key.clone()),
        ("Version", view.version.to_string()),
        ("Mode", document::summary(v)),
        ("Git origin", opt(document::git_url(v))),
        ("CDN origin", opt(document::cdn_url(v))),
        ("Health checks", flag("healthCheckEnabled").to_owned()),
        ("Fallback on error", flag("fallbackOnError").to_owned()),
        ("Integrity", document::integrity_summary(v)),
        ("Updated", when(&view.updated_at)),
        ("Updated by", view_actor(view)),
    ])
}

/// `status`: the configuration, then what each origin answered.
pub fn status(view: &ConfigView, probes: &[OriginProbe]) -> String {
    let mut s = config_block(view);
    if !probes.is_empty() {
        let rows = probes
            .iter()
            .map(|p| {
                vec![
                    p.origin.clone(),
                    p.url.clone(),
                    opt(p.status),
                    ms(p.latency_ms),
                    if p.ok() {
                        "ok".to_owned()
                    } else {
                        p.error.clone().unwrap_or_else(|| "error".to_owned())
                    },
                ]
            })
            .collect();
        s.push_str("\n\n");
        s.push_str(&grid(
            &["Origin", "URL", "Status", "Latency", "Result"],
            rows,
            &[2, 3],
        ));
    }
    s
}

/// `set` / `rollback`: what changed.
pub fn changed(verb: &str, before: Option<&ConfigView>, after: &ConfigView) -> String {
    let mut s = match before {
        Some(b) => format!(
            "{verb}: {} version {} → {} ({} → {})\n",
            after.key,
            b.version,
            after.version,
            document::summary(&b.value),
            document::summary(&after.value)
        ),
        None => format!("{verb}: {} version {}\n", after.key, after.version),
    };
    s.push_str(&config_block(after));
    s
}

/// `history`: one row per version, newest first; `documents` appends each exact document.
pub fn history(items: &[HistoryItem], documents: bool) -> String {
    if items.is_empty() {
        return "no history".into();
    }
    let rows = items
        .iter()
        .map(|i| {
            let by = item_actor(i);
            let mode = i
                .new_value
                .as_ref()
                .map_or_else(|| "(deleted)".to_owned(), document::summary);
            let changes = document::diff(i.old_value.as_ref(), i.new_value.as_ref()).join("\n");
            vec![
                i.version.to_string(),
                when(&i.changed_at),
                i.op.clone(),
                by,
                mode,
                i.reason.clone().unwrap_or_else(|| "-".into()),
                changes,
            ]
        })
        .collect();
    let mut s = grid(
        &["Version", "When", "Op", "By", "Mode", "Reason", "Changes"],
        rows,
        &[0],
    );
    if documents {
        for i in items {
            let doc = i
                .new_value
                .as_ref()
                .and_then(|v| serde_json::to_string_pretty(v).ok())
                .unwrap_or_else(|| "null".into());
            s.push_str(&format!("\n\n# version {}\n{doc}", i.version));
        }
    }
    s
}

/// `test`: the probe result.
pub fn origin_test(r: &OriginTestResult) -> String {
    kv_table(&[
        ("URL", r.url.clone()),
        ("Result", if r.ok { "ok" } else { "failed" }.to_owned()),
        ("Status", opt(r.status)),
        ("Latency", ms(r.latency_ms)),
        ("Bytes", opt(r.bytes)),
        (
            "Registry",
            if r.valid_registry {
                format!("valid, {} entries", opt(r.entries))
            } else {
                "not a plugin registry".to_owned()
            },
        ),
        ("Error", r.error.clone().unwrap_or_else(|| "-".into())),
    ])
}

/// `watch`: one line per version.
pub fn watch_line(v: &ConfigView) -> String {
    format!(
        "{}  v{}  {}  by {}",
        when(&v.updated_at),
        v.version,
        document::summary(&v.value),
        view_actor(v)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view() -> ConfigView {
        ConfigView {
            key: "marketplace_source".into(),
            version: 3,
            value: json!({"type":"canary","canaryPercent":10,"gitUrl":"https://g.example/",
                          "cdnUrl":"https://c.example/","fallbackOnError":false}),
            updated_at: "2026-11-23T18:00:00Z".parse().unwrap(),
            updated_by: None,
            actor: None,
        }
    }

    #[test]
    fn status_table_is_aligned_and_complete() {
        let probes = vec![
            OriginProbe {
                origin: "git".into(),
                url: "https://g.example/community-plugins.json".into(),
                status: Some(200),
                latency_ms: Some(12.4),
                error: None,
            },
            OriginProbe {
                origin: "cdn".into(),
                url: "https://c.example/community-plugins.json".into(),
                status: None,
                latency_ms: None,
                error: Some("connection refused".into()),
            },
        ];
        let s = status(&view(), &probes);
        assert!(s.contains("canary 10% on cdn"), "{s}");
        assert!(s.contains("Updated by         service_role"), "{s}");
        assert!(s.contains("12 ms"), "{s}");
        assert!(s.contains("connection refused"), "{s}");
        let fallback = s
            .lines()
            .find(|l| l.starts_with("Fallback on error"))
            .unwrap();
        assert!(fallback.ends_with("off"), "{fallback}");
        // Keys are padded to one column: every value starts at the same offset.
        let offsets: Vec<usize> = s
            .lines()
            .take(9)
            .map(|l| {
                let key_end = l.find("  ").unwrap();
                key_end + l[key_end..].find(|c: char| c != ' ').unwrap()
            })
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] == w[1]), "{s}");
    }

    #[test]
    fn history_rows_show_reason_and_changes() {
        let items = vec![HistoryItem {
            version: 2,
            op: "UPDATE".into(),
            old_value: Some(json!({"type":"git","gitUrl":"https://g.example/"})),
            new_value: Some(
                json!({"type":"cdn","gitUrl":"https://g.example/","cdnUrl":"https://c.example/"}),
            ),
            changed_by: Some("2b6c1e9e-0000-4000-8000-000000000000".parse().unwrap()),
            changed_role: Some("authenticated".into()),
            changed_at: "2026-11-23T18:00:00Z".parse().unwrap(),
            reason: Some("move to CDN".into()),
            actor: None,
        }];
        let s = history(&items, true);
        assert!(s.contains("move to CDN"), "{s}");
        assert!(s.contains("type: git → cdn"), "{s}");
        assert!(s.contains("user 2b6c1e9e-"), "{s}");
        assert!(s.contains("# version 2"), "{s}");
        assert_eq!(history(&[], false), "no history");
    }

    #[test]
    fn actor_names_who_wrote_a_version() {
        let id = "2b6c1e9e-0000-4000-8000-000000000000";
        assert_eq!(
            actor(Some(id), Some("authenticated"), 2),
            format!("user {id}")
        );
        assert_eq!(
            actor(Some(id), Some("service_role"), 2),
            format!("user {id}")
        );
        assert_eq!(actor(None, Some("service_role"), 2), "service_role");
        assert_eq!(actor(None, Some("service_role"), 1), "service_role");
        // The migration's seed row: version 1, written by the SQL user.
        assert_eq!(actor(None, Some("postgres"), 1), "seed");
        assert_eq!(actor(None, None, 1), "seed");
        // A later direct SQL write, or an admin token without `sub`, is named by its role.
        assert_eq!(actor(None, Some("postgres"), 7), "postgres");
        assert_eq!(actor(None, Some("authenticated"), 1), "authenticated");
        // Only the view: no user id past version 1 is a service-role write.
        assert_eq!(actor(None, None, 5), "service_role");
    }

    #[test]
    fn watch_and_test_lines() {
        assert_eq!(
            watch_line(&view()),
            "2026-11-23T18:00:00Z  v3  canary 10% on cdn  by service_role"
        );
        let seed = ConfigView {
            version: 1,
            ..view()
        };
        assert!(watch_line(&seed).ends_with("by seed"));
        let filled = ConfigView {
            actor: Some("postgres".into()),
            ..view()
        };
        assert!(watch_line(&filled).ends_with("by postgres"));
        let r = OriginTestResult {
            url: "https://c.example/community-plugins.json".into(),
            ok: true,
            status: Some(200),
            latency_ms: Some(5.0),
            bytes: Some(1000),
            valid_registry: true,
            entries: Some(3),
            error: None,
        };
        let s = origin_test(&r);
        assert!(s.contains("valid, 3 entries"), "{s}");
    }
}
