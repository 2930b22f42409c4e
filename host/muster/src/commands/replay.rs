//! `muster replay`: runs the plugin steps of one provisioning log entry again, from the input
//! and configuration they were recorded with (`engine::replay`), with the version that took
//! the decision and, with `--plugin`, with another one.
//!
//! The recorded version must answer bit for bit as it did: its canonical output's hash is the
//! step's `outputHash`. Exit codes: 0 every replay identical; 3 a replay differs from the
//! record (the plugin is not deterministic); 2 the replay could not run (no such entry, a blob
//! pruned, the recorded version's component not found).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use engine::config::{Config, PluginConfig};
use engine::plugin::{LicenseRule, Transform};
use engine::replay::{self, Difference, Output, Shown};
use plugin_host::{Limits, Plugin, Runtime, World};
use serde::Serialize;
use store::{LogRecord, Store};

use crate::job::{configured_bytes, limits_of, plugin_runtime, read_config, resolve};
use crate::plugin_folder::PluginFolder;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// What to replay.
pub struct Options {
    pub config: PathBuf,
    /// A change id (`{cycle}-{n}`) or a log row id.
    pub entry: String,
    /// `name=file.wasm`: replay only that plugin's step, and with this component too.
    pub plugin: Option<String>,
    pub format: Format,
}

/// The exit code a replay that could not run ends with.
const CANNOT_RUN: u8 = 2;
/// The exit code of a replay that did not reproduce the record.
const NOT_REPRODUCED: u8 = 3;

/// Replays, prints the report, and says how it went in the exit code; a replay that cannot
/// run is reported on stderr with exit code 2.
pub fn run(options: &Options) -> ExitCode {
    match replay(options) {
        Ok(report) => {
            match options.format {
                Format::Json => match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(CANNOT_RUN);
                    }
                },
                Format::Table => print_table(&report),
            }
            ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(CANNOT_RUN)
        }
    }
}

/// The replay of one log entry.
#[derive(Debug, Serialize)]
pub struct Report {
    pub change_id: String,
    pub cycle: i64,
    pub identity: String,
    pub steps: Vec<StepReport>,
}

impl Report {
    fn exit_code(&self) -> u8 {
        let replays = self.steps.iter().filter_map(|s| s.replayed.as_ref());
        if replays.clone().any(|r| !r.identical) {
            NOT_REPRODUCED
        } else if self.steps.iter().any(|s| s.missing.is_some()) {
            CANNOT_RUN
        } else {
            0
        }
    }
}

/// One plugin step, replayed.
#[derive(Debug, Serialize)]
pub struct StepReport {
    /// The step's name (`transform:…`, `license:…`).
    pub step: String,
    pub plugin: String,
    pub world: World,
    pub version: String,
    pub input_hash: String,
    pub config_hash: String,
    pub recorded_output_hash: String,
    /// The recorded version run again; `None` when its component was not found.
    pub replayed: Option<Run>,
    /// Why the recorded version could not be run, naming where it was looked for.
    pub missing: Option<String>,
    /// The component `--plugin` named, run on the same input.
    pub other: Option<Other>,
}

/// A component's answer to the recorded input.
#[derive(Debug, Serialize)]
pub struct Run {
    pub version: String,
    /// Where the component was read from.
    pub source: String,
    pub output_hash: String,
    /// The answer in canonical form (the bytes `output_hash` is the hash of).
    pub output: serde_json::Value,
    /// `output_hash` is the recorded one (for the recorded version).
    pub identical: bool,
    #[serde(skip)]
    answer: Output,
}

/// Another version's answer and how it differs from the recorded version's.
#[derive(Debug, Serialize)]
pub struct Other {
    #[serde(flatten)]
    pub run: Run,
    /// Where it answers differently from the recorded version's replay; `None` when that
    /// could not run.
    pub differences: Option<Vec<Difference>>,
}

/// A step's recorded facts, read from the entry.
struct Recorded {
    step: String,
    plugin: String,
    world: World,
    version: String,
    input: String,
    config: String,
    output: String,
}

