//! Test doubles shared by the ARM layer's tests.

use azure_core::{
    credentials::{AccessToken, TokenCredential, TokenRequestOptions},
    error::ErrorKind,
    http::{AsyncRawResponse, HttpClient, Request, Transport, new_http_client},
    time::{Duration as CoreDuration, OffsetDateTime},
};
use azure_identity::Executor;
use std::{
    ffi::OsStr,
    io,
    process::Output,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};
use url::Url;

/// A fake `az` / `azd`: answers each command by the first rule whose needle it contains.
#[derive(Debug, Default)]
pub(crate) struct FakeExecutor {
    /// (needle in the command line, exit code, stdout, stderr)
    pub rules: Vec<(String, i32, String, String)>,
    pub commands: Mutex<Vec<String>>,
}

impl FakeExecutor {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn rule(mut self, needle: &str, code: i32, stdout: &str, stderr: &str) -> Self {
        self.rules
            .push((needle.into(), code, stdout.into(), stderr.into()));
        self
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

#[cfg(unix)]
fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(code << 8)
}

#[cfg(windows)]
fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::windows::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(code as u32)
}

#[async_trait::async_trait]
impl Executor for FakeExecutor {
    async fn run(&self, _program: &OsStr, args: &[&OsStr]) -> io::Result<Output> {
        let command = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        self.commands.lock().unwrap().push(command.clone());
        let (code, stdout, stderr) = self
            .rules
            .iter()
            .find(|(needle, ..)| command.contains(needle.as_str()))
            .map(|(_, c, o, e)| (*c, o.clone(), e.clone()))
            .unwrap_or((127, String::new(), "command not found".into()));
        Ok(Output {
            status: exit_status(code),
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
        })
    }
}

/// An `HttpClient` that sends every request to `target` (scheme, host and port replaced),
/// recording the original URLs.
#[derive(Debug)]
pub(crate) struct RedirectClient {
    pub target: Url,
    pub inner: Arc<dyn HttpClient>,
    pub original_urls: Mutex<Vec<String>>,
}

impl RedirectClient {
    pub fn transport(target: &str) -> (Transport, Arc<RedirectClient>) {
        let client = Arc::new(RedirectClient {
            target: Url::parse(target).unwrap(),
            inner: new_http_client(None),
            original_urls: Mutex::new(Vec::new()),
        });
        (Transport::new(client.clone()), client)
    }
}

#[async_trait::async_trait]
impl HttpClient for RedirectClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut request = request.clone();
        self.original_urls
            .lock()
            .unwrap()
            .push(request.url().as_str().to_owned());
        let url = request.url_mut();
        url.set_scheme(self.target.scheme()).unwrap();
        url.set_host(self.target.host_str()).unwrap();
        url.set_port(self.target.port()).unwrap();
        self.inner.execute_request(&request).await
    }
}

/// A credential counting its calls, answering `token` (or failing when `fail` is set).
#[derive(Debug)]
pub(crate) struct CountingCredential {
    pub token: String,
    pub calls: AtomicUsize,
    pub lifetime: CoreDuration,
    pub fail: bool,
    pub delay: std::time::Duration,
}

impl CountingCredential {
    pub fn new(token: &str) -> Arc<Self> {
        Arc::new(CountingCredential {
            token: token.into(),
            calls: AtomicUsize::new(0),
            lifetime: CoreDuration::hours(1),
            fail: false,
            delay: std::time::Duration::ZERO,
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenCredential for CountingCredential {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail {
            return Err(azure_core::Error::with_message(
                ErrorKind::Credential,
                "fake credential failure",
            ));
        }
        Ok(AccessToken::new(
            self.token.clone(),
            OffsetDateTime::now_utc() + self.lifetime,
        ))
    }
}
