//! `--command`: starts the target under test with the mock IdP's settings in its environment,
//! waits until it answers, and stops it (its whole process group) when the run ends.
//!
//! The environment contract is documented in the README ("Spawning the target"); the names are
//! the constants below so the docs, the interop targets and this code cannot drift apart.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::HarnessError;
use crate::poll::poll_until_blocking;

/// The client an OAuth proxy under test uses at the mock IdP, its upstream (pre-registered, as
/// at GitHub, Google or Azure).
pub const UPSTREAM_CLIENT_ID: &str = "mcp-proxy-upstream";
pub const UPSTREAM_CLIENT_SECRET: &str = "mcp-proxy-upstream-secret";
/// The proxy's own callback path at its origin, registered at the upstream.
pub const UPSTREAM_CALLBACK_PATH: &str = "/auth/callback";

/// The upstream client's registration at the mock IdP for a proxy at `target_url`: its own
/// callback, plus loopback callbacks (any port) for proxies that pass the client's redirect URI
/// through.
pub fn upstream_client(target_url: &str) -> serde_json::Value {
    let origin = url::Url::parse(target_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    serde_json::json!({
        "client_id": UPSTREAM_CLIENT_ID,
        "client_secret": UPSTREAM_CLIENT_SECRET,
        // No method named: like GitHub, Google or Entra, the upstream takes the secret in the
        // Basic header or in the body, whichever the proxy's OAuth library sends by default.
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [
            format!("{origin}{UPSTREAM_CALLBACK_PATH}"),
            "http://127.0.0.1/callback",
            "http://localhost/callback",
        ],
        "redirect_policy": "loopback-any-port",
    })
}

/// What the spawned target is told.
#[derive(Debug, Clone, Default)]
pub struct TargetEnv {
    /// The MCP endpoint URL (after a `:0` port was replaced by a free one).
    pub target_url: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub introspection_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
    pub required_scopes: Vec<String>,
    /// A valid access token minted before the start, for targets that only accept pre-shared
    /// tokens (static verifiers, API keys).
    pub static_token: Option<String>,
}

impl TargetEnv {
    /// The variables set for the command, sorted by name.
    pub fn variables(&self) -> Result<BTreeMap<&'static str, String>, HarnessError> {
        let url = url::Url::parse(&self.target_url).map_err(|e| {
            HarnessError::Usage(format!("--target {:?} is not a URL: {e}", self.target_url))
        })?;
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        // `Url::host_str` keeps the brackets of an IPv6 literal; a server binds without them.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80).to_string();
        let path = url.path().to_string();
        let scopes = self.required_scopes.join(" ");
        let mut v = BTreeMap::new();
        v.insert("MCP_TARGET_URL", self.target_url.clone());
        v.insert("MCP_TARGET_HOST", host.clone());
        v.insert("MCP_TARGET_PORT", port.clone());
        v.insert("MCP_TARGET_PATH", path);
        v.insert("HOST", host);
        v.insert("PORT", port);
        v.insert("MCP_AUTH_ISSUER", self.issuer.clone());
        v.insert("MCP_AUTH_JWKS_URI", self.jwks_uri.clone());
        v.insert("MCP_AUTH_INTROSPECTION_URL", self.introspection_url.clone());
        v.insert("MCP_AUTH_CLIENT_ID", self.client_id.clone());
        v.insert("MCP_AUTH_CLIENT_SECRET", self.client_secret.clone());
        v.insert("MCP_AUTH_AUDIENCE", self.audience.clone());
        v.insert("MCP_AUTH_RESOURCE", self.target_url.clone());
        v.insert("MCP_AUTH_REQUIRED_SCOPES", scopes.clone());
        // For OAuth proxies: the mock IdP as their upstream identity provider.
        v.insert("MCP_UPSTREAM_ISSUER", self.issuer.clone());
        v.insert(
            "MCP_UPSTREAM_AUTHORIZATION_ENDPOINT",
            format!("{}/authorize", self.issuer),
        );
        v.insert(
            "MCP_UPSTREAM_TOKEN_ENDPOINT",
            format!("{}/token", self.issuer),
        );
        v.insert(
            "MCP_UPSTREAM_REVOCATION_ENDPOINT",
            format!("{}/revoke", self.issuer),
        );
        v.insert("MCP_UPSTREAM_JWKS_URI", self.jwks_uri.clone());
        v.insert("MCP_UPSTREAM_CLIENT_ID", UPSTREAM_CLIENT_ID.to_string());
        v.insert(
            "MCP_UPSTREAM_CLIENT_SECRET",
            UPSTREAM_CLIENT_SECRET.to_string(),
        );
        v.insert(
            "MCP_UPSTREAM_CALLBACK_PATH",
            UPSTREAM_CALLBACK_PATH.to_string(),
        );
        v.insert("MCP_UPSTREAM_SCOPES", scopes);
        // An API the server may call on its users' behalf (the mock IdP records what arrives).
        v.insert("MCP_DOWNSTREAM_URL", format!("{}/downstream", self.issuer));
        if let Some(t) = &self.static_token {
            v.insert("MCP_AUTH_STATIC_TOKEN", t.clone());
        }
        // FastMCP 4.1 reads no auth settings from its environment, but it does read where to
        // listen, so a FastMCP server started with `fastmcp run` needs no wrapper for that.
        v.insert("FASTMCP_HOST", v["MCP_TARGET_HOST"].clone());
        v.insert("FASTMCP_PORT", v["MCP_TARGET_PORT"].clone());
        v.insert("FASTMCP_STREAMABLE_HTTP_PATH", v["MCP_TARGET_PATH"].clone());
        Ok(v)
    }
}

