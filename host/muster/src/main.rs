//! The `muster` command line: the edge where errors become messages and exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use muster::sync::CycleOptions;
use muster::{commands, telemetry};

// Planning and the state store allocate many small strings and maps; mimalloc frees a cycle's
// plan about five times faster than glibc's allocator and plans with a quarter fewer
// instructions. Linking the crate makes it the global allocator.
use muster_allocator as allocator;

#[derive(Parser)]
#[command(
    name = "muster",
    version,
    about = "Provision people into SCIM 2.0 apps, with WebAssembly plugins"
)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(long, global = true, value_enum, default_value_t = telemetry::LogFormat::Text)]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The demo: the demo directory through the example plugins into a built-in Zoom simulator.
    Demo {
        /// Working folder for the demo's configuration, snapshot and state.
        #[arg(long, default_value = "muster-demo")]
        dir: PathBuf,
    },
    /// Copy a whole state (logs, records, pending intents, outbox) into an empty database:
    /// from the SQLite file to PostgreSQL when a deployment moves to replicas. Stop muster
    /// first; the source is left as it was.
    MigrateState {
        /// The SQLite state file (or a postgres:// URL).
        #[arg(long)]
        from: String,
        /// The postgres:// URL to copy into (or a SQLite file).
        #[arg(long)]
        to: String,
        /// The PostgreSQL schema muster's tables are in (`[postgres] schema`).
        #[arg(long, default_value = "public")]
        schema: String,
        /// An environment variable holding the PostgreSQL password, kept out of the URL.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Check a configuration file and report every problem in it.
    Validate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run sync cycles: one with --once, else on the configured interval.
    Sync {
        #[arg(long)]
        config: PathBuf,
        /// Run one cycle and exit (exit code 2 when some people failed).
        #[arg(long)]
        once: bool,
        /// Print the plan; send and record nothing. Past 50 actions, the first 50 are printed
        /// and the whole plan is written as JSON to `dry-run-plan.json` beside the state file.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: write the whole plan as JSON to this file.
        #[arg(long, requires = "dry_run")]
        plan_file: Option<PathBuf>,
        /// Release disables and deletes held back by the deletion threshold.
        #[arg(long)]
        allow_deletes: bool,
        /// Read the whole source, even where an incremental read is possible (Graph: ignore
        /// the saved delta links and rebuild the mirror).
        #[arg(long)]
        full_read: bool,
        /// Plan everyone, not only the people whose inputs changed since their last settled
        /// plan (a cycle does this on its own every `full_plan_interval_secs`).
        #[arg(long)]
        full: bool,
    },
    /// Run as a service until SIGTERM / Ctrl-C: health, metrics and the admin API on
    /// `[server] listen`, with sync cycles on the configured interval or, for a gateway job
    /// (`[source] kind = "gateway"`), the SCIM gateway under /scim/v2.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check that the target answers like a SCIM 2.0 server, as Entra's "Test Connection" does.
    TestConnection {
        #[arg(long)]
        config: PathBuf,
    },
    /// Show the provisioning log.
    Logs {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        cycle: Option<i64>,
        /// A source person id or a userName.
        #[arg(long)]
        person: Option<String>,
        /// success, failure, skipped or warning.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = commands::logs::Format::Table)]
        format: commands::logs::Format,
    },
    /// Compare the target's users with what muster last applied: drift, users muster does not
    /// manage (orphans), managed users gone from the target. Exit code 0 in sync (or all
    /// fixed), 3 differences left, 2 a fix failed.
    Reconcile {
        #[arg(long)]
        config: PathBuf,
        /// Put drifted attributes back (minimal PATCHes) and create missing users again.
        #[arg(long)]
        fix: bool,
        /// With --fix: adopt the orphans that match a person in scope who has no record.
        #[arg(long, requires = "fix")]
        adopt_orphans: bool,
        #[arg(long, value_enum, default_value_t = commands::reconcile::Format::Table)]
        format: commands::reconcile::Format,
    },
    /// Run the plugin steps of a provisioning log entry again, from what they were shown: with
    /// the recorded version (it must answer bit for bit as it did) and, with --plugin, with
    /// another. Exit code 0 identical, 3 a replay differs from the record, 2 cannot replay.
    Replay {
        #[arg(long)]
        config: PathBuf,
        /// The entry's change id (`12-34`, the `changeId` of `muster logs`) or log row id.
        #[arg(long)]
        log_entry: String,
        /// `name=file.wasm`: replay only that plugin's step, and with this component too.
        #[arg(long)]
        plugin: Option<String>,
        #[arg(long, value_enum, default_value_t = commands::replay::Format::Table)]
        format: commands::replay::Format,
    },
    /// Serve a simulated SCIM target.
    #[command(subcommand)]
    Simulate(SimulateCommand),
    /// Inspect and run plugin components.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum SimulateCommand {
    /// A Zoom-compatible SCIM 2.0 server under /scim2, in memory.
    Zoom {
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: String,
        /// The bearer token clients must send (not accepted with --oauth).
        #[arg(long, env = "MUSTER_SIM_TOKEN", required_unless_present = "oauth")]
        token: Option<String>,
        /// Requests per second before it answers 429: per Zoom category
        /// (`light=30/s,medium=20/s`; one left out is not limited), or `10/s` for all requests
        /// together.
        #[arg(long)]
        rate_limit: Option<String>,
        /// Serve Zoom's Server-to-Server OAuth token endpoint at /oauth/token for this app
        /// (`CLIENT_ID:SECRET:ACCOUNT_ID`), and accept only the tokens it issues.
        #[arg(long, env = "MUSTER_SIM_OAUTH")]
        oauth: Option<String>,
        /// How long an issued token lives, in seconds.
        #[arg(long, default_value_t = 3600, requires = "oauth")]
        token_ttl: u64,
        /// Seats the account has bought, e.g. `licensed=5,phone=2`: an assignment past them is
        /// refused with a 400, as Zoom refuses a license it has no seat left of.
        #[arg(long)]
        seats: Option<String>,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Check that a component is a valid muster plugin: world, interface version, imports,
    /// size, and (for a guest reused for several people) whether it carries state between them.
    Check {
        /// The component (.wasm).
        file: PathBuf,
        /// The plugin's configuration (JSON) for the state probe; `{}` without it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a plugin on one person and print its answer and what the call cost.
    Run {
        /// The component (.wasm).
        file: PathBuf,
        /// The person, as JSON: {"id", "attributes", "direct_groups", "transitive_groups",
        /// "target", and for license rules optionally "current_license": {"plan", "add_ons"}}.
        #[arg(long)]
        input: PathBuf,
        /// The plugin's configuration, as a JSON file (default `{}`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run a cases file (person + config -> expected answer) against a component, with the
    /// production limits; exits non-zero if any case fails (format: plugins/README.md).
    Test {
        /// The component (.wasm).
        file: PathBuf,
        /// The cases file (JSON).
        #[arg(long)]
        cases: PathBuf,
    },
    /// Compile a component ahead of time for this build of muster, within a memory limit. muster
    /// runs this itself, as a child process, for every component it compiles ([compile]).
    Compile {
        /// The component (.wasm).
        file: PathBuf,
        /// Where to write the compiled artifact.
        out: PathBuf,
        /// Address space the compiler may use, in bytes.
        #[arg(long, default_value_t = 4 << 30)]
        memory_bytes: u64,
    },
    /// Preview a rule change before it goes live: plan the job's people with the active plugin
    /// versions and with the candidates, send nothing, write nothing, and report the difference.
    /// Exit code 0 within the gates ([plugins.gates]), 3 past one, 2 when the preview could not
    /// run.
    Preview {
        /// The job's configuration.
        #[arg(long)]
        config: PathBuf,
        /// Another configuration of the same job (e.g. a pull request's): each plugin whose
        /// component or configuration differs there is a candidate.
        #[arg(long)]
        candidate_config: Option<PathBuf>,
        /// A candidate component, NAME=FILE.wasm (repeatable).
        #[arg(long = "plugin", value_parser = name_and_path)]
        plugins: Vec<(String, PathBuf)>,
        /// A candidate configuration for a plugin, NAME=FILE.json (repeatable).
        #[arg(long = "plugin-config", value_parser = name_and_path)]
        plugin_configs: Vec<(String, PathBuf)>,
        /// Plan these people (a directory snapshot file) instead of reading the job's source.
        #[arg(long)]
        source: Option<PathBuf>,
        /// People listed per kind of change.
        #[arg(long, default_value_t = muster::preview::DEFAULT_SAMPLES)]
        samples: usize,
        #[arg(long, value_enum, default_value_t = commands::plugin::PreviewFormat::Table)]
        format: commands::plugin::PreviewFormat,
    },
    /// Build a plugin written in C into a component: bindings generated from the WIT, clang
    /// for wasm32-wasi (Debian's clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32), then a
    /// component. A C scaffold's build.sh runs it.
    BuildC {
        // `--wit` defaults to `wit` (a scaffold's copy of the interface).
        #[command(flatten)]
        args: muster_c_build::BuildArgs,
    },
    /// Scaffold a working plugin (source, config, cases file, build script) in a new folder.
    New {
        /// The plugin's language.
        #[arg(long, value_enum)]
        lang: commands::scaffold::Lang,
        /// What it is: a license rule, or a transformer of a person's attributes.
        #[arg(long, value_enum, default_value_t = commands::scaffold::World::LicenseRule)]
        world: commands::scaffold::World,
        /// The plugin's name (lowercase letters, digits, dashes).
        name: String,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `NAME=PATH`.
fn name_and_path(arg: &str) -> Result<(String, PathBuf), String> {
    match arg.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("`{arg}` is not NAME=PATH")),
    }
}

/// A command whose reader stops early (`muster logs | head`) ends quietly, as Unix tools do:
/// SIGPIPE's default action. Rust starts with SIGPIPE ignored, so the next write to the closed
/// pipe would fail and `println!` would panic. The servers keep it ignored: a client that goes
/// away is an error they handle (and std sends on sockets with `MSG_NOSIGNAL` anyway).
#[cfg(unix)]
fn stop_quietly_when_stdout_closes(command: &Command) {
    if matches!(command, Command::Serve { .. } | Command::Simulate(_)) {
        return;
    }
    // SAFETY: restores one signal's default disposition at start, before any thread exists;
    // no handler of ours is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    allocator::configure();
    let cli = Cli::parse();
    #[cfg(unix)]
    stop_quietly_when_stdout_closes(&cli.command);
    let level = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    telemetry::init(cli.log_format, level);
    // The compiler child runs without the async runtime: its threads and their reservations
    // would count against the child's memory limit.
    if let Command::Plugin(PluginCommand::Compile {
        file,
        out,
        memory_bytes,
    }) = &cli.command
    {
        return match commands::plugin::compile(file, out, *memory_bytes) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    // Plugin components compile in a child process of this binary, within [compile]'s bounds.
    match std::env::current_exe() {
        Ok(program) => muster::job::compile_plugins_in_child(program),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find the muster binary; plugins compile in-process, without [compile]'s bounds")
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    use commands::{demo, logs, plugin, simulate, sync};
    match command {
        Command::Demo { dir } => demo::run(&dir).await,
        Command::Validate { config } => sync::validate(&config),
        Command::Sync {
            config,
            once,
            dry_run,
            allow_deletes,
            full_read,
            full,
            plan_file,
        } => {
            let options = CycleOptions {
                dry_run,
                allow_deletes,
                full_read,
                full_plan: full,
                progress: true,
                ..CycleOptions::default()
            };
            sync::sync(&config, once || dry_run, options, plan_file.as_deref()).await
        }
        Command::Serve { config } => commands::serve::serve(&config).await,
        Command::TestConnection { config } => sync::test_connection(&config).await,
        Command::Logs {
            config,
            cycle,
            person,
            status,
            limit,
            format,
        } => logs::show(
            &config,
            logs::Filters {
                cycle,
                person,
                status,
                limit,
            },
            format,
        ),
        Command::Reconcile {
            config,
            fix,
            adopt_orphans,
            format,
        } => {
            let options = muster::reconcile::ReconcileOptions {
                fix,
                adopt_orphans,
                ..Default::default()
            };
            commands::reconcile::run(&config, options, format).await
        }
        Command::MigrateState {
            from,
            to,
            schema,
            password_env,
        } => commands::migrate_state::run(&commands::migrate_state::Options {
            from,
            to,
            schema,
            password_env,
        }),
        Command::Replay {
            config,
            log_entry,
            plugin,
            format,
        } => Ok(commands::replay::run(&commands::replay::Options {
            config,
            entry: log_entry,
            plugin,
            format,
        })),
        Command::Simulate(SimulateCommand::Zoom {
            listen,
            token,
            rate_limit,
            oauth,
            token_ttl,
            seats,
        }) => {
            let sign_in = simulate::SignIn {
                token,
                oauth,
                token_ttl,
            };
            simulate::zoom(&listen, sign_in, rate_limit.as_deref(), seats.as_deref()).await
        }
        Command::Plugin(PluginCommand::Check { file, config }) => {
            plugin::check(&file, config.as_deref())
        }
        Command::Plugin(PluginCommand::Run {
            file,
            input,
            config,
        }) => plugin::run(&file, &input, config.as_deref()),
        Command::Plugin(PluginCommand::Test { file, cases }) => plugin::test(&file, &cases),
        Command::Plugin(PluginCommand::Compile {
            file,
            out,
            memory_bytes,
        }) => plugin::compile(&file, &out, memory_bytes),
        Command::Plugin(PluginCommand::Preview {
            config,
            candidate_config,
            plugins,
            plugin_configs,
            source,
            samples,
            format,
        }) => {
            let request = plugin::PreviewRequest {
                candidate_config,
                components: plugins,
                configs: plugin_configs,
                source,
                samples,
                format,
            };
            Ok(plugin::preview(&config, request).await)
        }
        Command::Plugin(PluginCommand::BuildC { args }) => {
            commands::scaffold::build_c(args.build(|| PathBuf::from("wit")))
        }
        Command::Plugin(PluginCommand::New {
            lang,
            world,
            name,
            dir,
        }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            commands::scaffold::new(lang, world, &name, &dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::allocator;

    #[test]
    fn the_purge_delay_is_mimallocs_option_15() {
        // mimalloc's documented default purge delay is 10 ms: a wrong index reads another option.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(allocator::purge_delay_ms(), 10);
            allocator::configure();
            assert_eq!(allocator::purge_delay_ms(), allocator::KEEP_FREED_MS);
        }
    }
}
