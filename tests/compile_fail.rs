//! The typed REQ/REP API turns misuse into compile errors. Each rule of the "Typed API" table
//! in `patterns/reqrep.md` has a file under `tests/compile-fail/` that must fail to build.

mod util;

#[test]
fn misuse_of_the_typed_sockets_does_not_compile() {
    let rows = util::spec::table("reqrep.md", "Typed API");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compile-fail");
    let t = trybuild::TestCases::new();
    for row in &rows {
        let file = dir.join(&row["compile-fail test"]);
        assert!(
            file.exists(),
            "{} is listed in reqrep.md but missing",
            file.display()
        );
        t.compile_fail(file);
    }
    // Every file in the folder must be in the table: no rule without its spec row.
    let listed: Vec<_> = rows
        .iter()
        .map(|r| r["compile-fail test"].clone())
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            assert!(listed.contains(&name), "{name} has no row in reqrep.md");
        }
    }
}
