//! `muster-c-build`: builds a muster plugin written in C into a component (see the library).
//!
//! ```sh
//! cargo run -p muster-c-build -- --world license-rule -o rule.wasm app.c
//! ```

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Builds a muster plugin written in C into a WebAssembly component")]
struct Args {
    /// The world the plugin targets: `license-rule` or `transformer`.
    #[arg(long)]
    world: String,
    /// The WIT folder (default: this repository's `wit/`).
    #[arg(long)]
    wit: Option<PathBuf>,
    /// Where to write the component.
    #[arg(short, long)]
    out: PathBuf,
    /// The clang to use (default: the first of `clang`, `clang-14` ... `clang-19` on PATH).
    #[arg(long, env = "MUSTER_CLANG")]
    clang: Option<PathBuf>,
    /// Also write the generated bindings here, to read their API or for an editor.
    #[arg(long)]
    emit_bindings: Option<PathBuf>,
    /// The plugin's C sources.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    muster_c_build::build(&muster_c_build::Build {
        world: args.world,
        wit: args.wit.unwrap_or_else(muster_c_build::default_wit),
        sources: args.sources,
        out: args.out,
        clang: args.clang,
        emit_bindings: args.emit_bindings,
    })?;
    Ok(())
}