fn replay(options: &Options) -> anyhow::Result<Report> {
    let config = read_config(&options.config)?;
    let config_dir = options
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let store = crate::state::open_read_only(&config, &config_dir)?;
    let entry = store.log_entry(&options.entry)?.ok_or_else(|| {
        anyhow!(
            "no log entry {} in {} (give a change id such as 12-34, or the `id` of `muster logs \
             --format json`)",
            options.entry,
            crate::state::describe(&config, &config_dir)
        )
    })?;
    let other = options
        .plugin
        .as_deref()
        .map(|spec| {
            spec.split_once('=')
                .map(|(name, file)| (name.to_string(), PathBuf::from(file)))
                .ok_or_else(|| anyhow!("--plugin takes name=file.wasm, not {spec:?}"))
        })
        .transpose()?;
    let recorded = recorded_steps(&entry, other.as_ref().map(|(name, _)| name.as_str()))?;
    let runtime = plugin_runtime(&config.compile)?;
    let other_plugin = match &other {
        Some((name, file)) => {
            let entry = plugin_entry(&config, name);
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let plugin = Plugin::load(&runtime, name, &bytes, limits(entry))
                .with_context(|| format!("loading {}", file.display()))?;
            Some((plugin, file.display().to_string()))
        }
        None => None,
    };
    let mut steps = Vec::new();
    for step in recorded {
        let input = blob(&store, &step.input, "input", &entry)?;
        let shown = Shown::decode(&input)
            .with_context(|| format!("the input of step {} of {}", step.step, entry_id(&entry)))?;
        let config_doc = String::from_utf8(blob(&store, &step.config, "configuration", &entry)?)
            .map_err(|_| anyhow!("the recorded configuration of {} is not UTF-8", step.step))?;
        let (replayed, missing) = match recorded_component(&runtime, &config, &config_dir, &step)? {
            Ok((plugin, source)) => {
                let run = call(&plugin, step.world, &shown, &config_doc, source)?;
                let identical = run.output_hash == step.output;
                if !identical {
                    tracing::error!(
                        step = %step.step, version = %step.version,
                        "the recorded version answered differently from the record: the plugin is not deterministic"
                    );
                }
                (Some(Run { identical, ..run }), None)
            }
            Err(missing) => (None, Some(missing)),
        };
        let other = match &other_plugin {
            Some((plugin, file)) => {
                let run = call(plugin, step.world, &shown, &config_doc, file.clone())?;
                let differences = replayed.as_ref().map(|r| r.answer.differences(&run.answer));
                let identical = replayed
                    .as_ref()
                    .is_some_and(|r| r.output_hash == run.output_hash);
                Some(Other {
                    run: Run { identical, ..run },
                    differences,
                })
            }
            None => None,
        };
        steps.push(StepReport {
            step: step.step,
            plugin: step.plugin,
            world: step.world,
            version: step.version,
            input_hash: step.input,
            config_hash: step.config,
            recorded_output_hash: step.output,
            replayed,
            missing,
            other,
        });
    }
    Ok(Report {
        change_id: entry.detail["changeId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        cycle: entry.cycle,
        identity: entry.identity,
        steps,
    })
}

fn entry_id(entry: &LogRecord) -> String {
    entry.detail["changeId"].as_str().map_or_else(
        || format!("log row {}", entry.id),
        |id| format!("entry {id}"),
    )
}

/// The entry's plugin steps (only `plugin`'s, when given), with what they recorded.
fn recorded_steps(entry: &LogRecord, plugin: Option<&str>) -> anyhow::Result<Vec<Recorded>> {
    let steps = entry.detail["provisioningSteps"].as_array();
    let mut out = Vec::new();
    for step in steps.into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or_default();
        let (world, plugin_name) = match name.split_once(':') {
            Some(("transform", p)) => (World::Transformer, p),
            Some(("license", p)) => (World::LicenseRule, p),
            _ => continue,
        };
        if plugin.is_some_and(|p| p != plugin_name) {
            continue;
        }
        let details = &step["details"];
        let detail = |key: &str| details[key].as_str().map(str::to_string);
        let (Some(input), Some(config), Some(output)) = (
            detail(replay::INPUT_HASH),
            detail(replay::CONFIG_HASH),
            detail(replay::OUTPUT_HASH),
        ) else {
            bail!(
                "step {name} of {} has no recorded input: it was written before muster recorded \
                 plugin inputs, so it cannot be replayed",
                entry_id(entry)
            );
        };
        out.push(Recorded {
            step: name.to_string(),
            plugin: plugin_name.to_string(),
            world,
            version: detail("version").unwrap_or_default(),
            input,
            config,
            output,
        });
    }
    if out.is_empty() {
        match plugin {
            Some(p) => bail!("{} has no step of plugin {p}", entry_id(entry)),
            None => bail!(
                "{} has no plugin step (the person stopped before the plugins ran)",
                entry_id(entry)
            ),
        }
    }
    Ok(out)
}

fn blob(store: &Store, hash: &str, what: &str, entry: &LogRecord) -> anyhow::Result<Vec<u8>> {
    store.replay_blob(hash)?.ok_or_else(|| {
        anyhow!(
            "the recorded {what} {hash} of {} is no longer in the state store (pruned with the \
             logs, or the entry was written without it)",
            entry_id(entry)
        )
    })
}

fn plugin_entry<'c>(config: &'c Config, name: &str) -> Option<&'c PluginConfig> {
    config
        .transforms
        .iter()
        .chain(config.license.iter())
        .find(|e| e.name == name)
}

