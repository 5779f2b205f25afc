//! Agents, MCP servers and model clients recognised in source code and agent definition files.
//!
//! The framework catalogue (`catalogue/frameworks.toml`) is data: which module paths belong to
//! which framework, and which constructors, decorators and base classes from them make an agent,
//! an MCP server or client, an agent proxy or a model client. Per file, the work is in three
//! steps so that a large tree costs little:
//!
//! 1. [`Frameworks::prefilter`]: the extension, then one Aho-Corasick pass for the catalogue's
//!    module paths. Most files stop here.
//! 2. [`scan_code`]: tree-sitter parses the file (Python, TypeScript/TSX, JavaScript), imports
//!    are resolved to module paths, and only calls, decorators and base classes whose resolved
//!    name the catalogue lists are findings. A bare `Agent(` never is.
//! 3. [`scan_definition`]: CrewAI `agents.yaml` and A2A agent cards, recognised by file name and
//!    shape.
//!
//! [`scan_source`] runs all three on one file's bytes. Nothing here reads the file system.

mod analyze;
mod definition;

use std::collections::BTreeSet;
use std::path::Path;

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};

use crate::catalogue::CatalogueError;
use crate::model::{AgentFinding, AgentKind};

pub use definition::scan_definition;

const BUILTIN: &str = include_str!("../../catalogue/frameworks.toml");
const ORIGIN: &str = "frameworks.toml";

/// The language family a framework is used from. `javascript` covers TypeScript, TSX and JSX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    Python,
    Javascript,
}

/// What a matched symbol makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    Agent,
    McpServer,
    McpClient,
    AgentProxy,
    LlmClient,
    /// A tool: attached to the finding bound to the receiver, or defined for agents to name.
    Tool,
}

/// What names a finding when none of its `name` arguments is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameFrom {
    /// The variable, attribute or map key the call is bound to, else the enclosing function.
    #[default]
    Variable,
    /// The enclosing function, else the variable (tool loops: `response = client.…` says little).
    Function,
}

/// A constructor, function, decorator or base class of a framework, and where its call states
/// the agent's name, model, tools and MCP servers. See the catalogue file's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symbol {
    pub kind: SymbolKind,
    #[serde(default)]
    pub call: Vec<String>,
    #[serde(default)]
    pub decorator: Vec<String>,
    #[serde(default)]
    pub subclass: Vec<String>,
    /// Overrides the framework's modules for this symbol.
    #[serde(default)]
    pub modules: Option<Vec<String>>,
    #[serde(default)]
    pub name: Vec<String>,
    #[serde(default)]
    pub model: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub mcp: Vec<String>,
    #[serde(default)]
    pub no_tools: Option<AgentKind>,
    #[serde(default)]
    pub name_from: NameFrom,
    #[serde(default)]
    pub attach: bool,
}

/// A framework or SDK, by the module paths it is imported from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub id: String,
    pub name: String,
    pub language: CodeLanguage,
    pub modules: Vec<String>,
    pub source: String,
    pub checked: String,
    #[serde(default)]
    pub symbol: Vec<Symbol>,
}

/// A library whose definitions look like agents but are not (Celery tasks, Temporal workflows,
/// HTTP routes, data models). Listed so that the catalogue says so, and checked never to share
/// a module path with a framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookalike {
    pub id: String,
    pub name: String,
    pub language: CodeLanguage,
    pub modules: Vec<String>,
    pub source: String,
    pub checked: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    framework: Vec<Framework>,
    #[serde(default)]
    lookalike: Vec<Lookalike>,
}

/// The framework catalogue, with its prefilter automata built.
#[derive(Debug, Clone)]
pub struct Frameworks {
    frameworks: Vec<Framework>,
    lookalikes: Vec<Lookalike>,
    python_keys: AhoCorasick,
    js_keys: AhoCorasick,
}

impl Frameworks {
    /// The catalogue shipped with custos.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogue is constant data, and a test loads it on every run"
        )]
        Self::from_toml(BUILTIN).expect("the built-in framework catalogue loads")
    }

    /// A catalogue from the text of a `frameworks.toml`; errors carry the line and column.
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let raw: Raw =
            toml::from_str(text).map_err(|e| CatalogueError::Toml { path: ORIGIN.into(), source: Box::new(e) })?;
        check(&raw)?;
        let keys = |language: CodeLanguage| -> Vec<String> {
            let mut keys = BTreeSet::new();
            for fw in raw.frameworks_of(language) {
                let modules = fw.modules.iter().chain(fw.symbol.iter().filter_map(|s| s.modules.as_ref()).flatten());
                for module in modules {
                    match language {
                        // The full dotted path appears in `import a.b` and `from a.b import c`.
                        CodeLanguage::Python => {
                            keys.insert(module.clone());
                        }
                        // A specifier is always quoted: `from "m"`, `require('m')`.
                        CodeLanguage::Javascript => {
                            keys.insert(format!("\"{module}"));
                            keys.insert(format!("'{module}"));
                        }
                    }
                }
            }
            keys.into_iter().collect()
        };
        let build = |patterns: Vec<String>| {
            AhoCorasick::new(patterns).map_err(|e| CatalogueError::Invalid { id: ORIGIN.into(), why: e.to_string() })
        };
        let python_keys = build(keys(CodeLanguage::Python))?;
        let js_keys = build(keys(CodeLanguage::Javascript))?;
        Ok(Self { frameworks: raw.framework, lookalikes: raw.lookalike, python_keys, js_keys })
    }

    /// The catalogue replacing the built-in one when `dir` holds a `frameworks.toml`.
    pub fn from_dir_or_builtin(dir: &Path) -> Result<Self, CatalogueError> {
        let path = dir.join(ORIGIN);
        if !path.is_file() {
            return Ok(Self::builtin());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError::Io { path: path.clone(), source: e })?;
        Self::from_toml(&text).map_err(|e| match e {
            CatalogueError::Toml { source, .. } => CatalogueError::Toml { path, source },
            other => other,
        })
    }

    pub fn frameworks(&self) -> &[Framework] {
        &self.frameworks
    }

    pub fn lookalikes(&self) -> &[Lookalike] {
        &self.lookalikes
    }

    /// Whether a file is worth parsing: a Python or JS/TS source file whose bytes name one of
    /// the catalogue's module paths. Allocates nothing.
    pub fn prefilter(&self, path: &Path, bytes: &[u8]) -> bool {
        match Lang::of(path) {
            Some(Lang::Python) => self.python_keys.is_match(bytes),
            Some(_) => self.js_keys.is_match(bytes),
            None => false,
        }
    }
}

