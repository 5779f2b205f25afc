//! Secrets a configuration file points at (`env:VAR`, `file:/path`), read by the gateway's
//! upstream credentials and the probe targets' headers alike.

use custos_core::{Secret, secret::read_reference};

#[test]
fn a_reference_is_read_and_trimmed_and_a_literal_is_not_a_reference() {
    let path = std::env::temp_dir().join(format!("custos-secret-{}.txt", std::process::id()));
    std::fs::write(&path, "  s3cret-value\n").unwrap();
    let got = read_reference(&format!("file:{}", path.display()));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got, Some(Ok("s3cret-value".to_string())));
    let home = std::env::var("PATH").unwrap();
    assert_eq!(read_reference("env:PATH"), Some(Ok(home.trim().to_string())));
    assert_eq!(read_reference("Bearer abc"), None);
    assert_eq!(read_reference("environment:PATH"), None);
}

#[test]
fn an_unreadable_reference_names_the_variable_or_path_never_a_value() {
    let why = read_reference("env:CUSTOS_TEST_NEVER_SET_4C1D").unwrap().unwrap_err();
    assert_eq!(why, "environment variable `CUSTOS_TEST_NEVER_SET_4C1D` is not set");
    let why = read_reference("file:/nonexistent/custos/token").unwrap().unwrap_err();
    assert!(why.starts_with("cannot read `/nonexistent/custos/token`: "), "{why}");
    assert_eq!(format!("{:?} {}", Secret::new("x"), Secret::new("x")), "*** ***");
}