fn limits(entry: Option<&PluginConfig>) -> Limits {
    entry.map(limits_of).unwrap_or_default()
}

/// The recorded version's component, loaded, and where it came from; or, as the inner error,
/// where it was looked for and not found.
fn recorded_component(
    runtime: &Runtime,
    config: &Config,
    config_dir: &Path,
    step: &Recorded,
) -> anyhow::Result<Result<(Plugin, String), String>> {
    let entry = plugin_entry(config, &step.plugin);
    let mut looked = Vec::new();
    let mut candidates: Vec<(Vec<u8>, String)> = Vec::new();
    match entry {
        Some(entry) => match configured_bytes(config_dir, entry) {
            Ok(bytes) => candidates.push((bytes, entry.path.display().to_string())),
            Err(e) => looked.push(format!("{e:#}")),
        },
        None => looked.push(format!(
            "the configuration has no plugin named {}",
            step.plugin
        )),
    }
    match &config.server.plugins_dir {
        Some(dir) => {
            let folder = PluginFolder::new(resolve(config_dir, dir));
            for file in [
                folder.active_file(&step.plugin),
                folder.kept_file(&step.plugin, &step.version),
            ] {
                match std::fs::read(&file) {
                    Ok(bytes) => candidates.push((bytes, file.display().to_string())),
                    Err(_) => looked.push(format!("{} does not exist", file.display())),
                }
            }
        }
        None => looked.push("[server] plugins_dir is not set".into()),
    }
    for (bytes, source) in candidates {
        let version = plugin_host::plugin::version_of(&bytes);
        if version != step.version {
            looked.push(format!("{source} is version {version}"));
            continue;
        }
        let plugin = Plugin::load(runtime, &step.plugin, &bytes, limits(entry))
            .with_context(|| format!("loading {source}"))?;
        return Ok(Ok((plugin, source)));
    }
    Ok(Err(format!(
        "version {} of plugin {} is not available: {}",
        step.version,
        step.plugin,
        looked.join("; ")
    )))
}

/// Calls `plugin` on the recorded input and hashes its answer as the cycle did.
fn call(
    plugin: &Plugin,
    world: World,
    shown: &Shown,
    config: &str,
    source: String,
) -> anyhow::Result<Run> {
    if plugin.world() != world {
        bail!(
            "{source} is a {} plugin; the step was run by a {world} plugin",
            plugin.world()
        );
    }
    let answer = match world {
        World::Transformer => {
            Output::Transform(Transform::transform(plugin, &shown.person, config))
        }
        World::LicenseRule => Output::License(LicenseRule::decide(
            plugin,
            &shown.person,
            shown.current.as_ref(),
            config,
        )),
    };
    Ok(Run {
        version: plugin.id().version.clone(),
        source,
        output_hash: answer.hash(),
        output: answer.to_json(),
        identical: false,
        answer,
    })
}

fn print_table(report: &Report) {
    println!(
        "log entry {} ({}), cycle {}",
        report.change_id, report.identity, report.cycle
    );
    for step in &report.steps {
        println!();
        println!("{} ({})", step.step, step.world);
        println!("  input {}  config {}", step.input_hash, step.config_hash);
        println!(
            "  recorded  version {}  output {}",
            step.version, step.recorded_output_hash
        );
        match (&step.replayed, &step.missing) {
            (Some(run), _) => {
                let verdict = if run.identical {
                    "identical, bit for bit"
                } else {
                    "DIFFERENT FROM THE RECORD"
                };
                println!(
                    "  replayed  version {}  output {}  {verdict}  ({})",
                    run.version, run.output_hash, run.source
                );
                print_facts(&run.answer);
                if !run.identical {
                    println!(
                        "  !! the recorded version does not answer as it did: this plugin is not \
                         deterministic (a clock, randomness, or state kept between people), so \
                         its decisions cannot be reproduced"
                    );
                }
            }
            (None, Some(missing)) => println!("  replayed  not run: {missing}"),
            (None, None) => {}
        }
        if let Some(other) = &step.other {
            println!(
                "  other     version {}  output {}  ({})",
                other.run.version, other.run.output_hash, other.run.source
            );
            print_facts(&other.run.answer);
            match &other.differences {
                Some(d) if d.is_empty() => println!("  same answer as the recorded version"),
                Some(d) => {
                    println!("  differs from the recorded version:");
                    for difference in d {
                        println!("    {difference}");
                    }
                }
                None => println!("  (the recorded version could not run: nothing to compare)"),
            }
        }
    }
}

fn print_facts(answer: &Output) {
    for (fact, value) in answer.facts() {
        println!("            {fact} = {value}");
    }
}