impl Raw {
    fn frameworks_of(&self, language: CodeLanguage) -> impl Iterator<Item = &Framework> {
        self.framework.iter().filter(move |f| f.language == language)
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// Whether `path` is `module` or inside it (`a.b` is inside `a`; `@x/y/z` inside `@x/y`).
fn within(path: &str, module: &str) -> bool {
    path.strip_prefix(module).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '/']))
}

fn check(raw: &Raw) -> Result<(), CatalogueError> {
    let mut seen = BTreeSet::new();
    for fw in &raw.framework {
        let invalid = |why: &str| CatalogueError::Invalid { id: fw.id.clone(), why: why.into() };
        if !seen.insert((fw.id.as_str(), fw.language)) {
            return Err(CatalogueError::Duplicate { id: fw.id.clone() });
        }
        if fw.id.is_empty() || fw.modules.is_empty() || fw.modules.iter().any(String::is_empty) {
            return Err(invalid("needs an id and non-empty `modules`"));
        }
        if fw.source.is_empty() || !is_date(&fw.checked) {
            return Err(invalid("needs a `source` and a `checked` date (YYYY-MM-DD)"));
        }
        for sym in &fw.symbol {
            if sym.call.is_empty() && sym.decorator.is_empty() && sym.subclass.is_empty() {
                return Err(invalid("a symbol has no `call`, `decorator` or `subclass` pattern"));
            }
            if sym.attach && sym.kind != SymbolKind::Tool {
                return Err(invalid("`attach` is only for symbols of kind `tool`"));
            }
            if sym.modules.as_ref().is_some_and(|m| m.is_empty() || m.iter().any(String::is_empty)) {
                return Err(invalid("a symbol's `modules` is empty"));
            }
        }
    }
    for look in &raw.lookalike {
        if !is_date(&look.checked) || look.source.is_empty() {
            return Err(CatalogueError::Invalid {
                id: look.id.clone(),
                why: "needs a `source` and a `checked` date (YYYY-MM-DD)".into(),
            });
        }
        for fw in raw.frameworks_of(look.language) {
            for m in &fw.modules {
                if look.modules.iter().any(|l| within(m, l) || within(l, m)) {
                    return Err(CatalogueError::Invalid {
                        id: look.id.clone(),
                        why: format!("look-alike module overlaps framework `{}` module `{m}`", fw.id),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The grammar a file is parsed with, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Python,
    TypeScript,
    Tsx,
    JavaScript,
}

impl Lang {
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.as_encoded_bytes();
        Some(match ext {
            b"py" => Self::Python,
            b"ts" | b"mts" | b"cts" => Self::TypeScript,
            b"tsx" => Self::Tsx,
            b"js" | b"mjs" | b"cjs" | b"jsx" => Self::JavaScript,
            _ => return None,
        })
    }

    pub(crate) fn family(self) -> CodeLanguage {
        match self {
            Self::Python => CodeLanguage::Python,
            _ => CodeLanguage::Javascript,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::TypeScript | Self::Tsx => "typescript",
            Self::JavaScript => "javascript",
        }
    }
}

/// The agents, MCP servers and clients, agent proxies and model clients that a source file
/// defines, as far as its own text states them. `path` decides the grammar (by extension) and
/// is the findings' location; a file of another type yields nothing. Never fails: a file that
/// does not parse cleanly is analysed as far as tree-sitter recovered it. Findings come in
/// source order, with `id` left empty.
pub fn scan_code(frameworks: &Frameworks, path: &Path, text: &str) -> Vec<AgentFinding> {
    match Lang::of(path) {
        Some(lang) => analyze::analyze(frameworks, lang, path, text),
        None => Vec::new(),
    }
}

/// One file's findings, whatever its kind: an agent definition file ([`scan_definition`]) when
/// its name and shape say so, else source code that passes [`Frameworks::prefilter`]
/// ([`scan_code`]). Bytes that are not UTF-8 are read lossily.
pub fn scan_source(frameworks: &Frameworks, path: &Path, bytes: &[u8]) -> Vec<AgentFinding> {
    if definition::is_definition_name(path) {
        let text = String::from_utf8_lossy(bytes);
        if let Some(found) = scan_definition(frameworks, path, &text) {
            return found;
        }
        return Vec::new();
    }
    if !frameworks.prefilter(path, bytes) {
        return Vec::new();
    }
    scan_code(frameworks, path, &String::from_utf8_lossy(bytes))
}

/// [`scan_source`] for a file the caller has already passed through [`Frameworks::prefilter`]
/// (or found to be a definition by name): the keyword search is not run a second time.
pub(crate) fn scan_prefiltered(frameworks: &Frameworks, path: &Path, bytes: &[u8]) -> Vec<AgentFinding> {
    if definition::is_definition_name(path) {
        return scan_source(frameworks, path, bytes);
    }
    scan_code(frameworks, path, &String::from_utf8_lossy(bytes))
}
