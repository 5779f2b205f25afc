//! The client catalogue: typed form of `catalogue/clients.toml`, checked when loaded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const BUILTIN: &str = include_str!("../catalogue/clients.toml");

/// The operating system whose paths are scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    /// The operating system this program runs on; other Unixes count as Linux.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Macos
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    /// JSON with comments and trailing commas.
    Jsonc,
    Toml,
    /// YAML (Continue, Goose); only the first document is read.
    Yaml,
}

/// Who a configuration file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The user's own settings, under the home directory.
    User,
    /// A project's settings, relative to the project directory.
    Project,
    /// Settings an administrator deploys, under the system root.
    Managed,
}

/// Paths per operating system, in the catalogue's notation (`~/`, `<system>/`, or relative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsPaths {
    #[serde(default)]
    pub linux: Vec<String>,
    #[serde(default)]
    pub macos: Vec<String>,
    #[serde(default)]
    pub windows: Vec<String>,
}

impl OsPaths {
    pub fn for_os(&self, os: Os) -> &[String] {
        match os {
            Os::Linux => &self.linux,
            Os::Macos => &self.macos,
            Os::Windows => &self.windows,
        }
    }
}

/// One group of files of a client holding MCP servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFiles {
    pub scope: Scope,
    /// RFC 6901 pointers of the server map; a `*` segment matches any one member.
    pub keys: Vec<String>,
    /// Overrides the client's format.
    #[serde(default)]
    pub format: Option<Format>,
    #[serde(flatten)]
    pub paths: OsPaths,
}

/// An agent client and where it keeps its MCP configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub format: Format,
    pub source: String,
    pub checked: String,
    pub config: Vec<ConfigFiles>,
}

/// A client's login/credential files: reported when present, never opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFiles {
    pub client: String,
    #[serde(flatten)]
    pub paths: OsPaths,
}

/// The catalogue of agent clients.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(default)]
    pub client: Vec<Client>,
    #[serde(default)]
    pub login: Vec<LoginFiles>,
}

/// Why a catalogue could not be loaded. Messages name the file or entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read catalogue `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalogue `{path}` is not valid: {source}")]
    Toml {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("client `{id}` is listed twice")]
    Duplicate { id: String },
    #[error("client `{id}`: {why}")]
    Invalid { id: String, why: String },
}

impl Catalogue {
    /// The catalogue shipped with custos.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogue is constant data, and a test loads it on every run"
        )]
        Self::from_toml(BUILTIN, Path::new("catalogue/clients.toml")).expect("the built-in client catalogue loads")
    }

    /// A catalogue from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, CatalogueError> {
        let catalogue: Self = toml::from_str(text)
            .map_err(|e| CatalogueError::Toml { path: origin.to_path_buf(), source: Box::new(e) })?;
        catalogue.check()?;
        Ok(catalogue)
    }

    /// A catalogue replacing the built-in one: every `*.toml` file in `dir`, in name order,
    /// merged. A client id may appear only once across the files.
    pub fn from_dir(dir: &Path) -> Result<Self, CatalogueError> {
        let io = |e| CatalogueError::Io { path: dir.to_path_buf(), source: e };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        let mut merged = Self::default();
        for path in files {
            let text =
                std::fs::read_to_string(&path).map_err(|e| CatalogueError::Io { path: path.clone(), source: e })?;
            let part = Self::from_toml(&text, &path)?;
            merged.client.extend(part.client);
            merged.login.extend(part.login);
        }
        merged.check()?;
        Ok(merged)
    }

    /// The client with this id.
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.client.iter().find(|c| c.id == id)
    }

    fn check(&self) -> Result<(), CatalogueError> {
        let mut seen = BTreeSet::new();
        for client in &self.client {
            let invalid = |why: String| CatalogueError::Invalid { id: client.id.clone(), why };
            if !seen.insert(client.id.as_str()) {
                return Err(CatalogueError::Duplicate { id: client.id.clone() });
            }
            if client.config.is_empty() {
                return Err(invalid("lists no configuration files".into()));
            }
            for group in &client.config {
                if group.keys.is_empty() {
                    return Err(invalid("a configuration group has no `keys`".into()));
                }
                if let Some(key) = group.keys.iter().find(|k| !k.is_empty() && !k.starts_with('/')) {
                    return Err(invalid(format!("key `{key}` is not a JSON pointer")));
                }
                for path in [&group.paths.linux, &group.paths.macos, &group.paths.windows].into_iter().flatten() {
                    check_path(path, group.scope).map_err(|why| invalid(format!("path `{path}` {why}")))?;
                }
            }
        }
        for login in &self.login {
            for path in [&login.paths.linux, &login.paths.macos, &login.paths.windows].into_iter().flatten() {
                check_path(path, Scope::User).map_err(|why| CatalogueError::Invalid {
                    id: login.client.clone(),
                    why: format!("path `{path}` {why}"),
                })?;
            }
        }
        Ok(())
    }
}

/// A path must match its scope's anchor and must not climb with `..`.
fn check_path(path: &str, scope: Scope) -> Result<(), &'static str> {
    if path.split('/').any(|s| s == "..") {
        return Err("must not contain `..`");
    }
    if path.split('/').any(|s| s.matches('*').count() > 1) {
        return Err("has more than one `*` in a segment");
    }
    let ok = match scope {
        Scope::User => path.starts_with("~/"),
        Scope::Managed => path.starts_with("<system>/"),
        Scope::Project => !path.starts_with("~/") && !path.starts_with("<system>/") && !path.starts_with('/'),
    };
    if ok { Ok(()) } else { Err("does not match its scope (`~/` user, `<system>/` managed, relative project)") }
}
