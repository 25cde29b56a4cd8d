//! The `mcp-auth-conformance` binary: parses the command line and hands over to the library.

fn main() {
    std::process::exit(harness::cli::main());
}