/// Replaces port 0 in a target URL with a free loopback port, so CI need not pick one.
pub fn resolve_port(target_url: &str) -> Result<String, HarnessError> {
    let mut url = url::Url::parse(target_url)
        .map_err(|e| HarnessError::Usage(format!("--target {target_url:?} is not a URL: {e}")))?;
    if url.port() != Some(0) {
        return Ok(target_url.to_string());
    }
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let bind = format!("{}:0", host);
    let addr = bind
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| HarnessError::Usage(format!("cannot resolve {host:?} in --target")))?;
    let listener = TcpListener::bind(addr)
        .map_err(|e| HarnessError::Internal(format!("cannot find a free port on {host}: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| HarnessError::Internal(format!("cannot read the free port: {e}")))?
        .port();
    drop(listener);
    url.set_port(Some(port))
        .map_err(|_| HarnessError::Usage(format!("--target {target_url:?} cannot have a port")))?;
    Ok(url.to_string())
}

/// A started target. Dropping it stops the process group.
#[derive(Debug)]
pub struct SpawnedTarget {
    child: Child,
    command: String,
    log_path: PathBuf,
    /// The log when the user asked for none: a file only this user can read, created under a
    /// name nobody can predict, and removed when the target is dropped.
    _temporary_log: Option<tempfile::TempPath>,
}

/// How long a started target may take to accept connections.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);

impl SpawnedTarget {
    /// Starts `command` with `sh -c` in its own process group, output to `log` (emptied first; or
    /// a temporary file), and waits until the target URL's port accepts connections.
    pub fn start(
        command: &str,
        env: &TargetEnv,
        log: Option<PathBuf>,
        start_timeout: Duration,
    ) -> Result<SpawnedTarget, HarnessError> {
        Self::start_with(command, env, log, start_timeout, false)
    }

    /// [`SpawnedTarget::start`] for a restart: the output goes to the end of `log`, so what the
    /// target printed before the restart (how it met a JWKS outage, say) is kept.
    pub fn start_again(
        command: &str,
        env: &TargetEnv,
        log: Option<PathBuf>,
        start_timeout: Duration,
    ) -> Result<SpawnedTarget, HarnessError> {
        Self::start_with(command, env, log, start_timeout, true)
    }

    fn start_with(
        command: &str,
        env: &TargetEnv,
        log: Option<PathBuf>,
        start_timeout: Duration,
        append: bool,
    ) -> Result<SpawnedTarget, HarnessError> {
        let vars = env.variables()?;
        // The log holds what the target prints, tokens and secrets included: only this user may
        // read it, and a temporary one gets a name nobody can prepare a link at.
        let (out, log_path, temporary) = match log {
            Some(path) => {
                let out = private_file(&path, append).map_err(|e| {
                    HarnessError::Internal(format!("cannot create {}: {e}", path.display()))
                })?;
                (out, path, None)
            }
            None => {
                let file = tempfile::Builder::new()
                    .prefix("mcp-auth-target-")
                    .suffix(".log")
                    .tempfile()
                    .map_err(|e| {
                        HarnessError::Internal(format!("cannot create a log file: {e}"))
                    })?;
                let (out, path) = file.into_parts();
                (out, path.to_path_buf(), Some(path))
            }
        };
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::Internal(format!("cannot share the log file: {e}")))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .envs(&vars)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            // Its own process group, so stopping it also stops what the shell started.
            cmd.process_group(0);
        }
        let child = cmd.spawn().map_err(|e| {
            HarnessError::Usage(format!("--command {command:?} could not be started: {e}"))
        })?;
        let mut spawned = SpawnedTarget {
            child,
            command: command.to_string(),
            log_path,
            _temporary_log: temporary,
        };
        spawned.wait_until_listening(
            &vars["MCP_TARGET_HOST"],
            &vars["MCP_TARGET_PORT"],
            start_timeout,
        )?;
        Ok(spawned)
    }

    fn wait_until_listening(
        &mut self,
        host: &str,
        port: &str,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let addrs = socket_addrs(host, port);
        let outcome = poll_until_blocking(timeout, Duration::from_millis(100), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                return ControlFlow::Break(Some(status));
            }
            if accepts(&addrs) {
                return ControlFlow::Break(None);
            }
            ControlFlow::Continue(())
        });
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(HarnessError::TargetUnreachable {
                url: format!("{host}:{port}"),
                reason: format!(
                    "--command {:?} exited ({status}) before it listened; its output:\n{}",
                    self.command,
                    self.log_tail()
                ),
            }),
            Err(()) => Err(HarnessError::TargetUnreachable {
                url: format!("{host}:{port}"),
                reason: format!(
                    "--command {:?} did not listen within {} s; its output:\n{}",
                    self.command,
                    timeout.as_secs(),
                    self.log_tail()
                ),
            }),
        }
    }

    /// The last lines the target printed, for error messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(20);
        lines[start..]
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process group: SIGTERM, then SIGKILL after a grace period.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            // The shell is gone; its group may still hold children.
            signal_group(self.child.id(), GroupSignal::Kill);
            return;
        }
        signal_group(self.child.id(), GroupSignal::Term);
        let exited =
            poll_until_blocking(
                Duration::from_secs(5),
                Duration::from_millis(50),
                || match self.child.try_wait() {
                    Ok(Some(_)) => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                },
            );
        if exited.is_ok() {
            // Anything left in the group after the shell exited is killed outright.
            signal_group(self.child.id(), GroupSignal::Kill);
            return;
        }
        signal_group(self.child.id(), GroupSignal::Kill);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_addrs(host: &str, port: &str) -> Vec<SocketAddr> {
    format!("{host}:{port}")
        .to_socket_addrs()
        .map(|a| a.collect())
        .unwrap_or_default()
}

