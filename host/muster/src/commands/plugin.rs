//! `muster plugin check`, `run`, `test`, `preview` and `new`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use engine::model::License;
use engine::plugin::PluginInput;
use plugin_host::{Limits, Plugin, Runtime, World};
use serde::Deserialize;

/// A plugin's name is its file stem, as in the watched plugin folder.
fn load(file: &Path) -> anyhow::Result<Plugin> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let runtime = Runtime::new()?;
    Ok(Plugin::load(&runtime, name, &bytes, Limits::default())?)
}

/// `muster plugin compile`: the child side of a bounded compilation.
pub fn compile(file: &Path, out: &Path, memory_bytes: u64) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    plugin_host::compile::compile_to_file(&bytes, out, memory_bytes).map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}

pub fn check(file: &Path, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let plugin = load(file)?;
    let config = match config {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => "{}".to_string(),
    };
    let purity = plugin.verify_purity(&config);
    println!("{}: valid muster plugin", file.display());
    println!("  world:     {}", plugin.world());
    println!(
        "  interface: {} (this host serves {})",
        plugin.interface(),
        plugin_host::plugin::served_list()
    );
    println!("  version:   {}", plugin.id().version);
    println!("  size:      {} bytes", plugin.size());
    println!("  imports:   {}", plugin.imports().join(", "));
    println!(
        "  compiled:  {}",
        match plugin.origin() {
            plugin_host::cache::Origin::Cached => "read from the cache",
            plugin_host::cache::Origin::Compiled => "compiled now",
            plugin_host::cache::Origin::Recompiled => "compiled now (the cache entry was unusable)",
        }
    );
    println!(
        "  instances: {}",
        match plugin.people_per_instance() {
            1 => "a fresh instance per person".to_string(),
            n => format!("one per {n} people within a cycle"),
        }
    );
    println!("  purity:    {purity}");
    Ok(ExitCode::SUCCESS)
}

#[derive(Deserialize)]
struct RunInput {
    #[serde(flatten)]
    person: PluginInput,
    #[serde(default)]
    current_license: Option<License>,
}

pub fn run(file: &Path, input: &Path, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let plugin = load(file)?;
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let input: RunInput =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", input.display()))?;
    let config = match config {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => "{}".to_string(),
    };
    let (result, stats) = match plugin.world() {
        World::LicenseRule => {
            let (r, s) =
                plugin.decide_with_stats(&input.person, input.current_license.as_ref(), &config);
            (r.map(|d| serde_json::to_value(d).unwrap_or_default()), s)
        }
        World::Transformer => {
            let (r, s) = plugin.transform_with_stats(&input.person, &config);
            (r.map(|o| serde_json::to_value(o).unwrap_or_default()), s)
        }
    };
    let limits = plugin.limits();
    let report = serde_json::json!({
        "plugin": plugin.id().to_string(),
        "world": plugin.world(),
        "outcome": result.as_ref().ok(),
        "error": result.as_ref().err().map(|e| serde_json::json!({"kind": e.kind(), "message": e.to_string()})),
        "fuel_used": stats.fuel_used,
        "peak_memory_bytes": stats.peak_memory_bytes,
        "wall_time_us": stats.wall_time.as_micros() as u64,
        "limits": {
            "deadline_ms": limits.deadline.as_millis() as u64,
            "fuel": limits.fuel,
            "memory_bytes": limits.memory_bytes,
            "output_bytes": limits.output_bytes,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs a cases file against a component with the default (production) limits: one line per
/// case, then `N passed, N failed`; fails when any case fails.
pub fn test(file: &Path, cases: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(cases).with_context(|| format!("reading {}", cases.display()))?;
    let cases_file = plugin_host::testkit::CasesFile::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cases.display()))?;
    let plugin = load(file)?;
    let results =
        plugin_host::testkit::run(&plugin, &cases_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut failed = 0;
    for result in &results {
        match &result.failure {
            None => println!("ok    {}", result.name),
            Some(why) => {
                failed += 1;
                println!("FAIL  {}: {why}", result.name);
            }
        }
    }
    println!(
        "{}: {} passed, {failed} failed",
        plugin.id(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How `muster plugin preview` prints its report.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PreviewFormat {
    Table,
    Json,
    Markdown,
}

/// The impact passed a gate.
pub const EXIT_GATE_EXCEEDED: u8 = 3;
/// The preview could not run.
pub const EXIT_PREVIEW_FAILED: u8 = 2;

pub struct PreviewRequest {
    /// Another configuration of the job whose plugins are the candidates.
    pub candidate_config: Option<std::path::PathBuf>,
    pub components: Vec<(String, std::path::PathBuf)>,
    pub configs: Vec<(String, std::path::PathBuf)>,
    pub source: Option<std::path::PathBuf>,
    pub samples: usize,
    pub format: PreviewFormat,
}

/// `muster plugin preview`: exit 0 within the gates, 3 past one, 2 when it could not run (a
/// CI job tells a rule that needs a look from a broken build).
pub async fn preview(config: &Path, request: PreviewRequest) -> ExitCode {
    match run_preview(config, &request).await {
        Ok(report) => {
            match request.format {
                PreviewFormat::Table => print!("{}", crate::preview::render::table(&report)),
                PreviewFormat::Markdown => print!("{}", crate::preview::render::markdown(&report)),
                PreviewFormat::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(EXIT_PREVIEW_FAILED);
                    }
                },
            }
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_GATE_EXCEEDED)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_PREVIEW_FAILED)
        }
    }
}

async fn run_preview(
    config: &Path,
    request: &PreviewRequest,
) -> anyhow::Result<crate::preview::PreviewReport> {
    let mut candidates =
        crate::preview::candidates_from_args(&request.components, &request.configs)?;
    // Nothing is sent to the target: its credentials need not be set (a rule author's CI).
    let dir = crate::commands::sync::config_dir(config);
    let job = crate::job::Job::build_offline(crate::job::read_config(config)?, dir)?;
    if let Some(path) = &request.candidate_config {
        let other = crate::job::read_config(path)?;
        let dir = crate::commands::sync::config_dir(path);
        let from_config = crate::preview::candidates_from_config(&job, &other, dir)?;
        // `--plugin` and `--plugin-config` win over the candidate configuration.
        for candidate in from_config {
            if !candidates.iter().any(|c| c.name == candidate.name) {
                candidates.push(candidate);
            }
        }
    }
    if candidates.is_empty() {
        anyhow::bail!(
            "nothing to preview: give --plugin NAME=FILE.wasm, --plugin-config NAME=FILE.json \
             or a --candidate-config whose plugins differ from the job's"
        );
    }
    let options = crate::preview::PreviewOptions {
        population: match &request.source {
            Some(path) => crate::preview::Population::Snapshot(path.clone()),
            None => crate::preview::Population::Source,
        },
        samples: request.samples,
    };
    Ok(crate::preview::preview(&job, &candidates, &options).await?)
}
