//! A provisioning job built from one configuration: the validated config, the compiled
//! pipeline, the state store, the target client and the loaded plugins.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use engine::config::{
    BUILTIN_PREFIX, CompileConfig, Config, OAuthStyleName, PluginConfig, ProfileConfig,
    SourceConfig, TargetAuthConfig, TargetConfig,
};
use engine::cycle::Pipeline;
use engine::plugin::{LicenseRule, Transform};
use engine::plugin_stage::{Pinned, PinnedPlugins};
use engine::profile::TargetProfile;
use plugin_host::compile::{CompileLimits, Compiler};
use plugin_host::{Limits, PluginRegistry, Runtime, RuntimeOptions, Snapshot};
use scim_client::{
    ClientConfig, OAuthClient, OAuthStyle, RateClass, ScimClient, Secret, TargetAuth,
};
use store::Store;

use crate::meters::Metered;
use crate::plugin_folder::PluginFolder;
use crate::sources::graph::{ClientAuth, ClientCertificate, GraphSource};

pub struct Job {
    pub config: Config,
    /// Relative paths in the configuration resolve against its folder.
    pub config_dir: PathBuf,
    pub pipeline: Pipeline,
    pub store: Arc<Store>,
    pub client: ScimClient,
    pub registry: Arc<PluginRegistry>,
    /// Every target path muster manages: mapping targets and the profile's license attributes.
    pub managed_paths: BTreeSet<String>,
    /// The Microsoft Graph source (and its cached token) when `[source] kind = "graph"`.
    pub graph: Option<Arc<GraphSource>>,
    /// One writer per person across the runs in flight (a cycle, on-demand runs, the outbox).
    pub people: crate::provision::PersonLocks,
    /// Plugin versions held back by a gate ([`crate::activation`]).
    pub staging: crate::activation::Staging,
    /// This process among the replicas sharing the state, and whether it leads.
    pub replica: Arc<crate::replica::Replica>,
    /// Held while a plugin version is made active and recorded, so following another
    /// replica's activation never undoes one of this replica's (`activation::follow_activations`).
    pub activating: std::sync::Mutex<()>,
}

/// Reads and validates a configuration file, reporting every problem at once. `${NAME}` and
/// `${NAME:-default}` are replaced by environment variables first, so one file can serve
/// several targets; secrets still belong in `*_env` settings, never in the expanded text.
pub fn read_config(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let text = expand_env(&text, |name| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Config::from_toml_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The job's target profile: the built-in one `[target] profile` names, or the file
/// `[target] profile_file` names (relative to the configuration's folder), with the job's
/// `[profile]` additions. A file's problems are reported with its name and line.
pub fn target_profile(config: &Config, config_dir: &Path) -> anyhow::Result<TargetProfile> {
    let Some(file) = &config.target.profile_file else {
        return Ok(TargetProfile::new(
            config.target.profile_name(),
            config.profile.as_ref(),
        ));
    };
    let path = config_dir.join(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("[target] profile_file: reading {}", path.display()))?;
    let label = path.display().to_string();
    let data = ProfileConfig::from_file_text(&label, &text)
        .map_err(|e| anyhow::anyhow!("[target] profile_file: {e}"))?;
    Ok(TargetProfile::from_data(
        &label,
        data,
        config.profile.as_ref(),
    ))
}

/// Replaces `${NAME}` and `${NAME:-default}`; an unset variable without a default is an error
/// naming it. Comments are expanded too, which is harmless.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut missing = Vec::new();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("unclosed `${` in the configuration".into());
        };
        let (name, default) = match after[..end].split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (&after[..end], None),
        };
        match lookup(name)
            .filter(|v| !v.is_empty())
            .or(default.map(str::to_string))
        {
            Some(value) => out.push_str(&value),
            None => missing.push(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "environment variable(s) {} not set and without a default",
            missing.join(", ")
        ))
    }
}

