//! One source file, parsed with tree-sitter: imports resolved, catalogue symbols matched, and
//! each match read for its name, models, tools and MCP servers.
//!
//! The walk over the tree is iterative and every walk over an expression is bounded in depth
//! and size, so neither deeply nested nor huge input can exhaust the stack or run long. Python
//! and the JS family share this code: where their grammars differ, both node kinds are named.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use tree_sitter::{Node, Parser, Tree};

use super::{CodeLanguage, Framework, Frameworks, Lang, NameFrom, Symbol, SymbolKind, within};
use crate::model::{AgentFinding, AgentKind, Location, Source};

/// How far a value is followed through variables, calls and nested arguments.
const MAX_DEPTH: u8 = 8;
/// How many nodes one expression search may visit.
const MAX_VISIT: usize = 2_000;
/// Scopes remembered per site: a name is looked up in these, innermost first, then the module.
const MAX_SCOPES: usize = 4;
/// Longest text quoted in evidence.
const MAX_QUOTE: usize = 60;

/// Keys that hold a model name inside a model object or config.
const MODEL_KEYS: &[&str] = &["model", "model_name", "model_id", "modelId", "ai_model_id", "deployment_name", "llm"];
/// Keys that say how an MCP server is reached.
const URL_KEYS: &[&str] = &["url", "serverUrl", "server_url", "httpUrl", "baseUrl"];
const COMMAND_KEYS: &[&str] = &["command", "fullCommand"];

fn parse(lang: Lang, text: &str) -> Option<Tree> {
    let language: tree_sitter::Language = match lang {
        Lang::Python => tree_sitter_python::LANGUAGE.into(),
        Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
    };
    let mut parser = Parser::new();
    parser.set_language(&language).ok()?;
    parser.parse(text, None)
}

pub(super) fn analyze(frameworks: &Frameworks, lang: Lang, path: &Path, text: &str) -> Vec<AgentFinding> {
    let Some(tree) = parse(lang, text) else { return Vec::new() };
    let mut file = File {
        fws: frameworks,
        family: lang.family(),
        lang,
        src: text.as_bytes(),
        path,
        imports: HashMap::new(),
        values: HashMap::new(),
        params: HashMap::new(),
        calls_by_name: HashMap::new(),
        budget: Cell::new(MAX_VISIT),
    };
    let sites = file.collect(tree.root_node());
    file.findings(&sites)
}

/// What the import of a name binds it to.
#[derive(Debug, Clone)]
struct Binding {
    /// Module path and members: `crewai.Agent`, `@openai/agents.Agent`, `ai.default`.
    target: String,
    /// The import as evidence: `from crewai import Agent`.
    import: String,
}

/// A name resolved through imports and variables.
#[derive(Debug, Clone)]
struct Resolved {
    full: String,
    import: String,
}

/// A node of interest and where it sits.
#[derive(Debug, Clone)]
struct Site<'t> {
    node: Node<'t>,
    /// Enclosing scopes (function node ids), innermost first; the module (0) is implied.
    scopes: Vec<usize>,
    /// The nearest enclosing named function.
    function: Option<String>,
    /// The nearest ancestors, parent first. Kept from the walk because asking tree-sitter for
    /// a parent costs a descent from the root: quadratic on deeply nested input.
    up: Vec<Node<'t>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SiteKind {
    Call,
    Decorator,
    Subclass,
}

/// A catalogue match at a site, before it is read.
#[derive(Debug)]
struct Match<'c, 't> {
    fw: &'c Framework,
    sym: &'c Symbol,
    kind: SiteKind,
    site: Site<'t>,
    /// The callee, decorator or base class.
    target: Node<'t>,
    /// The call's arguments (for a decorator: the decorator call's, if any).
    call: Option<Node<'t>>,
    resolved: Resolved,
    /// The function or class a decorator or base class applies to.
    defined: Option<String>,
}

/// An MCP client constructed in the file.
#[derive(Debug)]
struct Handle {
    var: Option<String>,
    node: usize,
    /// Ids of the call's nearest ancestors.
    up: Vec<usize>,
    servers: Vec<String>,
    finding: AgentFinding,
}

struct File<'a> {
    fws: &'a Frameworks,
    family: CodeLanguage,
    lang: Lang,
    src: &'a [u8],
    path: &'a Path,
    imports: HashMap<String, Binding>,
    /// (scope, variable) → the expression last assigned to it. Attribute targets (`self.x`)
    /// live in the module scope: they outlive the method that sets them.
    values: HashMap<(usize, String), Node<'a>>,
    /// Parameter name → (function name, position): lets a value passed to a function in the
    /// same file reach the parameter it is passed as (`run(server)` → `def run(mcp_server)`).
    params: HashMap<String, Vec<(String, usize)>>,
    /// Function name → the calls of it by that plain name.
    calls_by_name: HashMap<String, Vec<Node<'a>>>,
    /// Expression reads left for the current match: the readers branch at every argument, so
    /// depth alone does not bound them.
    budget: Cell<usize>,
}

/// What one pass over the tree gathered.
#[derive(Default)]
struct Sites<'t> {
    calls: Vec<Site<'t>>,
    decorated: Vec<Site<'t>>,
    classes: Vec<Site<'t>>,
}

fn is_function(kind: &str) -> bool {
    matches!(
        kind,
        "function_definition"
            | "lambda"
            | "function_declaration"
            | "function_expression"
            | "function"
            | "arrow_function"
            | "method_definition"
            | "generator_function_declaration"
    )
}

fn is_transparent(kind: &str) -> bool {
    matches!(
        kind,
        "await"
            | "await_expression"
            | "parenthesized_expression"
            | "as_expression"
            | "satisfies_expression"
            | "non_null_expression"
            | "type_assertion"
    )
}

fn is_string(kind: &str) -> bool {
    matches!(kind, "string" | "template_string")
}

fn is_call(kind: &str) -> bool {
    matches!(kind, "call" | "call_expression" | "new_expression")
}

