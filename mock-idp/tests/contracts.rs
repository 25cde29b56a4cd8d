//! `docs/contracts.md` stays true: its `IdpConfig` block names exactly the struct's fields, and its
//! control-route table lists exactly the routes the control API serves, in the same order.

use std::path::PathBuf;

use mock_idp::{AuthzSettings, CONTROL_ROUTES, IdpConfig};

fn contracts() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/contracts.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every field of `IdpConfig`, in declaration order. The struct literal below names each one
/// without `..`, so a new field fails to compile here until it is added to this list (and then to
/// the contract).
const FIELDS: &[&str] = &[
    "addr",
    "state_dir",
    "default_audience",
    "introspection_client_id",
    "introspection_client_secret",
    "token_client_id",
    "token_client_secret",
    "authz",
    "issuers",
    "limits",
    "issuer",
    "control_token",
];

#[test]
fn the_idp_config_block_names_every_field() {
    let IdpConfig {
        addr: _,
        state_dir: _,
        default_audience: _,
        introspection_client_id: _,
        introspection_client_secret: _,
        token_client_id: _,
        token_client_secret: _,
        authz: AuthzSettings { .. },
        issuers: _,
        limits: _,
        issuer: _,
        control_token: _,
    } = IdpConfig::default();
    let text = contracts();
    let block = text
        .split("pub struct IdpConfig {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("docs/contracts.md has a `pub struct IdpConfig { ... }` block");
    let documented: Vec<&str> = block
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub "))
        .filter_map(|field| field.split(':').next())
        .collect();
    assert_eq!(
        documented, FIELDS,
        "the IdpConfig block of docs/contracts.md §1"
    );
}

#[test]
fn the_control_route_table_is_the_router() {
    let text = contracts();
    let documented: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| ")?.split(" |").next()?;
            let (method, path) = cell.split_once(' ')?;
            if !matches!(method, "GET" | "POST" | "DELETE") {
                return None;
            }
            let path = path.trim_matches('`');
            let path = path.split('?').next().unwrap_or(path);
            Some((method.to_owned(), path.to_owned()))
        })
        .collect();
    let served: Vec<(String, String)> = CONTROL_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        documented, served,
        "the control table of docs/contracts.md §2"
    );
}
