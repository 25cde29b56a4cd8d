//! Restarting the target for `dcr.client-usable` and `jwks.outage-fails-closed`: the process
//! started by `--command`, the bundled reference target, or a target the user runs, through
//! `--restart-cmd`. Every restart is bounded
//! by the start timeout and resolves once the target's port accepts connections again.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::poll::poll_until_blocking;
use crate::spawn::{GroupSignal, SpawnedTarget, TargetEnv, signal_group, wait_for_port};

/// A restart in progress.
pub type RestartFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// Restarts the target and resolves once it listens again: the started `--command`, the bundled
/// reference target, or `--restart-cmd`.
#[derive(Clone)]
pub struct TargetRestart(pub std::sync::Arc<dyn Fn() -> RestartFuture + Send + Sync>);

impl TargetRestart {
    pub async fn restart(&self) -> Result<(), String> {
        (self.0)().await
    }
}

impl std::fmt::Debug for TargetRestart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TargetRestart")
    }
}

/// The bundled reference target, which a check may restart on the same address.
#[cfg(feature = "demo")]
pub struct RestartableReference {
    slot: Arc<tokio::sync::Mutex<Option<reference_target::RunningTarget>>>,
    config: reference_target::TargetConfig,
}

#[cfg(feature = "demo")]
impl RestartableReference {
    /// `config` is what `running` was started with; restarts bind the address it got.
    pub fn new(
        running: reference_target::RunningTarget,
        mut config: reference_target::TargetConfig,
    ) -> Self {
        config.addr = running.addr();
        RestartableReference {
            slot: Arc::new(tokio::sync::Mutex::new(Some(running))),
            config,
        }
    }

    /// Stops the target and starts a fresh one (new state, new keys) on the same address.
    pub fn restarter(&self) -> TargetRestart {
        let slot = self.slot.clone();
        let config = self.config.clone();
        TargetRestart(Arc::new(move || {
            let slot = slot.clone();
            let config = config.clone();
            Box::pin(async move {
                let mut running = slot.lock().await;
                if let Some(old) = running.take() {
                    old.shutdown().await;
                }
                let fresh = reference_target::serve(config)
                    .await
                    .map_err(|e| format!("the reference target did not start again: {e:#}"))?;
                *running = Some(fresh);
                Ok(())
            })
        }))
    }

    pub async fn shutdown(self) {
        // Taken in its own statement, so the slot's lock is not held while the target stops.
        let running = self.slot.lock().await.take();
        if let Some(running) = running {
            running.shutdown().await;
        }
    }
}

/// Without the `demo` feature there is no bundled reference target: a type with no values, so
/// the command line's code for it compiles and can never run.
#[cfg(not(feature = "demo"))]
pub enum RestartableReference {}

#[cfg(not(feature = "demo"))]
impl RestartableReference {
    pub fn restarter(&self) -> TargetRestart {
        match *self {}
    }

    pub async fn shutdown(self) {
        match self {}
    }
}

/// The `--command` target, shared between the run (which stops it at the end) and the restart.
pub type SpawnedSlot = Arc<Mutex<Option<SpawnedTarget>>>;

/// Stops the started command's process group and starts the command again with the same
/// environment (the same port).
pub fn command_restarter(
    slot: SpawnedSlot,
    command: String,
    env: TargetEnv,
    log: Option<PathBuf>,
    timeout: Duration,
) -> TargetRestart {
    TargetRestart(Arc::new(move || {
        let (slot, command, env, log) = (slot.clone(), command.clone(), env.clone(), log.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut started = slot
                    .lock()
                    .map_err(|_| "the started target's lock was poisoned".to_string())?;
                if let Some(mut old) = started.take() {
                    old.stop();
                }
                // A dying process may still accept a connection or two: the new one is started
                // (and waited for) only once the old one's port is closed, or a check would
                // judge the old process's last answers.
                wait_until_closed(&env.target_url, Duration::from_secs(5));
                let fresh = SpawnedTarget::start_again(&command, &env, log, timeout)
                    .map_err(|e| format!("--command did not start again: {e}"))?;
                *started = Some(fresh);
                Ok(())
            })
            .await
            .map_err(|e| format!("restarting --command: {e}"))?
        })
    }))
}

/// Waits (at most `timeout`) until nothing accepts connections at the URL's host and port.
fn wait_until_closed(url: &str, timeout: Duration) {
    let Ok(url) = url::Url::parse(url) else {
        return;
    };
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(80).to_string();
    let _ = poll_until_blocking(timeout, Duration::from_millis(50), || {
        if crate::spawn::accepts_now(&host, &port) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
}

/// Runs `--restart-cmd` with `sh -c` (bounded by `timeout`), then waits until the target's port
/// accepts connections.
pub fn shell_restarter(command: String, target_url: String, timeout: Duration) -> TargetRestart {
    TargetRestart(Arc::new(move || {
        let (command, target_url) = (command.clone(), target_url.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || run_restart_command(&command, &target_url, timeout))
                .await
                .map_err(|e| format!("--restart-cmd: {e}"))?
        })
    }))
}

fn run_restart_command(command: &str, target_url: &str, timeout: Duration) -> Result<(), String> {
    let url = url::Url::parse(target_url).map_err(|e| format!("{target_url:?}: {e}"))?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port_or_known_default().unwrap_or(80).to_string();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Its own process group, so a timeout stops what the shell started, not only the shell.
        cmd.process_group(0);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("--restart-cmd {command:?} could not be started: {e}"))?;
    let started = Instant::now();
    let exited = poll_until_blocking(timeout, Duration::from_millis(100), || {
        match child.try_wait() {
            Ok(Some(status)) => ControlFlow::Break(status),
            _ => ControlFlow::Continue(()),
        }
    });
    let Ok(status) = exited else {
        signal_group(child.id(), GroupSignal::Kill);
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "--restart-cmd {command:?} did not finish within {} s",
            timeout.as_secs()
        ));
    };
    if !status.success() {
        return Err(format!("--restart-cmd {command:?} failed ({status})"));
    }
    let left = timeout.saturating_sub(started.elapsed());
    if wait_for_port(&host, &port, left) {
        Ok(())
    } else {
        Err(format!(
            "{host}:{port} did not accept connections within {} s of --restart-cmd",
            timeout.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_command_waits_for_the_port_and_reports_failures() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        let short = Duration::from_secs(2);
        assert_eq!(run_restart_command("true", &url, short), Ok(()));
        let failed = run_restart_command("exit 3", &url, short).expect_err("exit 3");
        assert!(failed.contains("failed"), "{failed}");
        let slow = run_restart_command("sleep 30", &url, Duration::from_millis(300))
            .expect_err("too slow");
        assert!(slow.contains("did not finish"), "{slow}");
        drop(listener);
        let closed = run_restart_command("true", &url, Duration::from_millis(300))
            .expect_err("nothing listens");
        assert!(closed.contains("did not accept connections"), "{closed}");
    }
}
