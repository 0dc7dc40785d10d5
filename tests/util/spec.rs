//! Reads the tables of the pattern specs in `patterns/`, so tests drive the code through
//! exactly the rows the spec lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ferromq::{Error, SocketType};

/// One table row, by column name.
pub type Row = BTreeMap<String, String>;

/// The rows of the first markdown table under the heading `heading` in `patterns/<file>`.
pub fn table(file: &str, heading: &str) -> Vec<Row> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("patterns")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_start_matches('#').trim() != heading);
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
    let header = cells(
        table
            .next()
            .unwrap_or_else(|| panic!("empty table under `{heading}`")),
    );
    let rows: Vec<Row> = table
        .skip(1) // the |---| separator
        .map(|l| header.iter().cloned().zip(cells(l)).collect())
        .collect();
    assert!(
        !rows.is_empty(),
        "table under `{heading}` in {file} has no rows"
    );
    rows
}

/// Parses a socket type name as the specs write it (`PUSH`, `XPUB`, ...).
pub fn socket_type(name: &str) -> SocketType {
    // STREAM speaks no ZMTP, so it has no wire name to parse.
    if name.trim() == "STREAM" {
        return SocketType::Stream;
    }
    SocketType::from_wire(name.trim().as_bytes())
        .unwrap_or_else(|| panic!("unknown socket type `{name}` in a spec table"))
}

/// Checks a "Compatible peers" table against `SocketType::is_compatible_with`: each row's
/// list must be exactly the types the code accepts.
pub fn check_compatible_peers(file: &str) {
    for row in table(file, "Compatible peers") {
        let ours = socket_type(&row["socket"]);
        let mut listed: Vec<SocketType> =
            row["may connect to"].split(',').map(socket_type).collect();
        let mut accepted: Vec<SocketType> = SocketType::ALL
            .into_iter()
            .filter(|t| ours.is_compatible_with(*t))
            .collect();
        listed.sort_by_key(|t| t.as_str());
        accepted.sort_by_key(|t| t.as_str());
        assert_eq!(
            listed, accepted,
            "{file}: peers of {ours} differ from the code"
        );
    }
}

/// A call's result as the tables write it: `ok`, `would-block`, `timed-out`, `wrong-state`,
/// `disconnected` or `empty-message`. Any other error fails the test.
pub fn outcome<T, E: Into<Error>>(r: Result<T, E>) -> &'static str {
    match r.map_err(Into::into) {
        Ok(_) => "ok",
        Err(Error::WouldBlock) => "would-block",
        Err(Error::TimedOut) => "timed-out",
        Err(Error::WrongState(_)) => "wrong-state",
        Err(Error::Disconnected) => "disconnected",
        Err(Error::EmptyMessage) => "empty-message",
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Runs every row and returns the (state, event) pairs the table covers.
pub fn run_rows(rows: &[Row], mut run: impl FnMut(&Row)) -> BTreeSet<(String, String)> {
    rows.iter()
        .map(|row| {
            run(row);
            (row["state"].clone(), row["event"].clone())
        })
        .collect()
}

/// Every (state, event) pair of the two lists.
pub fn all_pairs(states: &[&str], events: &[&str]) -> BTreeSet<(String, String)> {
    states
        .iter()
        .flat_map(|s| events.iter().map(move |e| (s.to_string(), e.to_string())))
        .collect()
}
