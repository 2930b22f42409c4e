//! Builds a muster plugin written in C into a component.
//!
//! 1. C bindings for the chosen world are generated from `wit/` (wit-bindgen's C generator,
//!    as a library) into a temporary folder: nothing generated is kept beside the sources.
//! 2. clang compiles them with the plugin's sources for `wasm32-wasi` (Debian's clang, lld,
//!    wasi-libc and the wasm32 compiler runtime) into a core module.
//! 3. wit-component turns the core module into a component, adapting wasi-libc's WASI
//!    preview 1 imports to the preview 2 interfaces muster links.

use std::path::{Path, PathBuf};
use std::process::Command;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::wit_parser::Resolve;

/// The Debian packages that give clang the wasm32-wasi target.
pub const PACKAGES: &str = "clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32";

/// What to build.
#[derive(Debug, Clone)]
pub struct Build {
    /// The world the plugin targets: `license-rule` or `transformer`.
    pub world: String,
    /// The WIT folder.
    pub wit: PathBuf,
    /// The plugin's C sources.
    pub sources: Vec<PathBuf>,
    /// Where to write the component.
    pub out: PathBuf,
    /// The clang to use; `None`: the first of `clang`, `clang-14` ... `clang-19` on PATH.
    pub clang: Option<PathBuf>,
    /// Also write the generated bindings here, to read their API or for an editor.
    pub emit_bindings: Option<PathBuf>,
}

/// The command line of a build, shared by `muster-c-build` and `muster plugin build-c`.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// The world the plugin targets: `license-rule` or `transformer`.
    #[arg(long)]
    pub world: String,
    /// The WIT folder (default: `wit` for `muster plugin build-c`, the repository's `wit/` for
    /// `muster-c-build`).
    #[arg(long)]
    pub wit: Option<PathBuf>,
    /// Where to write the component.
    #[arg(short, long)]
    pub out: PathBuf,
    /// The clang to use (default: the first of `clang`, `clang-14` ... `clang-19` on PATH).
    #[arg(long, env = "MUSTER_CLANG")]
    pub clang: Option<PathBuf>,
    /// Also write the generated bindings here, to read their API or for an editor.
    #[arg(long)]
    pub emit_bindings: Option<PathBuf>,
    /// The plugin's C sources.
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
}

impl BuildArgs {
    /// The build these arguments ask for; `wit` when they name no WIT folder.
    pub fn build(self, wit: impl FnOnce() -> PathBuf) -> Build {
        Build {
            world: self.world,
            wit: self.wit.unwrap_or_else(wit),
            sources: self.sources,
            out: self.out,
            clang: self.clang,
            emit_bindings: self.emit_bindings,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the WIT in {}: {message}", wit.display())]
    Wit { wit: PathBuf, message: String },
    #[error("generating the C bindings: {0}")]
    Bindings(String),
    #[error("no clang on PATH: install Debian's {PACKAGES}, or name one with --clang")]
    NoClang,
    #[error("{} failed ({status}); it needs the wasm32-wasi target (Debian: {PACKAGES})", clang.display())]
    Compile {
        clang: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("making a component of the core module: {0}")]
    Component(String),
}

/// The repository's `wit/` folder.
pub fn default_wit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

pub fn build(build: &Build) -> Result<(), BuildError> {
    let temp = tempfile::tempdir().map_err(|source| BuildError::Io {
        what: "creating a folder in",
        path: std::env::temp_dir(),
        source,
    })?;
    let generated = generate_bindings(&build.wit, &build.world, temp.path())?;
    if let Some(dir) = &build.emit_bindings {
        std::fs::create_dir_all(dir).map_err(|source| BuildError::Io {
            what: "creating",
            path: dir.clone(),
            source,
        })?;
        generate_bindings(&build.wit, &build.world, dir)?;
    }
    let core = temp.path().join("core.wasm");
    compile(build, temp.path(), &generated, &core)?;
    let module = std::fs::read(&core).map_err(|source| BuildError::Io {
        what: "reading",
        path: core.clone(),
        source,
    })?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| BuildError::Component(format!("{e:#}")))?;
    std::fs::write(&build.out, component).map_err(|source| BuildError::Io {
        what: "writing",
        path: build.out.clone(),
        source,
    })
}

/// Writes the world's C bindings into `dir` and returns the files clang must compile (the
/// bindings' `.c` and the object that carries the world's component type).
fn generate_bindings(wit: &Path, world: &str, dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let wit_error = |e: anyhow::Error| BuildError::Wit {
        wit: wit.to_path_buf(),
        message: format!("{e:#}"),
    };
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit).map_err(wit_error)?;
    let world = resolve
        .select_world(&[package], Some(world))
        .map_err(wit_error)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| BuildError::Bindings(format!("{e:#}")))?;
    let mut compile = Vec::new();
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|source| BuildError::Io {
            what: "writing",
            path: path.clone(),
            source,
        })?;
        if name.ends_with(".c") || name.ends_with(".o") {
            compile.push(path);
        }
    }
    Ok(compile)
}

fn compile(
    build: &Build,
    include: &Path,
    generated: &[PathBuf],
    out: &Path,
) -> Result<(), BuildError> {
    let clang = match &build.clang {
        Some(clang) => clang.clone(),
        None => find_clang().ok_or(BuildError::NoClang)?,
    };
    let status = Command::new(&clang)
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2"])
        .args(["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"])
        .arg("-I")
        .arg(include)
        .args(generated)
        .args(&build.sources)
        .arg("-o")
        .arg(out)
        .status()
        .map_err(|source| BuildError::Io {
            what: "running",
            path: clang.clone(),
            source,
        })?;
    if !status.success() {
        return Err(BuildError::Compile { clang, status });
    }
    Ok(())
}

/// The first of `clang`, `clang-14` ... `clang-19` on PATH that runs.
pub fn find_clang() -> Option<PathBuf> {
    std::iter::once("clang".to_string())
        .chain((14..=19).map(|v| format!("clang-{v}")))
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_of(world: &str, clang: &str, out: &Path) -> Build {
        Build {
            world: world.into(),
            wit: default_wit(),
            sources: vec![PathBuf::from("app.c")],
            out: out.to_path_buf(),
            clang: Some(PathBuf::from(clang)),
            emit_bindings: None,
        }
    }

    #[test]
    fn an_unknown_world_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = build(&build_of(
            "no-such-world",
            "clang",
            &dir.path().join("x.wasm"),
        ))
        .expect_err("no such world");
        assert!(matches!(err, BuildError::Wit { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-world"), "{err}");
    }

    #[test]
    fn a_clang_that_does_not_run_is_named_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("x.wasm");
        let err =
            build(&build_of("license-rule", "/nonexistent/clang", &out)).expect_err("no clang");
        assert!(
            err.to_string().contains("running /nonexistent/clang"),
            "{err}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn bindings_can_be_kept_for_an_editor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = dir.path().join("bindings");
        let mut b = build_of(
            "transformer",
            "/nonexistent/clang",
            &dir.path().join("x.wasm"),
        );
        b.emit_bindings = Some(kept.clone());
        let _ = build(&b);
        let header = std::fs::read_to_string(kept.join("transformer.h")).expect("the header");
        assert!(header.contains("exports_transformer_transform"), "{header}");
    }
}