fn accepts(addrs: &[SocketAddr]) -> bool {
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
}

/// Whether `host:port` accepts a connection now.
pub fn accepts_now(host: &str, port: &str) -> bool {
    accepts(&socket_addrs(host, port))
}

/// Waits (at most `timeout`) until `host:port` accepts connections.
pub fn wait_for_port(host: &str, port: &str, timeout: Duration) -> bool {
    let addrs = socket_addrs(host, port);
    poll_until_blocking(timeout, Duration::from_millis(100), || {
        if accepts(&addrs) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_ok()
}

impl Drop for SpawnedTarget {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates (or truncates, or opens for appending) a file only its owner may read and write.
fn private_file(path: &std::path::Path, append: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    if append {
        options.append(true).create(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        // An existing file keeps its mode through `open`; narrow it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// A signal for a process group.
#[derive(Debug, Clone, Copy)]
pub enum GroupSignal {
    Term,
    Kill,
}

/// Sends a signal to the process group `pgid` (a `--command` target and everything it started
/// without leaving the group: a child that calls `setsid` or `setpgid` escapes, and a target
/// started with `--command` should not daemonize).
pub fn signal_group(pgid: u32, signal: GroupSignal) {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process_group};
        let signal = match signal {
            GroupSignal::Term => Signal::TERM,
            GroupSignal::Kill => Signal::KILL,
        };
        if let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
            let _ = kill_process_group(pid, signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (pgid, signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn logs_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.log");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let file = private_file(&path, false).unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "truncated");
        // A restart appends to the log instead, and the file stays private.
        std::fs::write(&path, "before the restart\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut file = private_file(&path, true).unwrap();
        std::io::Write::write_all(&mut file, b"after it\n").unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "before the restart\nafter it\n"
        );
    }

    #[test]
    fn port_zero_is_replaced_and_others_kept() {
        let u = resolve_port("http://127.0.0.1:0/mcp").unwrap();
        assert!(!u.contains(":0/"), "{u}");
        assert!(u.ends_with("/mcp"));
        assert_eq!(
            resolve_port("http://127.0.0.1:8000/mcp").unwrap(),
            "http://127.0.0.1:8000/mcp"
        );
    }

    #[test]
    fn variables_split_the_url() {
        let env = TargetEnv {
            target_url: "http://[::1]:8123/a/mcp".into(),
            required_scopes: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let v = env.variables().unwrap();
        assert_eq!(v["MCP_TARGET_HOST"], "::1");
        assert_eq!(v["MCP_TARGET_PORT"], "8123");
        assert_eq!(v["MCP_TARGET_PATH"], "/a/mcp");
        assert_eq!(v["MCP_AUTH_REQUIRED_SCOPES"], "a b");
        assert!(!v.contains_key("MCP_AUTH_STATIC_TOKEN"));
    }

    #[test]
    fn a_command_that_exits_early_is_reported_with_its_output() {
        let env = TargetEnv {
            target_url: resolve_port("http://127.0.0.1:0/mcp").unwrap(),
            ..Default::default()
        };
        let err = SpawnedTarget::start(
            "echo starting; echo boom >&2; exit 3",
            &env,
            None,
            Duration::from_secs(10),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("exited"), "{err}");
        assert!(err.contains("boom"), "{err}");
    }

    #[test]
    fn a_listening_command_is_started_and_stopped() {
        let env = TargetEnv {
            target_url: resolve_port("http://127.0.0.1:0/mcp").unwrap(),
            ..Default::default()
        };
        // python3 is on every machine this project supports; it listens on the given port.
        let cmd = "exec python3 -c 'import os,socket,time; s=socket.socket(); s.bind((os.environ[\"MCP_TARGET_HOST\"], int(os.environ[\"MCP_TARGET_PORT\"]))); s.listen(); time.sleep(60)'";
        let mut t = SpawnedTarget::start(cmd, &env, None, Duration::from_secs(20)).unwrap();
        let pid = t.pid();
        t.stop();
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(!alive, "process {pid} survived stop()");
    }
}