fn is_list(kind: &str) -> bool {
    matches!(kind, "list" | "tuple" | "array" | "set")
}

fn is_map(kind: &str) -> bool {
    matches!(kind, "dictionary" | "object")
}

fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect()
}

/// The callee of a call or `new`, and its argument list.
fn call_parts(node: Node<'_>) -> Option<(Node<'_>, Option<Node<'_>>)> {
    let callee = match node.kind() {
        "call" | "call_expression" => node.child_by_field_name("function")?,
        "new_expression" => node.child_by_field_name("constructor")?,
        _ => return None,
    };
    Some((callee, node.child_by_field_name("arguments")))
}

fn quote_from(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX_QUOTE {
        let cut: String = flat.chars().take(MAX_QUOTE).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

fn push_unique(out: &mut Vec<String>, value: String) {
    if !value.is_empty() && !out.contains(&value) {
        out.push(value);
    }
}

fn line_of(node: Node<'_>) -> u32 {
    u32::try_from(node.start_position().row).unwrap_or(u32::MAX - 1).saturating_add(1)
}

impl<'a> File<'a> {
    fn spend(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        self.src.get(node.byte_range()).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    // ------------------------------------------------------------------ pass 1: collect

    /// Walks the whole tree once, without recursion: records imports and assignments, and
    /// returns the calls, decorated definitions and classes for matching.
    fn collect(&mut self, root: Node<'a>) -> Sites<'a> {
        let mut sites = Sites::default();
        // (depth, scope id, function name) of the functions enclosing the cursor.
        let mut scopes: Vec<(usize, usize, Option<String>)> = Vec::new();
        let mut cursor = root.walk();
        let mut depth = 0usize;
        let mut path: Vec<Node<'a>> = Vec::new();
        loop {
            let node = cursor.node();
            path.truncate(depth);
            while scopes.last().is_some_and(|s| s.0 >= depth) {
                scopes.pop();
            }
            let kind = node.kind();
            let site = || Site {
                node,
                scopes: scopes.iter().rev().take(MAX_SCOPES).map(|s| s.1).collect(),
                function: scopes.iter().rev().find_map(|s| s.2.clone()),
                up: path.iter().rev().take(2 * usize::from(MAX_DEPTH)).copied().collect(),
            };
            match kind {
                "import_statement" | "import_from_statement" if self.family == CodeLanguage::Python => {
                    self.python_import(node);
                }
                "import_statement" => self.js_import(node),
                "assignment" | "variable_declarator" | "assignment_expression" | "as_pattern" => {
                    let s = site();
                    self.assignment(node, &s.scopes);
                }
                "call" | "call_expression" | "new_expression" => {
                    if let Some((callee, _)) = call_parts(node)
                        && callee.kind() == "identifier"
                    {
                        self.calls_by_name.entry(self.text(callee).to_string()).or_default().push(node);
                    }
                    sites.calls.push(site());
                }
                "decorated_definition" => sites.decorated.push(site()),
                "class_definition" | "class_declaration" | "class" => sites.classes.push(site()),
                _ => {}
            }
            if is_function(kind) {
                let name = self.function_name(node, path.last().copied());
                if let Some(name) = &name {
                    self.record_params(node, name);
                }
                scopes.push((depth, node.id(), name));
            }
            path.push(node);
            if cursor.goto_first_child() {
                depth += 1;
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return sites;
                }
                depth = depth.saturating_sub(1);
            }
        }
    }

    fn record_params(&mut self, function: Node<'_>, name: &str) {
        let Some(list) = function.child_by_field_name("parameters") else { return };
        let mut index = 0usize;
        for param in named_children(list) {
            // `self` is not passed positionally; `*args`, `**kw` end the positions.
            let ident = match param.kind() {
                "identifier" => Some(param),
                "typed_parameter" => named_children(param).into_iter().find(|n| n.kind() == "identifier"),
                "default_parameter" | "typed_default_parameter" | "assignment_pattern" => {
                    param.child_by_field_name("name").or_else(|| param.child_by_field_name("left"))
                }
                "required_parameter" | "optional_parameter" => param.child_by_field_name("pattern"),
                _ => None,
            };
            let Some(ident) = ident.filter(|i| i.kind() == "identifier") else { continue };
            let text = self.text(ident);
            if text == "self" || text == "cls" {
                continue;
            }
            self.params.entry(text.to_string()).or_default().push((name.to_string(), index));
            index += 1;
        }
    }

    /// The arguments passed, by calls in this file, to a parameter of this name.
    fn passed_to(&self, param: &str) -> Vec<Node<'a>> {
        let mut out = Vec::new();
        for (function, index) in self.params.get(param).into_iter().flatten() {
            for call in self.calls_by_name.get(function).into_iter().flatten() {
                if let Some((_, Some(args))) = call_parts(*call) {
                    out.extend(self.positional(args).get(*index).copied());
                }
            }
        }
        out
    }

    fn function_name(&self, node: Node<'_>, parent: Option<Node<'_>>) -> Option<String> {
        if let Some(name) = node.child_by_field_name("name") {
            return Some(self.text(name).to_string());
        }
        // `const run = async () => …`: the arrow function is named by its variable or key.
        let parent = parent?;
        match parent.kind() {
            "variable_declarator" => parent.child_by_field_name("name").map(|n| self.text(n).to_string()),
            "pair" => parent.child_by_field_name("key").map(|n| self.plain_key(n)),
            _ => None,
        }
    }

    fn python_import(&mut self, node: Node<'_>) {
        let module = node.child_by_field_name("module_name").map(|m| self.text(m).to_string());
        let mut cursor = node.walk();
        let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let (dotted, alias) = if name.kind() == "aliased_import" {
                let dotted = name.child_by_field_name("name").map(|n| self.text(n)).unwrap_or("");
                (dotted, name.child_by_field_name("alias").map(|n| self.text(n)))
            } else {
                (self.text(name), None)
            };
            if dotted.is_empty() {
                continue;
            }
            match &module {
                Some(module) => {
                    // `from .x import y` is the project's own code: never a framework.
                    if module.starts_with('.') {
                        continue;
                    }
                    let local = alias.unwrap_or(dotted);
                    let import = match alias {
                        Some(a) => format!("from {module} import {dotted} as {a}"),
                        None => format!("from {module} import {dotted}"),
                    };
                    self.imports.insert(local.to_string(), Binding { target: format!("{module}.{dotted}"), import });
                }
                None => match alias {
                    Some(a) => {
                        let import = format!("import {dotted} as {a}");
                        self.imports.insert(a.to_string(), Binding { target: dotted.to_string(), import });
                    }
                    None => {
                        // `import a.b.c` binds `a`; `a.b.c.X` then resolves through it.
                        let top = dotted.split('.').next().unwrap_or(dotted);
                        let import = format!("import {dotted}");
                        self.imports.entry(top.to_string()).or_insert(Binding { target: top.to_string(), import });
                    }
                },
            }
        }
    }

    fn js_import(&mut self, node: Node<'_>) {
        let Some(source) = node.child_by_field_name("source").and_then(|s| self.literal(s)) else { return };
        for clause in named_children(node) {
            if clause.kind() != "import_clause" {
                continue;
            }
            for part in named_children(clause) {
                match part.kind() {
                    "identifier" => {
                        let local = self.text(part);
                        let import = format!("import {local} from \"{source}\"");
                        self.imports.insert(local.into(), Binding { target: format!("{source}.default"), import });
                    }
                    "namespace_import" => {
                        if let Some(id) = named_children(part).into_iter().find(|n| n.kind() == "identifier") {
                            let local = self.text(id);
                            let import = format!("import * as {local} from \"{source}\"");
                            self.imports.insert(local.into(), Binding { target: source.clone(), import });
                        }
                    }
                    "named_imports" => {
                        for spec in named_children(part) {
                            let Some(name) = spec.child_by_field_name("name") else { continue };
                            let name = self.plain_key(name);
                            let alias = spec.child_by_field_name("alias").map(|a| self.text(a));
                            let local = alias.unwrap_or(&name).to_string();
                            let import = match alias {
                                Some(a) => format!("import {{ {name} as {a} }} from \"{source}\""),
                                None => format!("import {{ {name} }} from \"{source}\""),
                            };
                            self.imports.insert(local, Binding { target: format!("{source}.{name}"), import });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// `const x = require("m")`, `const { A, B: C } = require("m")`.
    fn js_require(&mut self, pattern: Node<'_>, value: Node<'_>) -> bool {
        let value = self.unwrap(value);
        let Some((callee, Some(args))) = call_parts(value) else { return false };
        if self.text(callee) != "require" {
            return false;
        }
        let Some(source) = named_children(args).first().and_then(|a| self.literal(*a)) else { return false };
        match pattern.kind() {
            "identifier" => {
                let local = self.text(pattern);
                let import = format!("const {local} = require(\"{source}\")");
                self.imports.insert(local.into(), Binding { target: source, import });
            }
            "object_pattern" => {
                for prop in named_children(pattern) {
                    let (name, local) = match prop.kind() {
                        "shorthand_property_identifier_pattern" => (self.text(prop).to_string(), self.text(prop)),
                        "pair_pattern" => {
                            let (Some(k), Some(v)) =
                                (prop.child_by_field_name("key"), prop.child_by_field_name("value"))
                            else {
                                continue;
                            };
                            (self.plain_key(k), self.text(v))
                        }
                        _ => continue,
                    };
                    let import = if name == local {
                        format!("const {{ {name} }} = require(\"{source}\")")
                    } else {
                        format!("const {{ {name}: {local} }} = require(\"{source}\")")
                    };
                    self.imports.insert(local.into(), Binding { target: format!("{source}.{name}"), import });
                }
            }
            _ => {}
        }
        true
    }

    fn assignment(&mut self, node: Node<'a>, scopes: &[usize]) {
        let (left, right) = match node.kind() {
            "variable_declarator" => (node.child_by_field_name("name"), node.child_by_field_name("value")),
            "as_pattern" => (node.child_by_field_name("alias"), named_children(node).first().copied()),
            _ => (node.child_by_field_name("left"), node.child_by_field_name("right")),
        };
        let (Some(left), Some(right)) = (left, right) else { return };
        if self.family == CodeLanguage::Javascript && self.js_require(left, right) {
            return;
        }
        let left = if left.kind() == "as_pattern_target" { named_children(left).first().copied() } else { Some(left) };
        let Some(left) = left else { return };
        let name = self.text(left);
        match left.kind() {
            "identifier" => {
                let scope = scopes.first().copied().unwrap_or(0);
                self.values.insert((scope, name.to_string()), right);
            }
            "attribute" | "member_expression" => {
                self.values.insert((0, name.to_string()), right);
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------------ values

    fn value(&self, name: &str, scopes: &[usize]) -> Option<Node<'a>> {
        scopes.iter().chain(std::iter::once(&0)).find_map(|scope| self.values.get(&(*scope, name.to_string())).copied())
    }

    fn unwrap<'t>(&self, mut node: Node<'t>) -> Node<'t> {
        for _ in 0..MAX_DEPTH {
            if !is_transparent(node.kind()) {
                break;
            }
            match named_children(node).into_iter().next() {
                Some(inner) => node = inner,
                None => break,
            }
        }
        node
    }

    /// Follows an identifier (or `self.x`) to the expression assigned to it, if any.
    fn deref(&self, node: Node<'a>, scopes: &[usize]) -> Node<'a> {
        let mut node = self.unwrap(node);
        for _ in 0..MAX_DEPTH {
            let next = match node.kind() {
                "identifier" if !self.imports.contains_key(self.text(node)) => self.value(self.text(node), scopes),
                "attribute" | "member_expression" => self.values.get(&(0, self.text(node).to_string())).copied(),
                _ => None,
            };
            match next {
                Some(next) if next.id() != node.id() => node = self.unwrap(next),
                _ => break,
            }
        }
        node
    }

    /// The text of a string literal without quotes; `None` for an interpolated string.
    fn literal(&self, node: Node<'_>) -> Option<String> {
        let text = self.text(node);
        match node.kind() {
            "string" => {
                if named_children(node).iter().any(|c| c.kind() == "interpolation") {
                    return None;
                }
                let body = text.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                let body = ["\"\"\"", "'''", "\"", "'"]
                    .iter()
                    .find_map(|q| body.strip_prefix(q).and_then(|b| b.strip_suffix(q)))?;
                Some(body.to_string())
            }
            "template_string" => {
                if named_children(node).iter().any(|c| c.kind() == "template_substitution") {
                    return None;
                }
                Some(text.strip_prefix('`')?.strip_suffix('`')?.to_string())
            }
            _ => None,
        }
    }

    /// A string the code states for a value: a literal, a constant it names, or the key of a
    /// subscript (`self.agents_config["researcher"]` → `researcher`).
    fn string(&self, node: Node<'a>, scopes: &[usize]) -> Option<String> {
        let node = self.deref(node, scopes);
        match node.kind() {
            k if is_string(k) => self.literal(node),
            "subscript" | "subscript_expression" => {
                let index = node.child_by_field_name("subscript").or_else(|| node.child_by_field_name("index"))?;
                self.literal(self.unwrap(index))
            }
            _ => None,
        }
    }

    /// A map key as written: `name`, `"name"`, `'name'`.
    fn plain_key(&self, node: Node<'_>) -> String {
        self.literal(node).unwrap_or_else(|| self.text(node).to_string())
    }

    // ------------------------------------------------------------------ arguments

    /// Positional arguments, and keyword arguments or (JS) the properties of object arguments.
    fn positional(&self, args: Node<'a>) -> Vec<Node<'a>> {
        named_children(args)
            .into_iter()
            .filter(|n| !matches!(n.kind(), "keyword_argument" | "list_splat" | "dictionary_splat"))
            .collect()
    }

    /// The value of member `key` of a map, a call's keyword arguments, or a JS call's object
    /// argument. `#i` is the i-th positional argument of a call.
    fn member(&self, node: Node<'a>, key: &str, scopes: &[usize]) -> Option<Node<'a>> {
        let node = self.deref(node, scopes);
        if let Some(index) = key.strip_prefix('#') {
            let index: usize = index.parse().ok()?;
            let (_, args) = call_parts(node)?;
            return self.positional(args?).get(index).copied();
        }
        if is_map(node.kind()) {
            return self.map_member(node, key);
        }
        let (_, args) = call_parts(node)?;
        let args = args?;
        for arg in named_children(args) {
            match arg.kind() {
                "keyword_argument" if arg.child_by_field_name("name").is_some_and(|n| self.text(n) == key) => {
                    return arg.child_by_field_name("value");
                }
                "object" => {
                    if let Some(v) = self.map_member(arg, key) {
                        return Some(v);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn map_member(&self, map: Node<'a>, key: &str) -> Option<Node<'a>> {
        for entry in named_children(map) {
            match entry.kind() {
                "pair" => {
                    let k = entry.child_by_field_name("key")?;
                    if self.plain_key(k) == key {
                        return entry.child_by_field_name("value");
                    }
                }
                "shorthand_property_identifier" if self.text(entry) == key => return Some(entry),
                _ => {}
            }
        }
        None
    }

    /// The value at a catalogue argument path (`tools`, `#0`, `options.mcp_servers`).
    fn arg(&self, call: Node<'a>, spec: &str, scopes: &[usize]) -> Option<Node<'a>> {
        let mut parts = spec.split('.');
        let mut node = self.member(call, parts.next()?, scopes)?;
        for part in parts {
            node = self.member(node, part, scopes)?;
        }
        Some(node)
    }

    fn map_entries(&self, map: Node<'a>) -> Vec<(Option<String>, Node<'a>)> {
        named_children(map)
            .into_iter()
            .filter_map(|entry| match entry.kind() {
                "pair" => {
                    let key = entry.child_by_field_name("key").map(|k| self.plain_key(k));
                    Some((key, entry.child_by_field_name("value")?))
                }
                "shorthand_property_identifier" => Some((None, entry)),
                "spread_element" | "dictionary_splat" => Some((None, entry)),
                _ => None,
            })
            .collect()
    }

    // ------------------------------------------------------------------ resolution

    fn resolve(&self, node: Node<'a>, scopes: &[usize], depth: u8) -> Option<Resolved> {
        if depth == 0 {
            return None;
        }
        let node = self.unwrap(node);
        match node.kind() {
            "identifier" | "property_identifier" => {
                let name = self.text(node);
                if let Some(b) = self.imports.get(name) {
                    return Some(Resolved { full: b.target.clone(), import: b.import.clone() });
                }
                let value = self.value(name, scopes)?;
                if value.id() == node.id() {
                    return None;
                }
                self.resolve(value, scopes, depth - 1)
            }
            "attribute" | "member_expression" => {
                if let Some(value) = self.values.get(&(0, self.text(node).to_string())) {
                    return self.resolve(*value, scopes, depth - 1);
                }
                let object = node.child_by_field_name("object")?;
                let member = node.child_by_field_name("attribute").or_else(|| node.child_by_field_name("property"))?;
                let base = self.resolve(object, scopes, depth - 1)?;
                Some(Resolved { full: format!("{}.{}", base.full, self.text(member)), import: base.import })
            }
            k if is_call(k) => {
                let (callee, _) = call_parts(node)?;
                let base = self.resolve(callee, scopes, depth - 1)?;
                Some(Resolved { full: format!("{}()", base.full), import: base.import })
            }
            _ => None,
        }
    }

    fn find_symbol(&self, full: &str, kind: SiteKind) -> Option<(&'a Framework, &'a Symbol)> {
        for fw in self.fws.frameworks.iter().filter(|f| f.language == self.family) {
            for sym in &fw.symbol {
                let patterns = match kind {
                    SiteKind::Call => &sym.call,
                    SiteKind::Decorator => &sym.decorator,
                    SiteKind::Subclass => &sym.subclass,
                };
                let modules = sym.modules.as_ref().unwrap_or(&fw.modules);
                for pattern in patterns {
                    let Some(prefix) = full.strip_suffix(pattern.as_str()) else { continue };
                    let Some(prefix) = prefix.strip_suffix(['.', '/']) else { continue };
                    if modules.iter().any(|m| within(prefix, m)) {
                        return Some((fw, sym));
                    }
                }
            }
        }
        None
    }

    // ------------------------------------------------------------------ pass 2: match

    fn matches(&self, sites: &Sites<'a>) -> Vec<Match<'a, 'a>> {
        let mut out = Vec::new();
        for site in &sites.calls {
            let Some((callee, _)) = call_parts(site.node) else { continue };
            // A decorator call is read with its decorated definition.
            if site.up.first().is_some_and(|p| p.kind() == "decorator") {
                continue;
            }
            let Some(resolved) = self.resolve(callee, &site.scopes, MAX_DEPTH) else { continue };
            let Some((fw, sym)) = self.find_symbol(&resolved.full, SiteKind::Call) else { continue };
            out.push(Match {
                fw,
                sym,
                kind: SiteKind::Call,
                site: site.clone(),
                target: callee,
                call: Some(site.node),
                resolved,
                defined: None,
            });
        }
        for site in &sites.decorated {
            let Some(def) = site.node.child_by_field_name("definition") else { continue };
            let defined = def.child_by_field_name("name").map(|n| self.text(n).to_string());
            for decorator in named_children(site.node).into_iter().filter(|n| n.kind() == "decorator") {
                let Some(expr) = named_children(decorator).into_iter().next() else { continue };
                let (target, call) = match call_parts(expr) {
                    Some((callee, _)) => (callee, Some(expr)),
                    None => (expr, None),
                };
                let Some(resolved) = self.resolve(target, &site.scopes, MAX_DEPTH) else { continue };
                let Some((fw, sym)) = self.find_symbol(&resolved.full, SiteKind::Decorator) else { continue };
                out.push(Match {
                    fw,
                    sym,
                    kind: SiteKind::Decorator,
                    site: site.clone(),
                    target,
                    call,
                    resolved,
                    defined: defined.clone(),
                });
            }
        }
        for site in &sites.classes {
            let defined = site.node.child_by_field_name("name").map(|n| self.text(n).to_string());
            for base in self.bases(site.node) {
                let Some(resolved) = self.resolve(base, &site.scopes, MAX_DEPTH) else { continue };
                let Some((fw, sym)) = self.find_symbol(&resolved.full, SiteKind::Subclass) else { continue };
                out.push(Match {
                    fw,
                    sym,
                    kind: SiteKind::Subclass,
                    site: site.clone(),
                    target: base,
                    call: None,
                    resolved,
                    defined: defined.clone(),
                });
                break;
            }
        }
        out
    }

    fn bases(&self, class: Node<'a>) -> Vec<Node<'a>> {
        if let Some(list) = class.child_by_field_name("superclasses") {
            return self.positional(list);
        }
        let Some(heritage) = named_children(class).into_iter().find(|n| n.kind() == "class_heritage") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for part in named_children(heritage) {
            if part.kind() == "extends_clause" {
                out.extend(part.child_by_field_name("value"));
            } else if part.kind() != "implements_clause" {
                out.push(part);
            }
        }
        out
    }

    // ------------------------------------------------------------------ pass 3: read

    /// The variable, attribute or map key a call's value is bound to.
    fn bound_name(&self, site: &Site<'a>) -> Option<String> {
        let mut child = site.node;
        let mut ancestors = site.up.iter().copied();
        let mut parent = ancestors.next()?;
        while is_transparent(parent.kind()) {
            child = parent;
            parent = ancestors.next()?;
        }
        let left = match parent.kind() {
            "assignment" | "assignment_expression" => {
                if parent.child_by_field_name("right")?.id() != child.id() {
                    return None;
                }
                parent.child_by_field_name("left")?
            }
            "variable_declarator" => parent.child_by_field_name("name")?,
            "as_pattern" => {
                let target = parent.child_by_field_name("alias")?;
                named_children(target).into_iter().next().unwrap_or(target)
            }
            "pair" => return parent.child_by_field_name("key").map(|k| self.plain_key(k)),
            _ => return None,
        };
        matches!(left.kind(), "identifier" | "attribute" | "member_expression").then(|| self.text(left).to_string())
    }

    fn short(name: &str) -> String {
        name.rsplit('.').next().unwrap_or(name).to_string()
    }

    fn file_stem(&self) -> String {
        self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn first_string(&self, call: Node<'a>, specs: &[String], scopes: &[usize]) -> Option<String> {
        specs.iter().find_map(|spec| self.arg(call, spec, scopes).and_then(|v| self.string(v, scopes)))
    }

    /// Model names stated by an expression: a literal, a constant, a provider call
    /// (`openai("gpt-4o")`), a model object (`ChatOpenAI(model=…)`) or a config map.
    fn models(&self, node: Node<'a>, scopes: &[usize], depth: u8, out: &mut Vec<String>) {
        if depth == 0 || !self.spend() {
            return;
        }
        let node = self.deref(node, scopes);
        let kind = node.kind();
        if let Some(s) = self.string(node, scopes) {
            push_unique(out, s);
        } else if is_call(kind) {
            let before = out.len();
            for key in MODEL_KEYS {
                if let Some(v) = self.member(node, key, scopes) {
                    self.models(v, scopes, depth - 1, out);
                }
            }
            let env = call_parts(node).is_some_and(|(c, _)| self.text(c).to_ascii_lowercase().contains("env"));
            if out.len() == before
                && !env
                && let Some(first) =
                    call_parts(node).and_then(|(_, a)| a).and_then(|a| self.positional(a).first().copied())
                && let Some(s) = self.string(first, scopes)
            {
                push_unique(out, s);
            }
        } else if is_map(kind) {
            let entries = self.map_entries(node);
            let keyed: Vec<_> =
                entries.iter().filter(|(k, _)| k.as_deref().is_some_and(|k| MODEL_KEYS.contains(&k))).collect();
            if keyed.is_empty() {
                for (_, v) in &entries {
                    if is_map(v.kind()) || is_list(v.kind()) {
                        self.models(*v, scopes, depth - 1, out);
                    }
                }
            } else {
                for (_, v) in keyed {
                    self.models(*v, scopes, depth - 1, out);
                }
            }
        } else if is_list(kind) {
            for item in named_children(node) {
                self.models(item, scopes, depth - 1, out);
            }
        }
    }

    /// How an MCP server is reached, as a call or map states it: its URL, else its command line.
    fn server_of(&self, node: Node<'a>, scopes: &[usize]) -> Option<String> {
        let node = self.deref(node, scopes);
        if !(is_call(node.kind()) || is_map(node.kind())) {
            return None;
        }
        for key in URL_KEYS {
            if let Some(url) = self.member(node, key, scopes).and_then(|v| self.string_or_url(v, scopes)) {
                return Some(url);
            }
        }
        for key in COMMAND_KEYS {
            if let Some(command) = self.member(node, key, scopes).and_then(|v| self.string(v, scopes)) {
                return Some(self.with_args(command, node, scopes));
            }
        }
        None
    }

    /// A string, or the string inside `new URL("…")`.
    fn string_or_url(&self, node: Node<'a>, scopes: &[usize]) -> Option<String> {
        let node = self.deref(node, scopes);
        self.string(node, scopes).or_else(|| {
            let (_, args) = call_parts(node)?;
            let first = self.positional(args?).into_iter().next()?;
            self.string(first, scopes)
        })
    }

    fn with_args(&self, command: String, holder: Node<'a>, scopes: &[usize]) -> String {
        let Some(args) = self.member(holder, "args", scopes).map(|a| self.deref(a, scopes)) else { return command };
        if !is_list(args.kind()) {
            return command;
        }
        let mut line = command;
        for arg in named_children(args) {
            if let Some(s) = self.string(arg, scopes) {
                line.push(' ');
                line.push_str(&s);
            }
        }
        line
    }

    /// The servers an MCP client construction names, trying its `mcp` arguments in order.
    fn client_servers(&self, m: &Match<'a, 'a>) -> Vec<String> {
        let Some(call) = m.call else { return Vec::new() };
        let scopes = &m.site.scopes;
        if let Some(server) = self.server_of(call, scopes) {
            return vec![server];
        }
        for spec in &m.sym.mcp {
            let Some(value) = self.arg(call, spec, scopes) else { continue };
            let mut out = Vec::new();
            self.describe(value, scopes, MAX_DEPTH, &mut out);
            if !out.is_empty() {
                // `MCPServerStdio("uv", args=[…])`: a positional command with its arguments.
                if spec.starts_with('#') && out.len() == 1 && is_string(self.deref(value, scopes).kind()) {
                    let command = out.remove(0);
                    return vec![self.with_args(command, call, scopes)];
                }
                return out;
            }
        }
        Vec::new()
    }

    /// Servers named by an expression: a server map (its keys), a server definition, a string,
    /// or a call or lambda that wraps one.
    fn describe(&self, node: Node<'a>, scopes: &[usize], depth: u8, out: &mut Vec<String>) {
        if depth == 0 || !self.spend() {
            return;
        }
        let node = self.deref(node, scopes);
        let kind = node.kind();
        if let Some(server) = self.server_of(node, scopes) {
            push_unique(out, server);
        } else if let Some(s) = self.string(node, scopes) {
            push_unique(out, s);
        } else if is_map(kind) {
            for (key, _) in self.map_entries(node) {
                push_unique(out, key.unwrap_or_default());
            }
        } else if is_list(kind) {
            for item in named_children(node) {
                self.describe(item, scopes, depth - 1, out);
            }
        } else if matches!(kind, "lambda" | "arrow_function") {
            if let Some(body) = node.child_by_field_name("body") {
                self.describe(body, scopes, depth - 1, out);
            }
        } else if is_call(kind) {
            let Some((_, Some(args))) = call_parts(node) else { return };
            for arg in named_children(args) {
                let value = if arg.kind() == "keyword_argument" { arg.child_by_field_name("value") } else { Some(arg) };
                if let Some(value) = value {
                    let before = out.len();
                    self.describe(value, scopes, depth - 1, out);
                    if out.len() > before {
                        return;
                    }
                }
            }
        }
    }

    /// The MCP client handles an expression reaches, directly or through the variables it names.
    fn handles_in(&self, node: Node<'a>, scopes: &[usize], handles: &[Handle]) -> Vec<usize> {
        let mut found = Vec::new();
        let mut stack = vec![(node, MAX_DEPTH)];
        let mut visited = 0usize;
        while let Some((node, depth)) = stack.pop() {
            visited += 1;
            if visited > MAX_VISIT {
                break;
            }
            if let Some(i) = handles.iter().position(|h| h.node == node.id()) {
                if !found.contains(&i) {
                    found.push(i);
                }
                continue;
            }
            let kind = node.kind();
            if matches!(kind, "identifier" | "attribute" | "member_expression") {
                let text = self.text(node);
                if let Some(i) = handles.iter().position(|h| h.var.as_deref() == Some(text)) {
                    if !found.contains(&i) {
                        found.push(i);
                    }
                    continue;
                }
                if depth > 0 {
                    let target = self.deref(node, scopes);
                    if target.id() != node.id() {
                        stack.push((target, depth - 1));
                    } else if kind == "identifier" {
                        for passed in self.passed_to(text) {
                            stack.push((passed, depth - 1));
                        }
                    }
                }
            }
            if matches!(kind, "lambda" | "arrow_function" | "function_definition" | "function_declaration") {
                continue;
            }
            for child in named_children(node) {
                stack.push((child, depth));
            }
        }
        // Handles are in source order; the stack visits in reverse.
        found.sort_unstable();
        found
    }

    /// Tool names stated by a `tools` argument, and the MCP clients it draws tools from.
    fn tools(
        &self,
        node: Node<'a>,
        scopes: &[usize],
        ctx: &ReadCtx<'_>,
        depth: u8,
        out: &mut Vec<String>,
        used: &mut Vec<usize>,
    ) {
        if depth == 0 || !self.spend() {
            return;
        }
        let reached = self.handles_in(node, scopes, ctx.handles);
        if !reached.is_empty() {
            for i in reached {
                if !used.contains(&i) {
                    used.push(i);
                }
            }
            // A list may mix MCP tools and named tools: read its other elements below.
            if !is_list(self.unwrap(node).kind()) && !is_map(self.unwrap(node).kind()) {
                return;
            }
        }
        let target = self.deref(node, scopes);
        let kind = target.kind();
        if is_list(kind) {
            for item in named_children(target) {
                self.tool_item(item, scopes, ctx, depth - 1, out, used);
            }
        } else if is_map(kind) {
            for (key, value) in self.map_entries(target) {
                match key {
                    Some(key) => push_unique(out, key),
                    None => self.tool_item(value, scopes, ctx, depth - 1, out, used),
                }
            }
        } else if matches!(kind, "binary_operator" | "binary_expression") {
            for side in ["left", "right"] {
                if let Some(side) = target.child_by_field_name(side) {
                    self.tools(side, scopes, ctx, depth - 1, out, used);
                }
            }
        }
    }

    fn tool_item(
        &self,
        item: Node<'a>,
        scopes: &[usize],
        ctx: &ReadCtx<'_>,
        depth: u8,
        out: &mut Vec<String>,
        used: &mut Vec<usize>,
    ) {
        if depth == 0 || !self.spend() {
            return;
        }
        let item = self.unwrap(item);
        let reached = self.handles_in(item, scopes, ctx.handles);
        if !reached.is_empty() {
            for i in reached {
                if !used.contains(&i) {
                    used.push(i);
                }
            }
            return;
        }
        match item.kind() {
            "list_splat" | "spread_element" | "dictionary_splat" => {
                if let Some(inner) = named_children(item).into_iter().next() {
                    self.tools(inner, scopes, ctx, depth - 1, out, used);
                }
            }
            "identifier" | "shorthand_property_identifier" => {
                let name = self.text(item);
                if let Some(stated) = ctx.tool_names.get(name) {
                    push_unique(out, stated.clone());
                    return;
                }
                let target = self.deref(item, scopes);
                if is_list(target.kind()) && target.id() != item.id() {
                    self.tools(target, scopes, ctx, depth - 1, out, used);
                } else {
                    // A tool object that states its own id or name (`AgentSkill(id=…)`) is
                    // known by it; any other is known by the variable that holds it.
                    let stated = if is_call(target.kind()) { self.stated_id(target, scopes) } else { None };
                    push_unique(out, stated.unwrap_or_else(|| name.to_string()));
                }
            }
            "attribute" | "member_expression" => push_unique(out, self.text(item).to_string()),
            k if is_string(k) => push_unique(out, self.literal(item).unwrap_or_default()),
            k if is_map(k) => {
                let name = self
                    .member(item, "name", scopes)
                    .or_else(|| self.member(item, "function", scopes).and_then(|f| self.member(f, "name", scopes)))
                    .or_else(|| self.member(item, "type", scopes))
                    .and_then(|v| self.string(v, scopes));
                push_unique(out, name.unwrap_or_default());
            }
            k if is_call(k) => {
                if let Some(name) = self.stated_id(item, scopes) {
                    push_unique(out, name);
                    return;
                }
                let by_fn = ["fn", "func", "function", "#0"]
                    .iter()
                    .filter_map(|k| self.member(item, k, scopes))
                    .find(|v| v.kind() == "identifier")
                    .map(|v| self.text(v).to_string());
                let name = by_fn.or_else(|| {
                    let (callee, _) = call_parts(item)?;
                    let text = self.text(callee);
                    Some(text.split('.').next().unwrap_or(text).to_string())
                });
                push_unique(out, name.unwrap_or_default());
            }
            _ => {}
        }
    }

    fn stated_id(&self, call: Node<'a>, scopes: &[usize]) -> Option<String> {
        ["id", "name"].iter().find_map(|k| self.member(call, k, scopes).and_then(|v| self.string(v, scopes)))
    }

    fn findings(&self, sites: &Sites<'a>) -> Vec<AgentFinding> {
        let matches = self.matches(sites);
        let language = self.lang.name();

        // Tools defined for agents to name, and tools attached to a server or agent variable.
        let mut tool_names: HashMap<String, String> = HashMap::new();
        let mut attached: Vec<(String, String)> = Vec::new();
        let mut handles: Vec<Handle> = Vec::new();
        for m in &matches {
            self.budget.set(MAX_VISIT);
            let scopes = &m.site.scopes;
            let stated = m.call.and_then(|c| self.first_string(c, &m.sym.name, scopes));
            match (m.sym.kind, m.kind) {
                (SymbolKind::Tool, SiteKind::Decorator) => {
                    let Some(defined) = m.defined.clone() else { continue };
                    let name = stated.unwrap_or_else(|| defined.clone());
                    if m.sym.attach {
                        attached.push((self.receiver(m.target), name));
                    } else {
                        tool_names.insert(defined, name);
                    }
                }
                (SymbolKind::Tool, _) => {
                    if m.sym.attach {
                        if let Some(name) = stated {
                            attached.push((self.receiver(m.target), name));
                        }
                    } else if let (Some(var), Some(name)) = (self.bound_name(&m.site), stated) {
                        tool_names.insert(var, name);
                    }
                }
                (SymbolKind::McpClient, SiteKind::Call) => {
                    let Some(call) = m.call else { continue };
                    let servers = self.client_servers(m);
                    let var = self.bound_name(&m.site);
                    let name = var
                        .as_deref()
                        .map(Self::short)
                        .or_else(|| m.site.function.clone())
                        .unwrap_or_else(|| self.file_stem());
                    let finding = self.finding(m, AgentKind::McpClient, name, language);
                    let up = m.site.up.iter().map(|n| n.id()).collect();
                    handles.push(Handle { var, node: call.id(), up, servers, finding });
                }
                _ => {}
            }
        }

        // An MCP client built inside another's arguments (`MCPClient(lambda: stdio_client(…))`)
        // is part of it, not a client of its own.
        let outer: HashSet<usize> = handles.iter().map(|h| h.node).collect();
        handles.retain(|h| !h.up.iter().any(|n| outer.contains(n)));
        let ctx = ReadCtx { tool_names: &tool_names, handles: &handles };
        let mut out = Vec::new();
        let mut used_all: HashSet<usize> = HashSet::new();
        for m in &matches {
            self.budget.set(MAX_VISIT);
            let kind = match m.sym.kind {
                SymbolKind::Tool | SymbolKind::McpClient => continue,
                SymbolKind::Agent => AgentKind::Agent,
                SymbolKind::McpServer => AgentKind::McpServer,
                SymbolKind::AgentProxy => AgentKind::AgentProxy,
                SymbolKind::LlmClient => AgentKind::LlmClient,
            };
            if m.kind == SiteKind::Decorator {
                continue;
            }
            let scopes = &m.site.scopes;
            let mut models = Vec::new();
            let mut tools = Vec::new();
            let mut servers = Vec::new();
            let mut used = Vec::new();
            let mut has_tools = false;
            let (name, var) = match (m.kind, m.call) {
                (SiteKind::Call, Some(call)) => {
                    for spec in &m.sym.model {
                        if let Some(v) = self.arg(call, spec, scopes) {
                            self.models(v, scopes, MAX_DEPTH, &mut models);
                        }
                    }
                    for spec in &m.sym.tools {
                        if let Some(v) = self.arg(call, spec, scopes) {
                            has_tools = true;
                            self.tools(v, scopes, &ctx, MAX_DEPTH, &mut tools, &mut used);
                        }
                    }
                    for spec in &m.sym.mcp {
                        if let Some(v) = self.arg(call, spec, scopes) {
                            let reached = self.handles_in(v, scopes, &handles);
                            if reached.is_empty() {
                                self.describe(v, scopes, MAX_DEPTH, &mut servers);
                            }
                            for i in reached {
                                if !used.contains(&i) {
                                    used.push(i);
                                }
                            }
                        }
                    }
                    let var = self.bound_name(&m.site);
                    let stated = self.first_string(call, &m.sym.name, scopes);
                    let fallback = match m.sym.name_from {
                        NameFrom::Variable => var.as_deref().map(Self::short).or_else(|| m.site.function.clone()),
                        NameFrom::Function => m.site.function.clone().or_else(|| var.as_deref().map(Self::short)),
                    };
                    (stated.or(fallback).unwrap_or_else(|| self.file_stem()), var)
                }
                _ => (m.defined.clone().unwrap_or_else(|| self.file_stem()), m.defined.clone()),
            };
            let kind = match m.sym.no_tools {
                Some(without) if !has_tools && !m.sym.tools.is_empty() => without,
                _ => kind,
            };
            if let Some(var) = &var {
                for (receiver, tool) in &attached {
                    if receiver == var {
                        push_unique(&mut tools, tool.clone());
                    }
                }
            }
            for i in &used {
                if let Some(h) = handles.get(*i) {
                    for s in &h.servers {
                        push_unique(&mut servers, s.clone());
                    }
                }
                used_all.insert(*i);
            }
            let mut finding = self.finding(m, kind, name, language);
            finding.models = models;
            finding.tools = tools;
            finding.mcp_servers = servers;
            out.push(finding);
        }
        // A client no agent in the file uses is a finding of its own.
        for (i, mut h) in handles.into_iter().enumerate() {
            if !used_all.contains(&i) {
                h.finding.mcp_servers = h.servers;
                out.push(h.finding);
            }
        }
        out.sort_by(|a, b| (a.location.line, &a.name).cmp(&(b.location.line, &b.name)));
        out
    }

    /// The variable a method call or decorator is made on: `server` in `server.tool(…)`.
    fn receiver(&self, target: Node<'a>) -> String {
        let mut node = self.unwrap(target);
        for _ in 0..MAX_DEPTH {
            match node.kind() {
                "attribute" | "member_expression" => match node.child_by_field_name("object") {
                    Some(object) if matches!(object.kind(), "identifier" | "this" | "self") => {
                        return self.text(object).to_string();
                    }
                    Some(object) => node = self.unwrap(object),
                    None => break,
                },
                _ => break,
            }
        }
        self.text(node).to_string()
    }

    fn finding(&self, m: &Match<'a, 'a>, kind: AgentKind, name: String, language: &str) -> AgentFinding {
        let line = line_of(m.site.node);
        let callee = quote_from(self.text(m.target));
        let what = match m.kind {
            SiteKind::Call if m.call.is_some_and(|c| c.kind() == "new_expression") => format!("new {callee}(…)"),
            SiteKind::Call => format!("{callee}(…)"),
            SiteKind::Decorator => format!("@{callee}"),
            SiteKind::Subclass => format!("class {}({callee})", m.defined.as_deref().unwrap_or("")),
        };
        AgentFinding {
            id: String::new(),
            kind,
            name,
            framework: m.fw.id.clone(),
            language: Some(language.to_string()),
            source: Source::Code,
            location: Location::line(self.path, line),
            models: Vec::new(),
            tools: Vec::new(),
            mcp_servers: Vec::new(),
            credential_refs: Vec::new(),
            evidence: format!("{}; {what} at line {line}", m.resolved.import),
        }
    }
}

struct ReadCtx<'h> {
    tool_names: &'h HashMap<String, String>,
    handles: &'h [Handle],
}
