//! The README's table of the ingest's settings, rendered from the one definition (clap's view
//! of [`IngestArgs`]): a test compares it with README.md, between [`FLAG_TABLE_BEGIN`] and
//! [`FLAG_TABLE_END`].

use clap::CommandFactory;

use super::IngestArgs;

/// The line before the generated table in README.md.
pub const FLAG_TABLE_BEGIN: &str = "<!-- ingest-flags: generated from ingest/src/config; ZONECAST_UPDATE_GOLDEN=1 cargo test -p zonecast-ingest --lib config rewrites it -->";
/// The line after it.
pub const FLAG_TABLE_END: &str = "<!-- ingest-flags end -->";

/// One row per flag: flag, environment variable, default (`none`: unset) and meaning (the
/// first paragraph of the doc, then each policy value with its own doc's first sentence).
pub fn flag_table() -> String {
    let mut command = IngestArgs::command();
    command.build();
    let mut table = String::from("| flag | env | default | meaning |\n| --- | --- | --- | --- |\n");
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || matches!(long, "help" | "version") {
            continue;
        }
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect();
        let default = match defaults.is_empty() {
            true => "none".to_owned(),
            false => defaults.join(", "),
        };
        let mut meaning = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| match v.get_help() {
                Some(help) => format!("`{}`: {}", v.get_name(), first_sentence(&help.to_string())),
                None => format!("`{}`", v.get_name()),
            })
            .collect();
        if !values.is_empty() {
            meaning = format!("{meaning}. {}", values.join("; "));
        }
        let meaning = meaning.replace('|', "\\|").replace('\n', " ");
        table.push_str(&format!("| `--{long}` | {env} | {default} | {meaning} |\n"));
    }
    table
}

/// Up to the first `. ` (a period followed by a space), without a final period.
fn first_sentence(text: &str) -> &str {
    let sentence = text.find(". ").map_or(text, |end| &text[..end]);
    sentence.strip_suffix('.').unwrap_or(sentence)
}