/// How the job signs in to the target, its secrets read now (environment variables through
/// `env`, files relative to `config_dir`), so a missing one stops the job before anything is
/// sent.
pub fn target_auth(
    target: &TargetConfig,
    config_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<TargetAuth> {
    let from_env = |name: &str, what: &str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(Secret::new)
            .with_context(|| format!("{what}: environment variable {name} is not set"))
    };
    let from_file = |path: &Path, what: &str| {
        let path = config_dir.join(path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{what}: cannot read {}", path.display()))?;
        anyhow::ensure!(
            !text.trim().is_empty(),
            "{what}: {} is empty",
            path.display()
        );
        Ok(Secret::new(text.trim()))
    };
    Ok(match (&target.token_env, &target.auth) {
        (Some(env), _) => TargetAuth::Bearer(from_env(env, "the target's bearer token")?),
        (
            None,
            Some(TargetAuthConfig::Bearer {
                token_env,
                token_file,
            }),
        ) => {
            match (token_env, token_file) {
                (Some(env), _) => TargetAuth::Bearer(from_env(env, "the target's bearer token")?),
                (None, Some(file)) => {
                    // Read once now so a missing file stops the job at start, not at the first
                    // request; the client reads it again whenever it changes.
                    from_file(file, "the target's bearer token")?;
                    TargetAuth::BearerFile(config_dir.join(file))
                }
                (None, None) => anyhow::bail!("[target.auth] needs token_env or token_file"),
            }
        }
        (
            None,
            Some(TargetAuthConfig::OauthClientCredentials {
                token_url,
                client_id,
                client_secret_env,
                client_secret_file,
                scope,
                style,
                account_id,
            }),
        ) => {
            let what = "the target's OAuth client secret";
            let client_secret = match (client_secret_env, client_secret_file) {
                (Some(env), _) => from_env(env, what)?,
                (None, Some(file)) => from_file(file, what)?,
                (None, None) => {
                    anyhow::bail!("[target.auth] needs client_secret_env or client_secret_file")
                }
            };
            let style = match (style, account_id) {
                (OAuthStyleName::Zoom, Some(account_id)) => OAuthStyle::Zoom {
                    account_id: account_id.clone(),
                },
                (OAuthStyleName::Zoom, None) => {
                    anyhow::bail!("[target.auth] style = \"zoom\" needs account_id")
                }
                (OAuthStyleName::Rfc6749, _) => OAuthStyle::Rfc6749,
            };
            TargetAuth::OAuth(OAuthClient {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret,
                scope: scope.clone(),
                style,
            })
        }
        (None, None) => anyhow::bail!("[target] needs token_env or a [target.auth] table"),
    })
}

impl Job {
    /// Everything a cycle needs, checked before anything is sent: the target's credentials are
    /// present, the plugins load, the store opens.
    pub fn build(config: Config, config_dir: &Path) -> anyhow::Result<Job> {
        let auth = target_auth(&config.target, config_dir, |name| std::env::var(name).ok())?;
        Job::build_with_auth(config, config_dir, auth, None)
    }

    /// As [`Job::build`], for a command that never contacts the target (a preview): its
    /// credentials are neither needed nor read. The source's still are: it is read.
    pub fn build_offline(config: Config, config_dir: &Path) -> anyhow::Result<Job> {
        // The client refuses an empty token; this one is never sent.
        let auth = TargetAuth::Bearer(Secret::new("never-sent"));
        Job::build_with_auth(config, config_dir, auth, None)
    }

    /// As [`Job::build`], with a bearer token given rather than read from the environment.
    pub fn build_with_token(
        config: Config,
        config_dir: &Path,
        token: String,
    ) -> anyhow::Result<Job> {
        Job::build_with_secrets(config, config_dir, token, None)
    }

    /// As [`Job::build_with_token`], with the Graph client secret given too (tests); `None`
    /// signs in as `[source]` says: with its certificate, or with the secret in the variable
    /// `client_secret_env` names.
    pub fn build_with_secrets(
        config: Config,
        config_dir: &Path,
        token: String,
        graph_secret: Option<String>,
    ) -> anyhow::Result<Job> {
        let auth = TargetAuth::Bearer(Secret::new(token));
        Job::build_with_auth(config, config_dir, auth, graph_secret)
    }

    /// As [`Job::build`], signing in to the target with `auth` (the demo signs in to its
    /// in-process simulator with credentials it made up).
    pub fn build_with_auth(
        config: Config,
        config_dir: &Path,
        auth: TargetAuth,
        graph_secret: Option<String>,
    ) -> anyhow::Result<Job> {
        let graph = match &config.source {
            SourceConfig::Graph(graph) => {
                let auth = match (
                    graph_secret,
                    &graph.certificate_path,
                    &graph.client_secret_env,
                ) {
                    (Some(secret), _, _) => ClientAuth::Secret(secret),
                    (None, Some(certificate), _) => {
                        let certificate = config_dir.join(certificate);
                        let key = graph
                            .private_key_path
                            .as_ref()
                            .map_or_else(|| certificate.clone(), |key| config_dir.join(key));
                        ClientAuth::Certificate(Arc::new(
                            ClientCertificate::load(&certificate, &key)
                                .context("the Graph client certificate")?,
                        ))
                    }
                    (None, None, Some(env)) => {
                        ClientAuth::Secret(std::env::var(env).with_context(|| {
                            format!(
                                "the Graph client secret: environment variable {env} is not set"
                            )
                        })?)
                    }
                    (None, None, None) => anyhow::bail!(
                        "[source] needs client_secret_env or certificate_path to sign in to Graph"
                    ),
                };
                Some(Arc::new(
                    GraphSource::new(&config, auth).context("the Graph source")?,
                ))
            }
            SourceConfig::File { .. } | SourceConfig::Gateway => None,
        };
        let profile = target_profile(&config, config_dir)?;
        let pipeline = Pipeline::build_with_profile(&config, profile)
            .context("compiling the scoping filters")?;
        let store = Arc::new(crate::state::open(&config, config_dir)?);
        let mut client_config = ClientConfig::new(config.target.base_url.clone(), auth);
        client_config.rate_limit_per_sec = Some(config.target.default_rate());
        client_config.rate_classes = rate_classes(&config, &pipeline);
        client_config.concurrency = config.target.concurrency.max(1) as usize;
        let client = ScimClient::new(client_config).map_err(|e| anyhow::anyhow!("target: {e}"))?;
        let registry = Arc::new(PluginRegistry::new(plugin_runtime(&config.compile)?));
        let managed_paths = managed_paths(&pipeline);
        let staged_dir = config.server.plugins_dir.as_ref();
        let staging = crate::activation::Staging::kept_in(
            staged_dir.map(|d| resolve(config_dir, d).join(".staged")),
        );
        let replica = Arc::new(crate::replica::Replica::of(&config));
        let job = Job {
            config,
            config_dir: config_dir.to_path_buf(),
            pipeline,
            store,
            client,
            registry,
            managed_paths,
            graph,
            people: Default::default(),
            staging,
            replica,
            activating: std::sync::Mutex::new(()),
        };
        job.load_plugins()?;
        Ok(job)
    }

    /// The configured plugins: the transforms in order, then the license rule.
    pub fn plugin_entries(&self) -> impl Iterator<Item = &PluginConfig> {
        self.config
            .transforms
            .iter()
            .chain(self.config.license.iter())
    }

    fn load_plugins(&self) -> anyhow::Result<()> {
        for entry in self.plugin_entries() {
            let bytes = self.configured_bytes(entry)?;
            self.registry
                .load(&entry.name, &bytes, limits_of(entry))
                .with_context(|| format!("plugin {} ({})", entry.name, entry.path.display()))?;
        }
        Ok(())
    }

    /// The component a plugin entry's `path` names (a file, or `builtin:<name>`).
    pub fn configured_bytes(&self, entry: &PluginConfig) -> anyhow::Result<Vec<u8>> {
        configured_bytes(&self.config_dir, entry)
    }

    /// `[server] plugins_dir`, where uploaded versions are kept, if configured.
    pub fn plugin_folder(&self) -> Option<PluginFolder> {
        let dir = self.config.server.plugins_dir.as_ref()?;
        Some(PluginFolder::new(self.source_path(dir)))
    }

    /// Pins the active plugin versions for one cycle, with their configurations.
    pub fn pin_plugins(&self) -> anyhow::Result<(PinnedPlugins, Snapshot)> {
        let snapshot = self.registry.snapshot();
        let mut transforms: Vec<Pinned<dyn Transform>> = Vec::new();
        for entry in &self.config.transforms {
            let Some(plugin) = snapshot.get(&entry.name) else {
                bail!("plugin {} is not loaded", entry.name)
            };
            if plugin.world() != plugin_host::World::Transformer {
                bail!(
                    "plugin {} is a {} plugin; [[transforms]] needs a transformer",
                    entry.name,
                    plugin.world()
                );
            }
            // A guest that keeps state from one person to the next in a reused instance is
            // found here, once per version and configuration, and served fresh instances.
            plugin.verify_purity(&entry.config_json());
            let transform: Arc<dyn Transform> =
                Arc::new(Metered(plugin.clone(), crate::meters::LIVE));
            transforms.push(Pinned::new(transform, entry));
        }
        let license = match &self.config.license {
            Some(entry) => {
                let Some(plugin) = snapshot.get(&entry.name) else {
                    bail!("plugin {} is not loaded", entry.name)
                };
                if plugin.world() != plugin_host::World::LicenseRule {
                    bail!(
                        "plugin {} is a {} plugin; [license] needs a license-rule",
                        entry.name,
                        plugin.world()
                    );
                }
                plugin.verify_purity(&entry.config_json());
                let rule: Arc<dyn LicenseRule> =
                    Arc::new(Metered(plugin.clone(), crate::meters::LIVE));
                Some(Pinned::new(rule, entry))
            }
            None => None,
        };
        Ok((
            PinnedPlugins {
                transforms,
                license,
            },
            snapshot,
        ))
    }

    pub fn source_path(&self, path: &Path) -> PathBuf {
        resolve(&self.config_dir, path)
    }
}

/// The profile's rate classes as the client takes them.
fn rate_classes(config: &Config, pipeline: &Pipeline) -> Vec<RateClass> {
    config
        .rate_classes(&pipeline.profile.data)
        .into_iter()
        .map(|(name, class)| RateClass {
            name,
            per_second: class.per_second,
            requests: class.requests.clone(),
        })
        .collect()
}

fn managed_paths(pipeline: &Pipeline) -> BTreeSet<String> {
    let mappings = pipeline.mappings.iter().map(|m| m.target.to_string());
    let licenses = pipeline.profile.license_paths().into_iter();
    let mut paths: BTreeSet<String> = mappings.chain(licenses.map(|p| p.to_string())).collect();
    paths.insert("active".into());
    paths
}

/// The component a plugin entry's `path` names (a file relative to `config_dir`, or
/// `builtin:<name>`).
pub fn configured_bytes(config_dir: &Path, entry: &PluginConfig) -> anyhow::Result<Vec<u8>> {
    match entry
        .path
        .to_str()
        .and_then(|p| p.strip_prefix(BUILTIN_PREFIX))
    {
        Some(name) => Ok(muster_artifacts::builtin(name)
            .with_context(|| format!("plugin {}: no built-in plugin named {name:?}", entry.name))?
            .to_vec()),
        None => {
            let path = resolve(config_dir, &entry.path);
            std::fs::read(&path)
                .with_context(|| format!("plugin {}: reading {}", entry.name, path.display()))
        }
    }
}

/// `path` as the job file at `config_dir` means it: relative paths resolve against its folder.
pub fn resolve(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// The program that compiles components in a child process (`<program> plugin compile`); unset,
/// components compile in this process. The muster binary sets it to itself at start; tests and
/// benchmarks that build a [`Job`] in their own process compile in-process.
static CHILD_COMPILER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes every job of this process compile plugin components with `<program> plugin compile`.
pub fn compile_plugins_in_child(program: PathBuf) {
    let _ = CHILD_COMPILER.set(program);
}

/// The plugin runtime: compiled code cached in the default folder within `[compile]`'s budget,
/// compiled within its bounds.
pub fn plugin_runtime(config: &CompileConfig) -> anyhow::Result<Runtime> {
    let compiler = match CHILD_COMPILER.get() {
        Some(program) => child_compiler(program, config),
        None => Compiler::InProcess,
    };
    Ok(Runtime::with_options(RuntimeOptions {
        cache_dir: plugin_host::cache::default_dir(),
        cache_max_bytes: Some(config.cache_max_mb.saturating_mul(1 << 20)),
        compiler,
    })?)
}

/// Compiling with `<program> plugin compile`, within `config`'s bounds.
pub fn child_compiler(program: &Path, config: &CompileConfig) -> Compiler {
    Compiler::Child {
        program: program.to_path_buf(),
        args: vec!["plugin".into(), "compile".into()],
        // mimalloc reserves 1 GiB of address space up front, which would count against the
        // child's limit before Cranelift allocates anything.
        env: vec![("MIMALLOC_ARENA_RESERVE".into(), "16MiB".into())],
        limits: CompileLimits {
            timeout: Duration::from_secs(config.timeout_secs),
            memory_bytes: config.memory_mb.saturating_mul(1 << 20),
        },
    }
}

pub(crate) fn limits_of(entry: &PluginConfig) -> Limits {
    let mut limits = Limits::default();
    if let Some(l) = &entry.limits {
        if let Some(ms) = l.timeout_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(fuel) = l.fuel {
            limits.fuel = fuel;
        }
        if let Some(mib) = l.memory_mib {
            limits.memory_bytes = (mib as usize).saturating_mul(1 << 20);
        }
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn expands_variables_with_and_without_defaults() {
        let lookup = |n: &str| (n == "URL").then(|| "http://x".to_string());
        assert_eq!(
            expand_env("a = \"${URL}/v2\"", lookup).as_deref(),
            Ok("a = \"http://x/v2\"")
        );
        assert_eq!(
            expand_env("s = \"${STATE:-muster.db}\"", lookup).as_deref(),
            Ok("s = \"muster.db\"")
        );
        let err = expand_env("${A} ${B:-b} ${C}", lookup).expect_err("missing");
        assert!(err.contains("A, C"), "{err}");
    }
}
