//! Reads the tables of the pattern specs in `patterns/`, so tests drive the code through
//! exactly the rows the spec lists.

use std::collections::BTreeMap;
use std::path::Path;

use ferromq::SocketType;

/// One table row, by column name.
pub type Row = BTreeMap<String, String>;

/// The rows of the first markdown table under the heading `heading` in `patterns/<file>`.
pub fn table(file: &str, heading: &str) -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("patterns").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().skip_while(|l| l.trim_start_matches('#').trim() != heading);
    assert!(lines.next().is_some(), "no heading `{heading}` in {file}");
    let mut table = lines
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'));
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = cells(table.next().unwrap_or_else(|| panic!("empty table under `{heading}`")));
    let rows: Vec<Row> = table
        .skip(1) // the |---| separator
        .map(|l| header.iter().cloned().zip(cells(l)).collect())
        .collect();
    assert!(!rows.is_empty(), "table under `{heading}` in {file} has no rows");
    rows
}

/// Parses a socket type name as the specs write it (`PUSH`, `XPUB`, ...).
pub fn socket_type(name: &str) -> SocketType {
    SocketType::from_wire(name.trim().as_bytes())
        .unwrap_or_else(|| panic!("unknown socket type `{name}` in a spec table"))
}

/// Checks a "Compatible peers" table against `SocketType::is_compatible_with`: each row's
/// list must be exactly the types the code accepts.
pub fn check_compatible_peers(file: &str) {
    for row in table(file, "Compatible peers") {
        let ours = socket_type(&row["socket"]);
        let mut listed: Vec<SocketType> = row["may connect to"]
            .split(',')
            .map(socket_type)
            .collect();
        let mut accepted: Vec<SocketType> = SocketType::ALL
            .into_iter()
            .filter(|t| ours.is_compatible_with(*t))
            .collect();
        listed.sort_by_key(|t| t.as_str());
        accepted.sort_by_key(|t| t.as_str());
        assert_eq!(listed, accepted, "{file}: peers of {ours} differ from the code");
    }
}
